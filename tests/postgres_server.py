"""A private PostgreSQL 15 for the tests: initdb in a temporary folder, ``postgres`` on a
free port, stopped by PID. As root it runs as ``nobody`` (PostgreSQL refuses root),
through ``setpriv``, which execs: the PID the test holds is the server's own."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile

from tests.helpers import free_port, unavailable, wait_for

BIN = "/usr/lib/postgresql/15/bin"


class PostgresServer:
    """``with PostgresServer() as pg: pg.dsn``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hueyd-pg-")
        self.data = os.path.join(self.dir, "data")
        self.proc: subprocess.Popen | None = None

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} dbname=postgres user=postgres"

    def _as_owner(self, command: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return command
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]

    def start(self, timeout: float = 30.0) -> PostgresServer:
        if not os.path.exists(f"{BIN}/initdb"):
            unavailable("PostgreSQL 15 is not installed (apt install postgresql)")
        if os.geteuid() == 0:
            os.chown(self.dir, 65534, 65534)
        log = open(os.path.join(self.dir, "initdb.log"), "wb")
        with log:
            subprocess.run(self._as_owner([f"{BIN}/initdb", "-D", self.data, "-U", "postgres",
                                           "--auth=trust", "--no-sync", "-E", "UTF8"]),
                           stdout=log, stderr=subprocess.STDOUT, check=True, timeout=120,
                           cwd=self.dir)
        with open(os.path.join(self.dir, "server.log"), "wb") as out:
            self.proc = subprocess.Popen(
                self._as_owner([f"{BIN}/postgres", "-D", self.data, "-p", str(self.port),
                                "-k", self.dir, "-c", "listen_addresses=127.0.0.1",
                                "-c", "fsync=off"]),
                stdout=out, stderr=subprocess.STDOUT, cwd=self.dir, start_new_session=True)
        wait_for(self.ready, timeout, interval=0.1,
                 message=lambda: f"postgres on port {self.port}: {self.log()}")
        return self

    def log(self) -> str:
        try:
            with open(os.path.join(self.dir, "server.log"), errors="replace") as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"postgres exited: {self.log()}")
        import psycopg2
        try:
            psycopg2.connect(self.dsn, connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # "fast" shutdown
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
