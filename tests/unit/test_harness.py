"""The suite's own guard: where every tool is installed (CI, root) a missing capability
fails the run instead of skipping the tests that need it."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.helpers import ROOT

PROBE = """
from tests.helpers import unavailable

def test_needs_a_tool():
    unavailable("no such tool")
"""


def run_probe(tmp_path, **env: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_probe.py").write_text(PROBE)
    environ = {**os.environ, "PYTHONPATH": ROOT, **env}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "-rs", str(tmp_path / "test_probe.py")], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_in_ci_a_missing_capability_fails_the_run(tmp_path):
    ran = run_probe(tmp_path, CI="true")
    assert ran.returncode == 1, ran.stdout
    assert "1 failed" in ran.stdout and "no such tool" in ran.stdout
