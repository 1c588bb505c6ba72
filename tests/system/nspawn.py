"""Boot a real systemd in a throwaway container and drive it from the host.

The host's PID 1 need not be systemd: ``systemd-nspawn --register=no --keep-unit`` runs
without machined or D-Bus, so commands go in through ``nsenter`` into the namespaces of
the container's PID 1 (``machinectl``/``systemd-run -M`` would need a host systemd).
The container boots the cached image with ``--volatile=overlay`` (every write lands in
a tmpfs, the cache stays clean) and a private network (its redis-server on 6379 cannot
meet the host's). ``Container.stop()`` always leaves nothing behind: it powers the
machine off, kills what is left in the cgroups it created, and removes its files. A run
killed before its teardown (SIGKILL) leaves a container behind; the next run's
``reap_stale_containers()`` kills it, recognising it by the dead owner PID in its cgroup name.
"""
from __future__ import annotations

import io
import os
import shlex
import signal
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: a clean environment for commands inside: nothing of the host's leaks in
INSIDE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
              "LANG=C.UTF-8", "TERM=dumb", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0")
BOOT_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0


class ContainerError(AssertionError):
    """The container misbehaved (did not boot, a command failed or hung)."""


@dataclass
class Ran:
    """What a command inside the container did."""
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (f"`{shlex.join(self.argv)}` exited {self.returncode}\n"
                f"--- stdout ---\n{_tail(self.stdout)}\n--- stderr ---\n{_tail(self.stderr)}")


CGROUP_PREFIX = "hueyd-tests"


def cgroup_dirs(name: str, owner: int | None = None) -> list[Path]:
    """The host cgroups that hold one container: unified (v2) and, on a hybrid host,
    name=systemd. Their name carries the PID of the test run that made them (``owner``),
    so a later run can tell a leftover of a killed run from a container in use."""
    leaf = f"{CGROUP_PREFIX}.{owner or os.getpid()}.{name}"
    return [base / leaf for base in _cgroup_roots()]


def _cgroup_roots() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    if _fs_type(base) == "cgroup2fs":
        return [base]
    return [base / sub for sub in ("unified", "systemd") if (base / sub).is_dir()]


def reap_stale_containers() -> list[str]:
    """Kill what an earlier run left behind when it was killed before its teardown (its
    owner PID is gone): only in cgroups this harness named, nothing else. Returns names."""
    reaped = []
    for root in _cgroup_roots():
        for leaf in root.glob(f"{CGROUP_PREFIX}.*.*"):
            _, owner, name = leaf.name.split(".", 2)
            if not owner.isdigit() or Path(f"/proc/{owner}").exists():
                continue
            release(name, [leaf])
            for workdir in Path(tempfile.gettempdir()).glob(f"hueyd-nspawn-{name}-*"):
                subprocess.run(["rm", "-rf", "--one-file-system", str(workdir)], check=False)
            reaped.append(name)
    return sorted(set(reaped))


