"""What a setting's value may be: kinds (YAML value and command-line text) and checks.

Pure and table-tested: a kind says whether a YAML value is acceptable and how the
same value is written on the command line; a check returns what is wrong, or None.
:mod:`hueyd.daemon.config` declares each setting with one kind and one check.
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, NamedTuple

from hueyd.daemon.redact import redact


# -- kinds: what a value may be, in YAML and as command-line text ---------------------
class Kind(NamedTuple):  # not a frozen dataclass: ~0.4 ms less at start
    expected: str                     # "an integer", for the error message
    accepts: Callable[[Any], bool]    # is this YAML value of the kind?
    from_text: Callable[[str], Any] | None  # command-line text -> value (ValueError if not)
    normal: Callable[[Any], Any] = lambda value: value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _number_text(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _none_text(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda text: None if text.strip().lower() in ("", "none", "null") else parse(text)


BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}


def _bool_text(text: str) -> bool:
    return BOOL_WORDS[text.strip().lower()]  # KeyError: not a boolean


INT = Kind("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool), int)
NUMBER = Kind("a number", _is_number, _number_text, float)
OPTIONAL_INT = Kind("an integer or null", lambda v: v is None or INT.accepts(v), _none_text(int))
OPTIONAL_NUMBER = Kind("a number or null", lambda v: v is None or _is_number(v),
                       _none_text(_number_text), lambda v: None if v is None else float(v))
BOOL = Kind("true or false", lambda v: isinstance(v, bool), _bool_text)
TEXT = Kind("a string", lambda v: isinstance(v, str) and v != "", str)
OPTIONAL_TEXT = Kind("a string or null", lambda v: v is None or (isinstance(v, str) and v != ""),
                     _none_text(str))
PATH_LIST = Kind("a list of directories",
                 lambda v: isinstance(v, str) or (isinstance(v, (list, tuple))
                                                  and all(isinstance(p, str) for p in v)),
                 lambda text: text.split(os.pathsep),
                 lambda v: (v,) if isinstance(v, str) else tuple(v))
ENVIRONMENT = Kind("a mapping of variable names to values", lambda v: isinstance(v, dict),
                   None, lambda v: {k: str(x) if _is_number(x) else x for k, x in v.items()})


# -- checks: pure functions returning what is wrong, or None -------------------------
Check = Callable[[Any], "str | None"]


def at_least(low: float) -> Check:
    return lambda v: None if v >= low else f"must be at least {low:g}, got {v:g}"


def above(low: float) -> Check:
    return lambda v: None if v > low else f"must be greater than {low:g}, got {v:g}"


def at_most(high: float) -> Check:
    return lambda v: None if v <= high else f"must be at most {high:g}, got {v:g}"


def every(*checks: Check) -> Check:
    """The first problem any of ``checks`` finds."""
    return lambda v: next((p for p in (c(v) for c in checks) if p), None)


def between(low: int, high: int) -> Check:
    return lambda v: None if low <= v <= high else f"must be from {low} to {high}, got {v}"


def one_of(choices: tuple[str, ...]) -> Check:
    listed = ", ".join(choices)
    return lambda v: None if v in choices else f"must be one of {listed}, got {short(v)}"


def short(value: Any) -> str:
    """``value`` for an error message: its repr, no password, at most 60 characters."""
    text = redact(repr(value))  # before cutting: a cut URL no longer looks like one
    return text if len(text) <= 60 else text[:57] + "..."
