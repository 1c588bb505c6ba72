"""Fixtures of the packaging tests: the .deb, built once per session, and its contents.

``build_deb(outdir, version=None) -> Path`` (tests/packaging/build.py) is importable from
here too, for the end-to-end tests that install the package.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import unavailable
from tests.packaging.build import ROOT, build_deb, missing_tools

__all__ = ["ROOT", "build_deb", "missing_tools"]


def require_tools() -> None:
    missing = missing_tools()
    if missing:
        unavailable(f"packaging tools missing ({', '.join(missing)}): "
                    "run scripts/setup-debian.sh test")


@pytest.fixture(scope="session")
def deb(tmp_path_factory) -> Path:
    """hueyd_*.deb built by packaging/build-deb from a clean copy of the tree."""
    require_tools()
    return build_deb(tmp_path_factory.mktemp("deb"))


@pytest.fixture(scope="session")
def deb_tree(deb, tmp_path_factory) -> Path:
    """The .deb's files, unpacked with dpkg-deb -x."""
    tree = tmp_path_factory.mktemp("deb-tree")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
    return tree


@pytest.fixture(scope="session")
def unit_root(deb, tmp_path_factory) -> Path:
    """A file system root for ``systemd-analyze verify --root``: the host's own units (for
    sysinit.target and friends), the unpacked package on top (/usr/bin/hueyd runs ExecStart=
    and ExecReload=), and /etc/hueyd/test.yaml for the instance hueyd@test."""
    root = tmp_path_factory.mktemp("unit-root")
    units = root / "lib/systemd/system"
    shutil.copytree("/lib/systemd/system", units, symlinks=True)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    (root / "etc/hueyd").mkdir(parents=True, exist_ok=True)  # the package ships it
    (root / "etc/hueyd/test.yaml").write_text("app: blog.main.huey\n")
    return root