class Container:
    """One booted machine. ``with Container(rootfs, "name") as box: box.run("true")``."""

    def __init__(self, rootfs: Path, name: str, private_network: bool = True,
                 owner: int | None = None) -> None:
        self.rootfs = Path(rootfs)
        self.name = name
        self.private_network = private_network
        self.cgroups = cgroup_dirs(name, owner)
        self.workdir = Path(tempfile.mkdtemp(prefix=f"hueyd-nspawn-{name}-"))
        self.console_path = self.workdir / "console.log"
        self.proc: subprocess.Popen | None = None
        self.leader: int | None = None  # host PID of the container's PID 1
        self.boot_seconds: float | None = None
        self.console_tail = ""

    def __enter__(self) -> Container:
        try:
            self.boot()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- life cycle ------------------------------------------------------------------
    def nspawn_argv(self) -> list[str]:
        argv = ["systemd-nspawn", "--quiet", "-D", str(self.rootfs), "--boot",
                f"--machine={self.name}", "--register=no", "--keep-unit",
                "--volatile=overlay", "--console=read-only", "--link-journal=no"]
        if self.private_network:
            argv.append("--private-network")
        return argv

    def boot(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Start nspawn in cgroups of our own and wait until systemd is up."""
        for directory in self.cgroups:
            directory.mkdir(exist_ok=True)
        cgroups = self.cgroups

        def join_cgroups() -> None:  # runs in the child before exec: nspawn starts inside them
            for directory in cgroups:
                with open(directory / "cgroup.procs", "w") as procs:
                    procs.write(str(os.getpid()))

        started = time.monotonic()
        with open(self.console_path, "wb") as console:
            self.proc = subprocess.Popen(self.nspawn_argv(), stdin=subprocess.DEVNULL,
                                         stdout=console, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=join_cgroups)
        state = ""
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ContainerError(f"systemd-nspawn exited with {self.proc.returncode} during "
                                     f"boot:\n{self.console()}")
            if self.leader is None:
                self.leader = self._find_leader()
            if self.leader is not None:
                state = self.run("systemctl", "is-system-running", check=False,
                                 timeout=10).stdout.strip()
                if state in ("running", "degraded"):
                    self.boot_seconds = time.monotonic() - started
                    return
            time.sleep(0.2)
        raise ContainerError(f"container {self.name} not up after {timeout:.0f}s "
                             f"(is-system-running: {state!r}):\n{self.console()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Power off, kill leftovers in our cgroups only, remove our files. Idempotent."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)  # nspawn: orderly poweroff of the machine
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        finally:
            self.console_tail = self.console()
            self.leader = None
            release(self.name, self.cgroups, self.workdir)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def console(self, lines: int = 40) -> str:
        try:
            return _tail(self.console_path.read_text(errors="replace"), lines)
        except OSError:
            return self.console_tail

    # -- commands inside ---------------------------------------------------------------
    def run(self, *argv: str, input: str | bytes | None = None, check: bool = True,
            timeout: float = 120.0) -> Ran:
        """Run ``argv`` in every namespace of the container's PID 1 with a clean environment."""
        if self.leader is None or not self.alive():
            raise ContainerError(f"container {self.name} is not running:\n{self.console()}")
        command = ["nsenter", "-t", str(self.leader), "-a", "--", "/usr/bin/env", "-i",
                   *INSIDE_ENV, *argv]
        data = input.encode() if isinstance(input, str) else input
        child = subprocess.Popen(command, stdin=subprocess.PIPE if data is not None
                                 else subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, start_new_session=True)
        try:
            out, err = child.communicate(data, timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # our session: nsenter and what it started
            out, err = child.communicate()
            ran = Ran(list(argv), -9, out.decode(errors="replace"), err.decode(errors="replace"))
            raise ContainerError(f"timed out after {timeout}s: {ran.describe()}") from None
        ran = Ran(list(argv), child.returncode, out.decode(errors="replace"),
                  err.decode(errors="replace"))
        if check and ran.returncode != 0:
            raise ContainerError(ran.describe())
        return ran

    def sh(self, script: str, check: bool = True, timeout: float = 120.0) -> Ran:
        return self.run("/bin/sh", "-ec", script, check=check, timeout=timeout)

    def write_file(self, path: str, text: str, mode: str = "0644",
                   owner: str = "root:root") -> None:
        """Write ``path`` inside with ``text``. Its folder must exist: the tests start from
        what the package and the README's steps make, and a helper that made folders
        would hide a missing one (as it hid a package without /etc/hueyd/)."""
        self.run("/bin/sh", "-ec", 'umask 077; cat > "$1"; chown "$3" "$1"; chmod "$2" "$1"',
                 "sh", path, mode, owner, input=text)

    def copy_in(self, source: Path, dest_dir: str) -> str:
        """Copy a host file or folder into ``dest_dir`` inside; returns the new path."""
        source = Path(source)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(source, arcname=source.name,
                        filter=lambda info: None if "__pycache__" in info.name else info)
        self.run("/bin/sh", "-ec", 'mkdir -p "$1"; tar -x --no-same-owner -C "$1" -f -',
                 "sh", dest_dir, input=buffer.getvalue())
        return f"{dest_dir.rstrip('/')}/{source.name}"

    def show(self, unit: str, *props: str) -> dict[str, str]:
        """``systemctl show -p ...`` as a dict (the output's order is the unit's, not ours)."""
        out = self.run("systemctl", "show", unit, "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *args: str) -> str:
        return self.run("journalctl", "--no-pager", "-q", *args, check=False).stdout

    # -- internals ---------------------------------------------------------------------
    def _find_leader(self) -> int | None:
        """The child of nspawn that is PID 1 of its own PID namespace."""
        assert self.proc is not None
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            nspid = fields.get("NSpid", "").split()
            if fields.get("PPid", "").strip() == str(self.proc.pid) and nspid[-1:] == ["1"] \
                    and len(nspid) > 1:
                return int(entry.name)
        return None

def release(name: str, cgroups: list[Path], workdir: Path | None = None) -> None:
    """SIGKILL whatever is still in a container's cgroups (only processes its nspawn
    started), then remove the cgroups and the container's files."""
    try:
        deadline = time.monotonic() + 10
        while True:
            left = [pid for directory in cgroups for pid in _cgroup_pids(directory)]
            if not left:
                break
            if time.monotonic() >= deadline:
                raise ContainerError(f"processes left in {cgroups}: {left}")
            for directory in cgroups:
                if (directory / "cgroup.kill").exists():
                    (directory / "cgroup.kill").write_text("1")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.1)
    finally:
        for directory in cgroups:
            _rmdir_tree(directory)
        for own in (Path("/run/systemd/nspawn/propagate") / name, workdir):
            if own is not None:
                subprocess.run(["rm", "-rf", "--one-file-system", str(own)], check=False)


def _cgroup_pids(directory: Path) -> list[int]:
    pids: list[int] = []
    if directory.is_dir():
        for procs in directory.rglob("cgroup.procs"):
            try:
                pids += [int(p) for p in procs.read_text().split()]
            except OSError:
                pass
    return pids


def _rmdir_tree(directory: Path) -> None:
    """Remove an (empty) cgroup or directory tree, deepest first; cgroups refuse rm -r."""
    if not directory.is_dir():
        return
    for sub in sorted((p for p in directory.rglob("*") if p.is_dir() and not p.is_symlink()),
                      key=lambda p: len(p.parts), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass
    try:
        directory.rmdir()
    except OSError:
        pass


def _fs_type(path: Path) -> str:
    return subprocess.run(["stat", "-f", "-c", "%T", str(path)], capture_output=True,
                          text=True, check=False).stdout.strip()


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])
