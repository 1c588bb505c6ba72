"""How ``systemctl reload`` learns whether the daemon took a reload or refused it.

systemd 252 gives a Type=notify service no way to fail a reload: only the exit status
of ExecReload= does. So ExecReload= runs ``hueyd reload $MAINPID``: it binds a datagram
socket in the instance's runtime folder ($RUNTIME_DIRECTORY, the same for every process
of the unit and writable only by its user), sends SIGHUP and waits. The master answers
each socket it finds there when the SIGHUP arrives, once its check of the new
configuration and code has passed or failed: one verdict, so the exit status of
``systemctl reload`` never disagrees with what the daemon did.
"""
from __future__ import annotations

import contextlib
import glob
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping

logger = logging.getLogger("hueyd.master")

#: the clients' sockets in the runtime folder
PATTERN = "reload-*.sock"
#: while waiting, how often the client looks whether the daemon still exists
PID_POLL = 1.0


def runtime_folder(environ: Mapping[str, str]) -> str | None:
    """The instance's runtime folder (the first of RuntimeDirectory=), None without one."""
    return environ.get("RUNTIME_DIRECTORY", "").split(":")[0] or None


# -- the master's side ------------------------------------------------------------------
def waiting(folder: str | None) -> list[str]:
    """The sockets of the clients waiting now (each sent, or is sending, its SIGHUP)."""
    if not folder:
        return []
    return sorted(glob.glob(os.path.join(glob.escape(folder), PATTERN)))


def answer(clients: list[str], accepted: bool, text: str) -> None:
    """Tell each client the verdict: ``accepted`` or ``refused: <reason>``."""
    data = ("accepted" if accepted else f"refused: {text}").encode("utf-8", "replace")
    for path in clients:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(data, path)
        except (ConnectionRefusedError, FileNotFoundError):
            with contextlib.suppress(OSError):  # a client killed while waiting left it
                os.unlink(path)
        except OSError as exc:
            logger.warning("cannot tell hueyd reload at %s the verdict: %s", path, exc)


# -- the client's side ------------------------------------------------------------------
def request(pid: int, folder: str, timeout: float) -> tuple[bool | None, str]:
    """Send SIGHUP to ``pid`` and wait for its verdict: ``(True, "accepted")``,
    ``(False, reason)``, or ``(None, why)`` when no verdict came."""
    path = os.path.join(folder, f"reload-{os.getpid()}.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock.bind(path)
        try:
            return _wait(sock, pid, timeout)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _wait(sock: socket.socket, pid: int, timeout: float) -> tuple[bool | None, str]:
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return None, f"no process {pid}"
    except OSError as exc:
        return None, f"cannot signal process {pid}: {exc.strerror or exc}"
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None, f"no answer from process {pid} within {timeout:g}s"
        sock.settimeout(min(left, PID_POLL))
        try:
            text = sock.recv(4096).decode("utf-8", "replace")
        except TimeoutError:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None, f"process {pid} exited without an answer"
            except PermissionError:
                pass  # it exists
            continue
        if text == "accepted":
            return True, text
        return False, text.removeprefix("refused: ")
