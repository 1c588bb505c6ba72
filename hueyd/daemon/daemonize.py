"""``--daemonize --pidfile FILE``: detaching, for hosts without systemd.

Through python-daemon (an optional dependency, imported only here). Its
defaults do not suit us, so: umask 0027 (not 0), the working directory kept
(APP paths and relative files keep their meaning), and a signal map that
leaves SIGTERM alone (python-daemon would turn it into SystemExit; the master
installs its own handlers). python-daemon closes every file descriptor and
points stdio at /dev/null, so logging and storage are opened after detaching.

Under systemd detaching is wrong (systemd tracks the process it started and
reads its stderr), so it is refused when NOTIFY_SOCKET or INVOCATION_ID is set.
A SIGHUP reload re-executes the detached process: ``HUEYD_DETACHED`` tells the
new image that it is already detached and only has to keep the PID file.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, MutableMapping

from hueyd.daemon.config import Config, ConfigError
from hueyd.exitcodes import EX_CONFIG, EX_SOFTWARE

UMASK = 0o027
#: set to our PID once detached; a re-executed image with the same PID skips detaching
DETACHED_ENV = "HUEYD_DETACHED"
#: variables systemd sets for the services it runs
SYSTEMD_ENV = ("NOTIFY_SOCKET", "INVOCATION_ID")
OPTION = "option --daemonize"


def already_detached(environ: MutableMapping[str, str]) -> bool:
    return environ.get(DETACHED_ENV) == str(os.getpid())


def check(config: Config, environ: MutableMapping[str, str]) -> None:
    """ConfigError if ``--daemonize`` cannot work here: under systemd, without a log
    file (stderr goes to /dev/null), without python-daemon, or with a PID file held by
    a running process."""
    for name in SYSTEMD_ENV:
        if environ.get(name):
            raise ConfigError(None, OPTION, f"refused: ${name} is set, so systemd runs "
                              "hueyd and tracks it in the foreground; drop --daemonize")
    if not config.log_file:
        raise ConfigError(None, OPTION, "needs -l/--logfile (or logging.file): a detached "
                          "daemon's stderr goes to /dev/null")
    try:
        import daemon  # noqa: F401
    except ImportError:
        raise ConfigError(None, OPTION, "needs python-daemon (apt install python3-daemon, "
                          "or pip install 'hueyd[daemon]')") from None
    if config.pidfile:
        PidFile(config.pidfile).check()


class PidFile:
    """The PID file: written once detached, removed at exit if it is still ours."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)  # stays right after the loader's chdir

    def owner(self) -> int | None:
        """The PID in the file, if that process is alive."""
        try:
            with open(self.path) as f:
                pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            return None
        if pid <= 0:
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # stale: left by a crash
        except PermissionError:
            pass  # alive, another user's
        return pid

    def check(self) -> None:
        owner = self.owner()
        if owner is not None and owner != os.getpid():
            raise ConfigError(None, "option --pidfile", f"{self.path}: hueyd already runs "
                              f"as PID {owner}")
        directory = os.path.dirname(self.path)
        if not os.access(directory, os.W_OK):
            raise ConfigError(None, "option --pidfile", f"{self.path}: cannot write in "
                              f"{directory}")

    def __enter__(self) -> PidFile:
        temporary = f"{self.path}.{os.getpid()}.tmp"
        with open(temporary, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(temporary, self.path)
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError, ValueError):
            with open(self.path) as f:
                if int(f.read().strip()) != os.getpid():
                    return
            os.unlink(self.path)


def preflight(trial: Callable[[], None]) -> int:
    """Run ``trial`` (import the app, open the log) in a forked child while the
    terminal still shows stderr: its exit code (0, or 78 with the one line printed).
    The child exits without touching the parent's state."""
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = EX_SOFTWARE
        os.umask(UMASK)  # files it creates (the log) get the daemon's mode
        try:
            trial()
            code = 0
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            code = EX_CONFIG
        except BaseException as exc:  # noqa: B036 - reported by the parent's exit code
            print(f"hueyd: {type(exc).__name__}: {exc}", file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@contextlib.contextmanager
def detached(config: Config) -> Iterator[None]:
    """Inside: detached, umask 0027, the PID file written; open files after entering."""
    pidfile = PidFile(config.pidfile) if config.pidfile else None
    if already_detached(os.environ):  # re-executed by a reload: same PID, same file
        with pidfile or contextlib.nullcontext():
            yield
        return
    import daemon

    quiet = {signal.SIGTSTP: None, signal.SIGTTIN: None, signal.SIGTTOU: None}
    with daemon.DaemonContext(working_directory=os.getcwd(), umask=UMASK, pidfile=pidfile,
                              signal_map=quiet):
        os.environ[DETACHED_ENV] = str(os.getpid())
        yield
