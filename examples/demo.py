"""hueyd's main job in one minute, on SQLite (no server needed).

Writes an instance configuration (the queue's file and a signing key, in a private
temporary folder), starts ``hueyd run --config blog.yaml`` as a terminal user would,
enqueues tasks from this process the way a web application does (through
``hueyd.instance``: the same file, signed with the same key), prints their results,
shows a failing task and a retried one, then stops the consumer with SIGINT (running
tasks finish) and checks it exited cleanly. Every wait is bounded.
"""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOG = ROOT / "examples" / "blog"
WAIT = 30.0  # seconds any single step may take


def say(text: str) -> None:
    print(f"demo: {text}", flush=True)


def wait_for_line(log: Path, text: str) -> None:
    deadline = time.monotonic() + WAIT
    while text not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {text!r} in the consumer log after {WAIT:g} s")
        time.sleep(0.05)


def outcome_after_retries(result, error_type: type) -> object:
    """The first attempt's error is stored (as huey does) until the retry replaces it."""
    deadline = time.monotonic() + WAIT
    while True:
        try:
            return result.get(blocking=True, timeout=WAIT, preserve=True)
        except error_type:
            if time.monotonic() > deadline:
                raise
            result.reset()  # forget the cached error, read again
            time.sleep(0.05)


def write_instance(workdir: Path) -> Path:
    """blog.yaml: the app, its queue's file and the key that signs every message."""
    key = workdir / "blog.key"
    key.write_text(base64.b64encode(os.urandom(32)).decode() + "\n")  # head -c 32 ... | base64
    key.chmod(0o600)
    config = workdir / "blog.yaml"
    config.write_text(f"app: blog.main.huey\npythonpath: [{BLOG}]\n"
                      f"sqlite_path: {workdir / 'blog.db'}\nsecret_key_file: {key}\n")
    return config


def start_consumer(config: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        env.pop(name, None)
    command = [sys.executable, "-m", "hueyd", "run", "--config", str(config), "-w", "2",
               "-d", "0.05"]
    say("$ " + " ".join(["hueyd", *command[3:]]))
    with open(log, "wb") as out:
        return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="hueyd-demo-"))  # private (0700), removed at the end
    config, log = write_instance(workdir), workdir / "hueyd.log"
    sys.path[:0] = [str(BLOG), str(ROOT)]
    from blog.main import add, fail, flaky, slow  # the app, as a web view would import it

    import hueyd
    from hueyd import TaskException
    hueyd.instance(config=str(config))  # blog.main.huey now uses the daemon's file and key
    say(f"hueyd.instance(config={config.name!r}): tasks go to {config.parent.name}/blog.db, "
        "signed")

    consumer = start_consumer(config, log)
    try:
        say("enqueue add(2, 3) and ten more additions")
        first = add(2, 3)
        say(f"add(2, 3) -> {first.get(blocking=True, timeout=WAIT)}")
        sums = [add(i, i) for i in range(10)]
        say(f"add(i, i) for i in 0..9 -> {[r.get(blocking=True, timeout=WAIT) for r in sums]}")

        retried = flaky(1)
        say(f"flaky(1) failed once, was retried after 1 s, succeeded on attempt "
            f"{outcome_after_retries(retried, TaskException)}")

        try:
            fail("broken on purpose").get(blocking=True, timeout=WAIT)
        except TaskException as exc:
            say(f"fail() raised in the worker, the caller sees: {exc.metadata['error']}")

        started = time.monotonic()
        later = add.schedule((40, 2), delay=2)
        say(f"add(40, 2) scheduled 2 s ahead -> {later.get(blocking=True, timeout=WAIT)} "
            f"after {time.monotonic() - started:.1f} s")

        busy = slow(1.0)
        wait_for_line(log, f"executing blog.main.slow: {busy.id}")  # a worker holds it now
        say("SIGINT while slow(1.0) runs: the consumer lets it finish, then exits")
        consumer.send_signal(signal.SIGINT)
        code = consumer.wait(WAIT)
        say(f"slow(1.0) -> {busy.get(blocking=True, timeout=WAIT)}; consumer exit code {code}")
        print("--- consumer log ---")
        print(log.read_text(errors="replace"), end="")
        return 0 if code == 0 else 1
    except Exception as exc:
        print(f"demo failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(log.read_text(errors="replace"), file=sys.stderr)
        return 1
    finally:
        if consumer.poll() is None:
            os.killpg(consumer.pid, signal.SIGKILL)
            consumer.wait(10)
        for path in sorted(workdir.iterdir()):
            path.unlink()
        workdir.rmdir()


if __name__ == "__main__":
    raise SystemExit(main())
