"""Redis topologies of the suite's own. A Sentinel one: one master, one replica and three Sentinels
(Debian's redis-server and redis-sentinel), on free loopback ports, in temporary
folders; every process is stopped by PID. Facts: Sentinels rewrite their config
file (it must be writable), and with ``down-after-milliseconds 1000`` a killed
master is replaced within a few seconds. A Cluster: six nodes, three masters with a
replica each, built by ``redis-cli --cluster create``; each node's bus port is its port
+ 10000 (it must be free too).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile

import redis
from redis.crc import key_slot

from tests.helpers import RedisServer, free_port, terminate, wait_for

SERVICE = "hueydha"


class SentinelProcess:
    """One redis-sentinel watching ``SERVICE``."""

    def __init__(self, master_port: int, quorum: int = 2, password: str | None = None,
                 data_password: str | None = None) -> None:
        self.password = password
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="hueyd-sentinel-")
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write(f"port {self.port}\nbind 127.0.0.1\ndaemonize no\ndir {self.dir}\n"
                    f"logfile {os.path.join(self.dir, 'sentinel.log')}\n"
                    f"sentinel monitor {SERVICE} 127.0.0.1 {master_port} {quorum}\n"
                    f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                    f"sentinel failover-timeout {SERVICE} 5000\n"
                    f"sentinel parallel-syncs {SERVICE} 1\n")
            if password:  # its own, and the one it gives the other Sentinels
                f.write(f"requirepass {password}\nsentinel sentinel-pass {password}\n")
            if data_password:
                f.write(f"sentinel auth-pass {SERVICE} {data_password}\n")
        binary = shutil.which("redis-sentinel") or "/usr/bin/redis-sentinel"
        self.proc = subprocess.Popen([binary, self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, password=self.password, socket_timeout=1,
                           socket_connect_timeout=1)

    def master(self) -> tuple[str, int] | None:
        """Where this Sentinel says the master is."""
        try:
            with self.client() as client:
                host, port = client.sentinel_get_master_addr_by_name(SERVICE)
        except (redis.RedisError, TypeError, ValueError):
            return None
        return (host.decode() if isinstance(host, bytes) else host), int(port)

    def stop(self) -> None:
        terminate(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelGroup:
    """Master + replica + three Sentinels; ``url`` is the redis+sentinel:// URL. With
    ``password`` the data nodes require it, with ``sentinel_password`` the Sentinels."""

    def __init__(self, password: str | None = None,
                 sentinel_password: str | None = None) -> None:
        self.password, self.sentinel_password = password, sentinel_password
        auth = ("--masterauth", password) if password else ()
        # diskless sync at once (the default waits 5 s for more replicas to join)
        self.master = RedisServer(password=password,
                                  extra=("--repl-diskless-sync-delay", "0", *auth)).start()
        self.replica = RedisServer(password=password, extra=(
            "--replicaof", "127.0.0.1", str(self.master.port), *auth)).start()
        self.sentinels = [SentinelProcess(self.master.port, password=sentinel_password,
                                          data_password=password) for _ in range(3)]
        try:
            wait_for(self.ready, 30, message="three Sentinels that see the master and replica")
        except BaseException:
            self.cleanup()
            raise

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        auth = f":{self.password}@" if self.password else ""
        query = f"?sentinel_password={self.sentinel_password}" if self.sentinel_password else ""
        return f"redis+sentinel://{auth}{hosts}/{SERVICE}{query}"

    def ready(self) -> bool:
        """Every Sentinel names the master and knows the replica and the other two, and
        the replica is in sync (a failover can promote it)."""
        want = ("127.0.0.1", self.master.port)
        if any(s.master() != want for s in self.sentinels):
            return False
        try:
            with redis.Redis(port=self.replica.port, password=self.password,
                             socket_timeout=1) as replica:
                synced = replica.info("replication").get("master_link_status") == "up"
            for sentinel in self.sentinels:
                with sentinel.client() as client:
                    seen = client.sentinel_master(SERVICE)
                if seen.get("num-slaves") != 1 or seen.get("num-other-sentinels") != 2:
                    return False
        except redis.RedisError:
            return False
        return synced

    def promoted(self) -> bool:
        """Every Sentinel names the replica as the master."""
        want = ("127.0.0.1", self.replica.port)
        return all(s.master() == want for s in self.sentinels)

    def kill_master(self) -> None:
        """SIGKILL, as a crashed machine would."""
        assert self.master.proc is not None
        self.master.proc.kill()
        self.master.proc.wait(5)

    def cleanup(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.cleanup()
        self.master.cleanup()


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 < 65536:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port + 10000))
                return port
            except OSError:
                continue


class ClusterGroup:
    """Six ``--cluster-enabled`` redis-servers joined by ``redis-cli --cluster create``
    into three masters with a replica each (``cluster-node-timeout`` 1 s)."""

    def __init__(self) -> None:
        self.nodes: list[RedisServer] = []
        try:
            for _ in range(6):
                port = cluster_port()
                self.nodes.append(RedisServer(port, extra=(
                    "--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
                    "--cluster-config-file", "nodes.conf",
                    "--repl-diskless-sync-delay", "0")).start())
            cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
            subprocess.run([cli, "--cluster", "create",
                            *(f"127.0.0.1:{n.port}" for n in self.nodes),
                            "--cluster-replicas", "1", "--cluster-yes"],
                           check=True, capture_output=True, timeout=60)
            wait_for(self.ready, 30, message="a cluster with every slot served")
        except BaseException:
            self.cleanup()
            raise

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes[:3])

    @staticmethod
    def _ask(node: RedisServer, *command: str):
        """One command's raw reply (no client-side parsing, which differs by redis-py)."""
        conn = redis.Connection(port=node.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            conn.send_command(*command)
            return conn.read_response()
        finally:
            conn.disconnect()

    def ready(self) -> bool:
        """Every live node says cluster_state:ok, and three masters serve the slots."""
        try:
            for node in self.alive():
                if b"cluster_state:ok" not in self._ask(node, "CLUSTER", "INFO"):
                    return False
            return len(self.slots()) == 3
        except redis.RedisError:
            return False

    def alive(self) -> list[RedisServer]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def slots(self) -> dict[tuple[int, int], int]:
        """(first slot, last slot) -> the port of the master serving them."""
        ranges = self._ask(self.alive()[0], "CLUSTER", "SLOTS")
        return {(int(first), int(last)): int(master[1]) for first, last, master, *_ in ranges}

    def master_of(self, key: str) -> int:
        slot = key_slot(key.encode())
        return next(port for (first, last), port in self.slots().items()
                    if first <= slot <= last)

    def kill(self, port: int) -> None:
        """SIGKILL the node on ``port``, as a crashed machine."""
        node = next(n for n in self.nodes if n.port == port)
        assert node.proc is not None
        node.proc.kill()
        node.proc.wait(5)

    def cleanup(self) -> None:
        for node in self.nodes:
            node.cleanup()
