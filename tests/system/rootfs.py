"""The bookworm image the system tests boot: built once with debootstrap, then reused.

The image lives outside the clone (``/var/cache/hueyd-tests`` unless ``HUEYD_TEST_CACHE``
says otherwise) and carries a stamp of what it was built from, so a changed package list
or set-up rebuilds it. A lock file keeps two runs from building at once; a run holds it
shared while its containers use the image, so nobody replaces the tree under them.
Containers never write to it: they boot with ``--volatile=overlay``.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CACHE_DIR = Path(os.environ.get("HUEYD_TEST_CACHE", "/var/cache/hueyd-tests"))
SUITE = "bookworm"
#: what the .deb needs at run time and what the scenario drives, so that installing the
#: .deb needs no network (containers run with a private network)
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "procps", "redis-server",
            "python3-redis", "python3-yaml", "python3-gevent", "python3-daemon", "logrotate",
            "python3-prometheus-client")
#: units that only slow a container's boot or make noise; masked in the image
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
                "e2scrub_all.timer", "fstrim.timer", "e2scrub_reap.service",
                "getty@tty1.service", "console-getty.service", "systemd-pstore.service",
                "systemd-networkd-wait-online.service")
#: bump when ``_prepare`` changes what it does to the tree
RECIPE = 1
BUILD_TIMEOUT = 900.0


class RootfsError(RuntimeError):
    """The image could not be built or locked; the message says where to look."""


def cache_key(suite: str = SUITE, packages: tuple[str, ...] = PACKAGES) -> str:
    """What the tree was built from: a change in any part means a rebuild."""
    recipe = {"recipe": RECIPE, "suite": suite, "packages": sorted(packages),
              "masked": sorted(MASKED_UNITS)}
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    return f"{suite}-{digest}"


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (``HUEYD_TEST_MIRROR`` overrides it)."""
    if os.environ.get("HUEYD_TEST_MIRROR"):
        return os.environ["HUEYD_TEST_MIRROR"]
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        for line in legacy.read_text(errors="replace").splitlines():
            words = line.split()
            if words[:1] == ["deb"] and "security" not in line:
                urls = [w for w in words if w.startswith(("http://", "https://"))]
                if urls:
                    return urls[0]
    return "http://deb.debian.org/debian"


def unmount_below(directory: Path) -> None:
    """Lazily unmount whatever an interrupted debootstrap left mounted under ``directory``."""
    root = os.path.realpath(directory)
    mounts = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            point = line.split()[4]
            if point == root or point.startswith(root + "/"):
                mounts.append(point)
    for point in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL, check=False)


def remove_tree(directory: Path) -> None:
    """Delete a tree without ever crossing into a mount below it (/proc, /dev)."""
    if directory.exists() or directory.is_symlink():
        unmount_below(directory)
        subprocess.run(["rm", "-rf", "--one-file-system", str(directory)], check=True)


class RootfsCache:
    """One cached image: ``with RootfsCache().use() as rootfs:`` builds it if needed."""

    def __init__(self, cache_dir: Path = CACHE_DIR, suite: str = SUITE,
                 packages: tuple[str, ...] = PACKAGES) -> None:
        self.cache_dir = Path(cache_dir)
        self.suite = suite
        self.packages = packages
        self.path = self.cache_dir / f"rootfs-{suite}"
        self.stamp = self.path / ".hueyd-tests-stamp"
        self.lock_path = self.cache_dir / f"rootfs-{suite}.lock"
        self.log_path = self.cache_dir / f"rootfs-{suite}.log"
        self.key = cache_key(suite, packages)

    def fresh(self) -> bool:
        try:
            return self.stamp.read_text().strip() == self.key
        except OSError:
            return False

    @contextmanager
    def use(self, lock_timeout: float = BUILD_TIMEOUT + 60) -> Iterator[Path]:
        """Yield the image's path, built and fresh, locked shared for as long as it is used."""
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            _flock(lock, fcntl.LOCK_SH, lock_timeout, self.lock_path)
            try:
                if not self.fresh():
                    fcntl.flock(lock, fcntl.LOCK_UN)
                    _flock(lock, fcntl.LOCK_EX, lock_timeout, self.lock_path)
                    if not self.fresh():  # nobody built it while we waited
                        self.build()
                    fcntl.flock(lock, fcntl.LOCK_SH)  # others may boot it, nobody rebuilds it
                yield self.path
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def build(self) -> None:
        """debootstrap into a temporary tree, prepare it, then move it into place."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        remove_tree(tmp)
        command = ["debootstrap", "--variant=minbase", "--include=" + ",".join(self.packages),
                   self.suite, str(tmp), host_mirror()]
        started = time.monotonic()
        with open(self.log_path, "w") as log:
            try:
                done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                done = None
        unmount_below(tmp)
        if done is None or done.returncode != 0:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])
            raise RootfsError(f"debootstrap failed (full log: {self.log_path}):\n{tail}")
        _prepare(tmp)
        (tmp / self.stamp.name).write_text(self.key + "\n")
        remove_tree(self.path)
        tmp.rename(self.path)
        with open(self.log_path, "a") as log:
            log.write(f"image {self.key} built in {time.monotonic() - started:.0f}s\n")


def _prepare(tree: Path) -> None:
    """Make a debootstrapped tree a clean container image that boots quickly."""
    (tree / "etc/machine-id").write_text("")  # empty: a fresh machine id on every boot
    for stale in ("var/lib/dbus/machine-id", "etc/hostname"):  # hostname := machine name
        (tree / stale).unlink(missing_ok=True)
    units = tree / "etc/systemd/system"
    units.mkdir(parents=True, exist_ok=True)
    default = units / "default.target"
    default.unlink(missing_ok=True)
    default.symlink_to("/lib/systemd/system/multi-user.target")
    for unit in MASKED_UNITS:
        link = units / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    for archive in (tree / "var/cache/apt/archives").glob("*.deb"):
        archive.unlink()


def _flock(handle, mode: int, timeout: float, path: Path) -> None:
    """flock with a deadline: another run may be building the image."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(handle, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise RootfsError(f"{path} stayed locked for {timeout:.0f}s "
                                  "(another test run is building or using the image)") from None
            time.sleep(0.5)
