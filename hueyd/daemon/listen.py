"""``host:port`` for the metrics endpoint (``limits.listen_problem`` checks the setting).

Standard library only: ``config.py`` loads it, through limits.py, before gevent may patch.
"""
from __future__ import annotations

import ipaddress


def parse_listen(text: str) -> tuple[str, int]:
    """``("127.0.0.1", 9808)`` from ``127.0.0.1:9808``, ``[::1]:9808`` or
    ``localhost:9808``; ValueError saying what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT (e.g. 127.0.0.1:9808), got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        ipaddress.IPv6Address(host)  # ValueError if not one
    elif ":" in host:
        raise ValueError(f"an IPv6 address goes in brackets ([::1]:9808), got {text!r}")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port must be from 1 to 65535, got {port!r}")
    return host, int(port)
