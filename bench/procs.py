"""Processes the harness starts, and what it reads about them from /proc.

Everything started here runs in a process group of its own (``start_new_session``)
and is stopped by that group's id: the harness never signals anything it did not
start. CPU placement is done with ``taskset`` so that the pinned CPU shows on the
command line of every process.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: Linux's SO_TIMESTAMP (absent from Python's socket module): arrival time as a timeval
SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)
DEFAULT_REDIS_PORT = 6379


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    """``argv`` run on one CPU only (unchanged when ``cpu`` is None: unpinned mode)."""
    return argv if cpu is None else ["taskset", "-c", str(cpu), *argv]


def free_port() -> int:
    """A free loopback port, never Redis's default one (a system redis may own it)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port != DEFAULT_REDIS_PORT:
            return port


def wait_until(predicate, timeout: float, what: str, interval: float = 0.005):
    """Poll ``predicate`` until truthy; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


class Group:
    """A child started in its own process group; stopped (with its children) by group id."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None,
                 output: str | None = None, cwd: str | None = None) -> None:
        self.argv = argv
        self.output = output
        out = open(output, "ab") if output else subprocess.DEVNULL
        try:
            self.started = time.time()
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        finally:
            if output:
                out.close()
        self.pid = self.proc.pid  # == the process group id (new session)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        """Raise if the leader has exited (quote the end of its output, when kept)."""
        if self.alive():
            return
        tail = ""
        if self.output and os.path.exists(self.output):
            with open(self.output, "rb") as f:
                tail = f.read()[-1500:].decode(errors="replace")
        raise RuntimeError(f"{self.argv[0]} ... exited with {self.proc.returncode}\n{tail}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Signal the leader, wait for it, then SIGKILL whatever is left of the group."""
        if self.alive():
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


class RedisServer:
    """A private redis-server (free port, no persistence) for one harness run."""

    def __init__(self, workdir: str, cpu: int | None) -> None:
        self.port = free_port()
        self.dir = os.path.join(workdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
                "--logfile", os.path.join(self.dir, "redis.log")]
        self.group = Group(pinned(argv, cpu))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        try:
            wait_until(self._ping, 10, f"redis-server on port {self.port}")
        except BaseException:
            self.group.stop()
            raise

    def command(self, *args: str) -> bytes | int | None:
        """One command over a fresh connection (RESP by hand: the harness needs no redis-py,
        so any python3 can run it). Returns a bulk string, an integer or a status as bytes."""
        request = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(request.encode())
            reply = sock.makefile("rb")
            line = reply.readline()
            kind, rest = line[:1], line[1:-2]
            if kind == b"-":
                raise RuntimeError(f"redis {args[0]}: {rest.decode()}")
            if kind == b":":
                return int(rest)
            if kind == b"$":
                size = int(rest)
                return None if size < 0 else reply.read(size + 2)[:-2]
            return rest

    def _ping(self) -> bool:
        self.group.check_alive()
        try:
            return self.command("PING") == b"PONG"
        except OSError:
            return False

    def reset(self) -> None:
        """Empty every key and zero the command counters."""
        self.command("FLUSHALL")
        self.reset_counters()

    def reset_counters(self) -> None:
        self.command("CONFIG", "RESETSTAT")

    def round_trips(self) -> int:
        """Socket reads Redis has processed since the last reset: a pipelined batch arrives in
        one read, so this counts the clients' round trips (plus one per INFO of ours)."""
        for line in self.command("INFO", "stats").decode().splitlines():
            if line.startswith("total_reads_processed:"):
                return int(line.split(":")[1])
        raise RuntimeError("INFO stats has no total_reads_processed (redis-server < 6?)")

    def command_counts(self) -> dict[str, int]:
        """Calls per command since the last reset (the harness's own INFO/CONFIG left out)."""
        counts = {}
        for line in self.command("INFO", "commandstats").decode().splitlines():
            if line.startswith("cmdstat_"):
                name, _, values = line.removeprefix("cmdstat_").partition(":")
                calls = dict(kv.split("=") for kv in values.split(","))["calls"]
                if name not in ("info", "config|resetstat", "flushall", "ping"):
                    counts[name] = int(calls)
        return counts

    def stop(self) -> None:
        self.group.stop()


def _stat_fields(pid: str) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode()
    except OSError:
        return None
    # the command name may hold spaces and parentheses: split after the last ')'
    return data[data.rindex(")") + 2:].split()


def group_pids(pgid: int) -> list[int]:
    """Live processes of a process group (the consumer's master and its workers)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(entry)
            if fields is not None and int(fields[2]) == pgid:
                pids.append(int(entry))
    return pids


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of a process group, including its reaped children.

    A reaped child's time moves into its parent's cutime/cstime, so summing all four
    over the live members counts every process exactly once.
    """
    ticks = 0
    for pid in group_pids(pgid):
        fields = _stat_fields(str(pid))
        if fields is not None:  # utime stime cutime cstime are stat fields 14-17
            ticks += sum(int(v) for v in fields[11:15])
    return ticks / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU time all CPUs have spent busy (or stolen by the hypervisor) since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def foreign_load(window: float, pgids: list[int]) -> float:
    """Share of one CPU used during ``window`` seconds by everything except this harness and
    the process groups ``pgids`` (hypervisor steal included)."""
    def ours() -> float:
        return own_cpu_seconds() + sum(group_cpu_seconds(g) for g in pgids)
    busy0, ours0, t0 = machine_busy_seconds(), ours(), time.monotonic()
    time.sleep(window)
    busy1, ours1, t1 = machine_busy_seconds(), ours(), time.monotonic()
    return max(0.0, (busy1 - busy0 - (ours1 - ours0)) / (t1 - t0))


def own_cpu_seconds() -> float:
    """CPU time of this harness process (its polling)."""
    t = os.times()
    return t.user + t.system


def group_memory_kib(pgid: int) -> dict[str, int]:
    """Rss and Pss (KiB) summed over a process group, from smaps_rollup."""
    total = {"Rss": 0, "Pss": 0}
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in total:
                        total[key] += int(rest.split()[0])
        except OSError:
            continue
    return total


@dataclass
class NotifySocket:
    """A NOTIFY_SOCKET of our own: receives the daemon's sd_notify datagrams."""

    path: str

    def __post_init__(self) -> None:
        if os.path.exists(self.path):
            os.unlink(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        # the kernel stamps each datagram on arrival: polling late does not skew the time
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)

    def ready_seen(self) -> float | None:
        """Arrival time of a datagram holding READY=1 among those queued, if any."""
        while True:
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
            except BlockingIOError:
                return None
            if b"READY=1" not in data.split(b"\n"):
                continue
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP:
                    seconds, micros = struct.unpack("qq", value[:16])
                    return seconds + micros / 1e6
            return time.time()

    def close(self) -> None:
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)
