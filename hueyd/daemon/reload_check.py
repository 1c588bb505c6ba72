"""A reload's check: ``hueyd check --offline`` of the new configuration and code, in a child.

The master never loads new application code before it knows the code loads: a module
that raises on import (a bad deploy), a YAML file that crashes the parser or an import
that hangs would otherwise take the running daemon down at its re-exec. The child runs
the command line the re-executed image would run, with a time limit; the master polls
it from its loop and never waits for it, so signals, the watchdog and STATUS go on.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from hueyd.daemon import reload_reply
from hueyd.exitcodes import EX_CONFIG

logger = logging.getLogger("hueyd.master")

#: bytes of the child's stderr kept: its last line is the reason given for a refusal
TAIL = 8192
#: a refusal's reason is shown in STATUS and the log: one line, at most this long
REASON_LIMIT = 300


def check_argv(run_options: Sequence[str]) -> list[str]:
    """The child's command line: ``hueyd check --offline`` with ``run``'s own options."""
    return [sys.executable, "-m", "hueyd", "check", "--offline", *run_options]


class Outcome(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    passed: bool
    reason: str = ""


@dataclass
class ReloadCheck:
    """One check under way, and the ``hueyd reload`` clients waiting for its verdict.

    ``poll(now)`` returns None while the child runs, then the Outcome (and answers the
    clients); past ``timeout`` seconds the child's session is killed by its PID."""

    argv: list[str]
    timeout: float
    now: float
    cwd: str | None = None
    clients: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.deadline = self.now + self.timeout
        self.outcome: Outcome | None = None
        self.tail = b""
        self.proc: subprocess.Popen | None = None
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        try:
            # a session of its own: a terminal's ^C is the master's to handle, and a
            # timeout kills whatever the app's import started, too
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=write_fd,
                                         cwd=self.cwd, start_new_session=True)
        except OSError as exc:
            self._settle(Outcome(False, f"cannot start hueyd check: {exc.strerror or exc}"))
        finally:
            os.close(write_fd)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def poll(self, now: float) -> Outcome | None:
        """The verdict once there is one; None while the child still runs."""
        if self.outcome is None and self.proc is not None:
            self._read()
            code = self.proc.poll()
            if code is not None:
                self._read()
                self._settle(Outcome(True) if code == 0 else
                             Outcome(False, self._reason(code)))
            elif now >= self.deadline:
                self._kill()
                self._settle(Outcome(False, "the check of the new configuration and code "
                                     f"did not finish within {self.timeout:g}s"))
        return self.outcome

    def cancel(self, reason: str) -> None:
        """Stop the child (a stop request wins over the reload) and answer the clients."""
        if self.outcome is None:
            self._kill()
            self._settle(Outcome(False, reason))

    # -- internals -------------------------------------------------------------------
    def _read(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self.read_fd, 65536):
                self.tail = (self.tail + chunk)[-TAIL:]

    def _reason(self, code: int) -> str:
        """The child's last line of its own (a traceback's exception, not its
        indented context), or how it ended."""
        lines = [line for line in self.tail.decode("utf-8", "replace").splitlines()
                 if line.strip() and not line[0].isspace()]
        said = " ".join(lines[-1].split()).removeprefix("hueyd: ") if lines else ""
        if code < 0:
            how = f"hueyd check was killed by {signal.Signals(-code).name}"
        else:
            how = f"hueyd check exited with status {code}"
        if code == EX_CONFIG and said:
            reason = said
        else:
            reason = f"{how}: {said}" if said else how
        return reason if len(reason) <= REASON_LIMIT else reason[:REASON_LIMIT - 3] + "..."

    def _kill(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # not reaped yet: the id is still ours
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=1.0)  # SIGKILL: at once, unless stuck in the kernel

    def _settle(self, outcome: Outcome) -> None:
        self.outcome = outcome
        if self.read_fd >= 0:
            os.close(self.read_fd)
            self.read_fd = -1
        reload_reply.answer(self.clients, outcome.passed, outcome.reason or "accepted")
        self.clients = []


class Reloads:
    """What the master keeps about reloads: the check under way (at most one), the
    ``hueyd reload`` clients waiting for it, and why the last reload was refused."""

    def __init__(self, run_options: Sequence[str], timeout: float, cwd: str | None,
                 runtime_folder: str | None) -> None:
        self.argv = check_argv(run_options)
        self.timeout = timeout
        self.cwd = cwd
        self.runtime_folder = runtime_folder
        self.check: ReloadCheck | None = None
        self.refused: str | None = None  # shown in STATUS until the next reload

    @property
    def checking(self) -> bool:
        return self.check is not None

    def begin(self, now: float) -> None:
        """Check the files as they are now. A check already under way gives way (its
        files may be older); its clients wait for the new verdict."""
        clients = reload_reply.waiting(self.runtime_folder)
        if self.check is not None:
            logger.info("SIGHUP during the reload's check: checking the newest files")
            clients = [*self.check.clients, *clients]
            self.check.clients = []
            self.check.cancel("checked again")
        self.check = ReloadCheck(self.argv, self.timeout, now, self.cwd, clients)
        self.refused = None
        logger.info("reload: checking the new configuration and code (pid %s)",
                    self.check.pid)

    def decline(self, reason: str) -> None:
        """No reload now (hueyd is starting or stopping): tell the waiting clients."""
        reload_reply.answer(reload_reply.waiting(self.runtime_folder), False, reason)

    def outcome(self, now: float) -> Outcome | None:
        """The check's outcome once it has one (logged: one line); None before."""
        outcome = self.check.poll(now) if self.check is not None else None
        if outcome is not None:
            self.check = None
            if outcome.passed:
                logger.info("reload check passed: running tasks finish, then hueyd "
                            "re-executes itself")
            else:
                self.refused = outcome.reason
                logger.error("reload refused, the workers keep the code they run: %s",
                             outcome.reason)
        return outcome

    def cancel(self, reason: str) -> None:
        if self.check is not None:
            self.check.cancel(reason)
            self.check = None
