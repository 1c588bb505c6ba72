"""The two systems under test: huey 3.5.4 in a cached virtualenv, and hueyd from this tree.

Each knows its interpreter, its app module and how to start its consumer; the
scenarios treat them alike.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field

BENCH = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(BENCH, "apps")
ROOT = os.path.dirname(BENCH)
SYSTEM_PYTHON = "/usr/bin/python3"

HUEY_VERSION = "3.5.4"
#: what huey's virtualenv gets from PyPI (gevent for the greenlet worker type)
HUEY_REQUIREMENTS = [f"huey=={HUEY_VERSION}", "redis", "gevent"]
DEFAULT_CACHE = os.environ.get("HUEYD_BENCH_CACHE", "/var/cache/hueyd-bench")


@dataclass
class System:
    """One consumer implementation: interpreter, app module, consumer command line."""

    name: str
    python: str
    app: str
    pythonpath: list[str]
    consumer_prefix: list[str]
    greenlet_prefix: list[str]
    version: str = ""
    notifies: bool = False  # sends READY=1 to $NOTIFY_SOCKET
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, **values: str) -> dict[str, str]:
        """The environment of this system's consumer or client, plus ``values``."""
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
                            "PYTHONSTARTUP", "VIRTUAL_ENV")}
        env["PYTHONPATH"] = os.pathsep.join(self.pythonpath)
        env.update(self.extra_env)
        env.update(values)
        return env

    def consumer_argv(self, workers: int, worker_type: str) -> list[str]:
        prefix = self.greenlet_prefix if worker_type == "greenlet" else self.consumer_prefix
        return [*prefix, f"{self.app}.huey", "-w", str(workers), "-k", worker_type]

    def client_argv(self, command: str, *options: str) -> list[str]:
        return [self.python, os.path.join(BENCH, "client.py"), self.app, command, *options]


def huey_venv(cache: str, log=print) -> str:
    """The virtualenv with huey (created once, reused while it still imports)."""
    venv = os.path.join(cache, "venv-huey")
    python = os.path.join(venv, "bin", "python")
    probe = f"import huey, redis, gevent; assert huey.__version__ == {HUEY_VERSION!r}"
    if os.path.exists(python) and subprocess.run([python, "-c", probe],
                                                 capture_output=True).returncode == 0:
        return venv
    log(f"creating {venv} with {' '.join(HUEY_REQUIREMENTS)} from PyPI ...")
    os.makedirs(cache, exist_ok=True)
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--clear", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    *HUEY_REQUIREMENTS], check=True)
    subprocess.run([python, "-c", probe], check=True)
    return venv


def _version(python: str, module: str, pythonpath: list[str]) -> str:
    out = subprocess.run([python, "-c", f"import {module}; print({module}.__version__)"],
                         capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)})
    return out.stdout.strip() or "?"


def huey_system(cache: str, log=print) -> System:
    venv = huey_venv(cache, log)
    python = os.path.join(venv, "bin", "python")
    return System(
        name="huey", python=python, app="huey_app", pythonpath=[APPS],
        consumer_prefix=[python, os.path.join(venv, "bin", "huey_consumer")],
        greenlet_prefix=[python, os.path.join(APPS, "huey_gevent_consumer.py")],
        version=_version(python, "huey", []),
    )


def byte_compile(*folders: str) -> None:
    """Write the ``.pyc`` files of ``folders`` now, as the .deb's postinst (dh_python3's
    py3compile) and pip's install of huey do: with PYTHONDONTWRITEBYTECODE set (CI, these
    machines) the tree would otherwise be compiled again at every start."""
    subprocess.run([SYSTEM_PYTHON, "-m", "compileall", "-q", *folders], check=True,
                   stdout=subprocess.DEVNULL)


def hueyd_system() -> System:
    byte_compile(os.path.join(ROOT, "hueyd"))
    prefix = [SYSTEM_PYTHON, "-m", "hueyd", "run"]
    return System(
        name="hueyd", python=SYSTEM_PYTHON, app="hueyd_app", pythonpath=[ROOT, APPS],
        consumer_prefix=prefix, greenlet_prefix=prefix, notifies=True,
        version=_version(SYSTEM_PYTHON, "hueyd", [ROOT]),
    )


def build(names: list[str], cache: str, log=print) -> list[System]:
    makers = {"huey": lambda: huey_system(cache, log), "hueyd": hueyd_system}
    unknown = [n for n in names if n not in makers]
    if unknown:
        sys.exit(f"unknown system {unknown[0]!r}: choose from huey, hueyd")
    byte_compile(APPS)  # the app both systems import
    return [makers[n]() for n in names]
