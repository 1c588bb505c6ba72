"""The metrics endpoint: ``GET /metrics`` on the address the configuration names.

Served from threads of its own, never the master loop: a slow or hostile client
costs at most :data:`MAX_CLIENTS` threads, each bounded by :data:`TIMEOUT` seconds
per read and a request of at most :data:`MAX_REQUEST_LINE` bytes plus the standard
library's header limits; more clients than that are turned away at once.
"""
from __future__ import annotations

import http.server
import logging
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from hueyd.daemon.listen import parse_listen
from hueyd.ratelog import RateLimitedLog

logger = logging.getLogger("hueyd.metrics")
FAILED_LOG = RateLimitedLog(logger)

TIMEOUT = 5.0
MAX_CLIENTS = 4
MAX_REQUEST_LINE = 4096
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
INDEX = b"hueyd: metrics at /metrics\n"


class Handler(http.server.BaseHTTPRequestHandler):
    timeout = TIMEOUT
    server_version = "hueyd"
    sys_version = ""
    render: Callable[[], bytes]  # set on the subclass the server makes

    def handle_one_request(self) -> None:
        """As the standard library's, with a short request line."""
        try:
            self.raw_requestline = self.rfile.readline(MAX_REQUEST_LINE + 1)
            if len(self.raw_requestline) > MAX_REQUEST_LINE:
                self.requestline, self.request_version, self.command = "", "", ""
                self.send_error(414)
                self.close_connection = True
                return
            if not self.raw_requestline or not self.parse_request():
                self.close_connection = True
                return
            method = getattr(self, f"do_{self.command}", None)
            if method is None:
                self.send_error(501)
                return
            method()
            self.wfile.flush()
        except (TimeoutError, OSError):
            self.close_connection = True

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            try:
                body, status, kind = self.render(), 200, CONTENT_TYPE
            except Exception as exc:  # a bug: the daemon keeps running, the scrape fails
                FAILED_LOG.error("metrics: cannot render: %s", exc, exc_info=True)
                body, status, kind = b"cannot render the metrics\n", 500, "text/plain"
        elif path == "/":
            body, status, kind = INDEX, 200, "text/plain"
        else:
            body, status, kind = b"not found: try /metrics\n", 404, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: %s %s", self.address_string(), format % args)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restart must not wait for TIME_WAIT

    def __init__(self, address: tuple[str, int], handler: type[Handler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.slots = threading.BoundedSemaphore(MAX_CLIENTS)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)  # busy: turned away, not queued
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client's request that broke the handler: one line, never a traceback."""
        FAILED_LOG.error("metrics: a request from %s failed: %s", client_address[0],
                         sys.exc_info()[1])

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class MetricsEndpoint:
    """Binds at :meth:`start` (OSError if it cannot), serves until :meth:`close`."""

    def __init__(self, listen: str, render: Callable[[], bytes]) -> None:
        self.address = parse_listen(listen)
        self.handler = type("BoundHandler", (Handler,), {"render": staticmethod(render)})
        self.server: Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.server = Server(self.address, self.handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={
            "poll_interval": 0.5}, name="metrics", daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1] if self.server else 0

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
