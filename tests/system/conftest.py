"""Fixtures for the end-to-end tests: the cached image, one booted machine per module, the .deb.

These tests are skipped only when this machine cannot boot a container at all, found by a
real probe (root, namespaces, cgroups), and never in CI or as root: there the probe's failure
is a failure of the run. Anything else that goes wrong — a missing tool, a
failed image build, a container that does not come up — is a failure with the reason.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import unavailable
from tests.packaging.build import build_deb
from tests.system.blog_admin import deb_version
from tests.system.nspawn import Container, cgroup_dirs, reap_stale_containers
from tests.system.rootfs import RootfsCache

#: appended to the version of the .deb under test to make its upgrade
UPGRADE_SUFFIX = "+e2e1"
TOOLS = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap",
         "nsenter": "util-linux", "unshare": "util-linux"}


def container_support_problem() -> str | None:
    """Why this machine cannot boot a container, or None. Probes, does not guess."""
    if os.geteuid() != 0:
        return "booting a container needs root (run the suite as root, as .ci/run does)"
    if not shutil.which("unshare"):
        return None  # cannot probe without it; the tool check below then fails loudly
    probe = subprocess.run(
        ["unshare", "--mount", "--pid", "--net", "--uts", "--ipc", "--fork", "--mount-proc",
         "true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        return f"this machine cannot create namespaces: {probe.stderr.strip()}"
    for directory in cgroup_dirs(f"probe-{os.getpid()}"):
        try:
            directory.mkdir()
            directory.rmdir()
        except OSError as exc:
            return f"this machine cannot create cgroups for a container: {exc}"
    return None


@pytest.fixture(scope="session")
def nspawn_ready() -> None:
    problem = container_support_problem()
    if problem:
        unavailable(f"system tests cannot boot a container: {problem}")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})
    if missing:
        pytest.fail(f"missing host packages {' '.join(missing)}: run scripts/setup-debian.sh test",
                    pytrace=False)


@pytest.fixture(scope="session")
def rootfs(nspawn_ready) -> Iterator[Path]:
    """The cached bookworm image, built on first use, locked shared while this run uses it."""
    with RootfsCache().use() as path:
        yield path


@pytest.fixture(scope="session")
def boot_machine(rootfs) -> Iterator[Callable[[str], Container]]:
    """``boot_machine(label)`` boots a fresh machine; every one is torn down at the end."""
    reap_stale_containers()  # a run killed before its teardown (timeout -s KILL) left them
    booted: list[Container] = []

    def boot(label: str) -> Container:
        box = Container(rootfs, f"hueyd-{label}-{os.getpid()}"[:60])
        booted.append(box)
        box.boot()
        return box

    try:
        yield boot
    finally:
        for box in booted:
            box.stop()


@pytest.fixture(scope="module")
def machine(request, boot_machine) -> Iterator[Container]:
    """One booted machine per test module, powered off after the module's last test."""
    label = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "").replace("_", "-")
    box = boot_machine(label)
    try:
        yield box
    finally:
        box.stop()


# -- the package ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def deb_dir(nspawn_ready) -> Iterator[Path]:
    """Where this run's builds go (only where a container can boot to install them)."""
    path = Path(tempfile.mkdtemp(prefix="hueyd-e2e-debs-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def hueyd_deb(deb_dir) -> Path:
    """The .deb of this tree, as the packaging builds it (``HUEYD_TEST_DEB``: a prebuilt one)."""
    if os.environ.get("HUEYD_TEST_DEB"):
        return Path(os.environ["HUEYD_TEST_DEB"]).resolve()
    return build_deb(deb_dir / "current", timeout=900)


@pytest.fixture(scope="session")
def hueyd_upgrade_deb(deb_dir, hueyd_deb) -> Path:
    """The same tree with a higher version, to test an upgrade (``HUEYD_TEST_UPGRADE_DEB``)."""
    if os.environ.get("HUEYD_TEST_UPGRADE_DEB"):
        return Path(os.environ["HUEYD_TEST_UPGRADE_DEB"]).resolve()
    return build_deb(deb_dir / "upgrade", version=deb_version(hueyd_deb) + UPGRADE_SUFFIX,
                     timeout=900)


# -- what a failing test shows ------------------------------------------------------------
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the machine's failed units and hueyd's journal to the report."""
    outcome = yield
    report = outcome.get_result()
    box = item.funcargs.get("machine") if hasattr(item, "funcargs") else None
    if report.when != "call" or not report.failed or not isinstance(box, Container) \
            or not box.alive():
        return
    try:
        failed = box.run("systemctl", "--failed", "--no-legend", check=False, timeout=20).stdout
        journal = box.journal("-n", "80", "-o", "short-monotonic", "-u", "hueyd*")
    except AssertionError as exc:
        failed, journal = "", f"(journal unavailable: {exc})"
    report.sections.append(("machine: failed units", failed or "(none)"))
    report.sections.append(("machine: journal of hueyd*", journal or "(empty)"))
