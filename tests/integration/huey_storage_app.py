"""An app whose storage was written for huey, run by the integration tests under a real
``hueyd run``: ``JsonFileStorage`` subclasses hueyd.storage.BaseStorage (huey's name) and
implements huey's methods only, keeping everything in one JSON file under flock.
HUEYD_TEST_KIND picks the Huey: "custom" (that storage), "file" (FileHuey), "postgres"
(PostgresHuey at HUEYD_TEST_DSN) or "void" (BlackHoleHuey); HUEYD_TEST_DIR holds the storage and the marks tasks write."""
import base64
import calendar
import fcntl
import json
import os
import time

from hueyd import BlackHoleHuey, FileHuey, Huey, PostgresHuey
from hueyd.storage import BaseStorage, EmptyData

KIND = os.environ["HUEYD_TEST_KIND"]
DIR = os.environ["HUEYD_TEST_DIR"]


def _b(data):
    return base64.b64encode(data).decode()


def _u(text):
    return base64.b64decode(text)


class JsonFileStorage(BaseStorage):
    def __init__(self, name="huey", filename="store.json", **kwargs):
        super().__init__(name)
        self.filename = filename

    def _change(self, fn):
        with open(self.filename + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                with open(self.filename) as fh:
                    state = json.load(fh)
            except FileNotFoundError:
                state = {"queue": [], "schedule": [], "kv": {}, "counters": {}}
            result = fn(state)
            with open(self.filename + ".tmp", "w") as fh:
                json.dump(state, fh)
            os.replace(self.filename + ".tmp", self.filename)
            return result

    def _read(self, fn):
        return self._change(fn)

    def enqueue(self, data, priority=None):
        self._change(lambda s: s["queue"].append(_b(data)))

    def dequeue(self):
        return self._change(lambda s: _u(s["queue"].pop(0)) if s["queue"] else None)

    def queue_size(self):
        return self._read(lambda s: len(s["queue"]))

    def enqueued_items(self, limit=None):
        return self._read(lambda s: [_u(d) for d in s["queue"][:limit]])

    def flush_queue(self):
        self._change(lambda s: s["queue"].clear())

    def add_to_schedule(self, data, ts):
        when = calendar.timegm(ts.timetuple()) + ts.microsecond / 1e6
        self._change(lambda s: s["schedule"].append([when, _b(data)]))

    def read_schedule(self, ts):
        now = calendar.timegm(ts.timetuple()) + ts.microsecond / 1e6

        def due(state):
            ready = sorted(e for e in state["schedule"] if e[0] <= now)
            state["schedule"] = [e for e in state["schedule"] if e[0] > now]
            return [_u(d) for _, d in ready]
        return self._change(due)

    def schedule_size(self):
        return self._read(lambda s: len(s["schedule"]))

    def scheduled_items(self, limit=None):
        return self._read(lambda s: [_u(d) for _, d in sorted(s["schedule"])[:limit]])

    def flush_schedule(self):
        self._change(lambda s: s["schedule"].clear())

    def put_data(self, key, value, is_result=False):
        self._change(lambda s: s["kv"].__setitem__(key, _b(value)))

    def peek_data(self, key):
        return self._read(lambda s: _u(s["kv"][key]) if key in s["kv"] else EmptyData)

    def pop_data(self, key):
        return self._change(lambda s: _u(s["kv"].pop(key)) if key in s["kv"] else EmptyData)

    def has_data_for_key(self, key):
        return self._read(lambda s: key in s["kv"])

    def put_if_empty(self, key, value, ttl=None):
        if ttl is not None:
            raise NotImplementedError("no ttl here")

        def put(state):
            if key in state["kv"]:
                return False
            state["kv"][key] = _b(value)
            return True
        return self._change(put)

    def incr(self, key, amount=1):
        def bump(state):
            state["counters"][key] = state["counters"].get(key, 0) + amount
            return state["counters"][key]
        return self._change(bump)

    def delete_counter(self, key):
        self._change(lambda s: s["counters"].pop(key, None))

    def result_store_size(self):
        return self._read(lambda s: len(s["kv"]))

    def result_items(self):
        return self._read(lambda s: {k: _u(v) for k, v in s["kv"].items()})

    def flush_results(self):
        self._change(lambda s: s["kv"].clear())

    def flush_counters(self):
        self._change(lambda s: s["counters"].clear())


if KIND == "custom":
    huey = Huey("custom", storage_class=JsonFileStorage,
                filename=os.path.join(DIR, "store.json"))
elif KIND == "file":
    huey = FileHuey("files", path=os.path.join(DIR, "queue"))
elif KIND == "postgres":
    huey = PostgresHuey(os.path.basename(DIR), dsn=os.environ["HUEYD_TEST_DSN"])
else:
    huey = BlackHoleHuey("void")


@huey.task()
def record(n):
    with open(os.path.join(DIR, "marks"), "a") as fh:
        fh.write(f"{n} {os.getpid()}\n")
    return n * 2


@huey.task()
def slow(n, seconds):
    with open(os.path.join(DIR, "starts"), "a") as fh:
        fh.write(f"{n} {os.getpid()}\n")
    time.sleep(seconds)
    return n


@huey.periodic_task(lambda dt: True)
def every_minute():
    with open(os.path.join(DIR, "periodic"), "a") as fh:
        fh.write(f"{time.time()}\n")
