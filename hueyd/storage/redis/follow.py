"""What a pool that follows its master across failovers does, whoever names the master
(the Sentinels, or the cluster's slot map): ask again at most once a second, count the
masters seen (``generation``: a connection kept open across a change is replaced, see
:mod:`~hueyd.storage.redis.wire`), and say ``failing over`` once when the master is
lost and once when a master answers again.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import NamedTuple
from urllib.parse import unquote

from redis.exceptions import RedisError

logger = logging.getLogger("hueyd.storage")

#: seconds between two questions from a process that keeps connections open: after a
#: promotion the old master may stay a master for many seconds (until it is
#: reconfigured), and nothing else would make those connections leave it
CONFIRM_EVERY = 1.0
#: after a question nobody answered: the master may be fine while the Sentinels are
#: away, and each question can cost their connect timeouts
CONFIRM_AFTER_SILENCE = 10.0


#: query options of a multi-host URL: numbers, texts (TLS files, for TLS only), credentials
FLOATS = ("socket_timeout", "socket_connect_timeout")
TEXTS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_cert_reqs")
CREDENTIALS = ("password", "username")


class HostsURL(NamedTuple):
    """A URL naming several servers: ``scheme://[[USER]:PASSWORD@]H1:P1,H2:P2/PATH?QUERY``."""

    tls: bool  # the scheme starts with "rediss"
    hosts: list[tuple[str, int]]
    credentials: dict[str, str]  # username, password: the data nodes'
    path: str
    query: str


def _host_port(text: str, default_port: int, what: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` (``default_port``)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ValueError(f"a {what} address has no host: {text!r}")
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise ValueError(f"a {what}'s port is not a number: {text!r}") from None
    if not 0 < number < 65536:
        raise ValueError(f"a {what}'s port is out of range: {text!r}")
    return host, number


def split_hosts(url: str, default_port: int, what: str) -> HostsURL:
    """The parts of a URL naming several servers; ValueError (never with the password)."""
    scheme, _, rest = url.partition("://")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    if not at:
        userinfo, hosts = "", netloc
    found = [_host_port(h, default_port, what) for h in hosts.split(",") if h]
    if not found:
        raise ValueError(f"{scheme}:// needs at least one {what} host:port")
    credentials = {}
    if userinfo:
        user, colon, password = userinfo.partition(":")
        if not colon:
            user, password = "", user
        credentials = {k: unquote(v) for k, v in (("username", user), ("password", password))
                       if v}
    return HostsURL(scheme.lower().startswith("rediss"), found, credentials, path, query)


class Follower:
    """Mixed into a ConnectionPool; subclasses say where the master is (``locate``)."""

    #: what the log lines name ("the master of mymaster"), and whom the pool asks
    followed = "the master"
    asks = "the Sentinels"

    def start_following(self, followed: str, asks: str) -> None:
        self.followed, self.asks = followed, asks
        self.master: tuple[str, int] | None = None
        self.failing = False
        self.generation = 0
        self._next_confirm = 0.0
        self._follow_lock = threading.Lock()  # the threads of a process share the pool

    def locate(self) -> tuple[str, int]:
        """The master's address now (raises a RedisError when nobody answers)."""
        raise NotImplementedError

    def moved(self, address: tuple[str, int]) -> None:
        """The master is now at ``address``: point the pool's connections there."""

    def confirm(self) -> int:
        """The current ``generation``, after asking where the master is if a second has
        passed. No answer changes nothing: the connections show the outage."""
        now = time.monotonic()
        if now < self._next_confirm:
            return self.generation
        with self._follow_lock:
            if now < self._next_confirm:
                return self.generation
            self._next_confirm = now + CONFIRM_EVERY
        try:
            address = self.locate()
        except RedisError:
            self._next_confirm = time.monotonic() + CONFIRM_AFTER_SILENCE
            return self.generation
        self.reached((address[0], int(address[1])), connected=False)
        return self.generation

    def stale(self) -> None:
        """Ask again at the next use (a reply said the master moved)."""
        self._next_confirm = 0.0

    def lost(self, exc: BaseException) -> str:
        """Called for each connection error: logs ``failing over`` the first time; the
        words that start the caller's error line."""
        with self._follow_lock:
            first, self.failing = not self.failing, True
        self.stale()
        if first:
            master = "{}:{}".format(*self.master) if self.master else "unknown"
            logger.warning("failing over: lost %s (last at %s: %s); asking %s for the new "
                           "one", self.followed, master, exc, self.asks)
        return "failing over: "

    def reached(self, address: tuple[str, int], connected: bool = True) -> None:
        """``address`` is named the master (``connected``: a connection to it opened)."""
        with self._follow_lock:
            first = self.master is None
            moved = not first and address != self.master
            news = moved or (self.failing and connected)
            if moved:
                self.generation += 1
            self.master = address
            if news:
                self.failing = False
        if first or moved:
            self.moved(address)
        if news:
            logger.warning("failed over: %s is %s:%d%s", self.followed, *address,
                           " (a new one)" if moved else " (the same)")
