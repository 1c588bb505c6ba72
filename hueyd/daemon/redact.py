"""Passwords out of everything hueyd prints: ``redis://:****@host``, ``redis://user:****@``.

A ``redis_url`` holds the Redis password, and a mistyped one still does: every line
that can name a URL (configuration errors, loader and storage errors, log records,
systemd's STATUS=, ``hueyd status``) goes through :func:`redact`. The STATUS line is
shown to every local user by ``systemctl status``; the journal to the adm group.
"""
from __future__ import annotations

import re

MASK = "****"
#: a scheme (even a mistyped one), its slashes, then user info up to the last "@" of the
#: word: a password may itself hold "@" or "/"
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*:/*)(?P<userinfo>[^\s'\"<>]*)@")
#: redis-py also takes the password as a query argument (``?password=...``), and a
#: ``redis+sentinel://`` URL the Sentinels' (``?sentinel_password=...``)
_QUERY_PASSWORD = re.compile(r"(?i)(\b(?:\w+_)?password=)[^&\s'\",;]*")
_URL_HEAD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:/*")


def _mask(userinfo: str) -> str:
    """``user:secret`` -> ``user:****``; without a colon it may be a misplaced password."""
    user, colon, _ = userinfo.partition(":")
    return f"{user}:{MASK}" if colon else MASK


def redact(text: str) -> str:
    """``text`` with the password of every URL in it masked (a cheap test first: most
    log lines hold neither "@" nor "password")."""
    if "@" in text:
        text = _USERINFO.sub(lambda m: f"{m['head']}{_mask(m['userinfo'])}@", text)
    if "assword" in text or "ASSWORD" in text:
        text = _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", text)
    return text


def redact_url(url: str) -> str:
    """One URL, masked even when it holds spaces or lacks its scheme: everything between
    the scheme and the last "@" is user information."""
    at = url.rfind("@")
    if at >= 0:
        head = _URL_HEAD.match(url)
        start = head.end() if head and head.end() <= at else 0
        url = f"{url[:start]}{_mask(url[start:at])}{url[at:]}"
    return _QUERY_PASSWORD.sub(rf"\g<1>{MASK}", url)


def has_password(url: str) -> bool:
    """Whether ``url`` carries a password (or something that may be one)."""
    return redact_url(url) != url
