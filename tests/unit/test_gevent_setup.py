"""Patching for greenlet workers without pkg_resources (a real interpreter each time:
monkey-patching cannot be undone)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytest.importorskip("gevent")

PROBE = """
import sys
from hueyd.daemon import gevent_setup
gevent_setup.patch()
import socket, gevent.socket
assert socket.socket is gevent.socket.socket, "not patched"
print("pkg_resources" in sys.modules)
try:
    import pkg_resources
except ImportError:  # not installed here: nothing to compare
    print("absent")
else:
    print(hasattr(pkg_resources, "working_set"))
"""


def test_patching_leaves_no_pkg_resources_behind_and_the_real_one_importable():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded, real = done.stdout.split()
    assert loaded == "False"
    assert real in ("True", "absent")
