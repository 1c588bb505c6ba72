"""Build the hueyd .deb with packaging/build-deb: one function, shared by tests/packaging and
tests/system (the end-to-end tests install what this builds)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_DEB = ROOT / "packaging" / "build-deb"
#: tools the build and the packaging tests need (scripts/setup-debian.sh test installs them)
TOOLS = ("dpkg-buildpackage", "dh", "pybuild", "lintian", "systemd-analyze", "dpkg-deb")


def missing_tools() -> list[str]:
    """The packaging tools that are not installed (empty when the tests can run)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def build_deb(outdir: os.PathLike | str, version: str | None = None,
              timeout: float = 600) -> Path:
    """Build hueyd_*.deb into ``outdir`` from a clean copy of the tree; return its path.

    ``version`` adds a changelog entry in the copy only (an upgrade build). Raises
    AssertionError with the script's output when the build fails.
    """
    cmd = [str(BUILD_DEB), str(outdir)]
    if version is not None:
        cmd += ["--version", version]
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    lines = proc.stdout.strip().splitlines()
    assert lines, f"build-deb printed no path\n{proc.stderr}"
    deb = Path(lines[-1])
    assert deb.is_file() and deb.name.startswith("hueyd_") and deb.suffix == ".deb", deb
    return deb
