"""The INFO lines logged for every task run ("executing ...", "... executed in ..."),
for less CPU than ``Logger.info``.

``logger.info`` walks the stack on every call to find which line called it
(``findCaller``); a worker logs two lines per task, so that walk is paid twice per
task. :func:`info` knows its caller (the frame that called it) and hands the logger
the record ``logger.info`` would have made: the same record factory, name, level,
file, line, function and arguments. The record then goes through the logger's
filters and every handler as usual, so the text, its level, its journald priority
and the masking of passwords (daemon/logs.py's formatter) do not change.
"""
from __future__ import annotations

import logging
import sys
from typing import Any

INFO = logging.INFO
#: the caller logging records when ``logging._srcfile`` is None
UNKNOWN = ("(unknown file)", 0, "(unknown function)")


def info(logger: logging.Logger, msg: str, *args: Any) -> None:
    """``logger.info(msg, *args)``, without the stack walk."""
    if not logger.isEnabledFor(INFO):
        return
    if logging._srcfile:  # None: the application turned caller lookups off, as logging does
        caller = sys._getframe(1)
        code = caller.f_code
        where = code.co_filename, caller.f_lineno, code.co_name
    else:
        where = UNKNOWN
    logger.handle(logger.makeRecord(logger.name, INFO, where[0], where[1], msg, args, None,
                                    where[2]))
