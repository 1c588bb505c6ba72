"""Runs inside the test machine: enqueue the blog's tasks and read results, as the app would.

Usage: python3 blog_client.py /etc/hueyd/NAME.yaml ACTION [ARGS]; prints one JSON line.
  enqueue TASK JSON_ARGS   -> {"id": ...}
  result ID TIMEOUT        -> {"value": ...} | {"error": ...} | {"timeout": true}
  pending                  -> {"pending": N}
  plant MARKER             -> {"planted": true}: an unsigned pickle that would create MARKER
The app is loaded as a web process would, with ``hueyd.instance(config=...)``: the client
talks to exactly the storage the daemon of that instance uses (the YAML's redis_url /
sqlite_path) and signs with its key (secret_key_file).
With BLOG_CLIENT_CODE=DIR, the blog's code comes from DIR instead of the YAML's pythonpath:
a web process that still runs the release it started with, while a new one is deployed.
"""
from __future__ import annotations

import json
import os
import pickle
import sys


class Plant:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def main(argv: list[str]) -> int:
    config_path, action, *args = argv
    import hueyd
    from hueyd import ResultTimeout, TaskException

    if os.environ.get("BLOG_CLIENT_CODE"):
        sys.path.insert(0, os.environ["BLOG_CLIENT_CODE"])
        import blog.main  # noqa: F401 - instance() finds it imported, from there
    huey = hueyd.instance(config=config_path)
    if action == "enqueue":
        import blog.main as blog
        name, call_args = args[0], json.loads(args[1]) if len(args) > 1 else []
        print(json.dumps({"id": getattr(blog, name)(*call_args).id}))
    elif action == "result":
        try:
            value = huey.result(args[0], blocking=True, timeout=float(args[1]), preserve=True)
            print(json.dumps({"value": value}))
        except TaskException as exc:
            print(json.dumps({"error": str(exc)}))
        except ResultTimeout:
            print(json.dumps({"timeout": True}))
    elif action == "pending":
        print(json.dumps({"pending": huey.pending_count()}))
    elif action == "plant":
        huey.storage.enqueue(pickle.dumps(Plant(args[0])))
        print(json.dumps({"planted": True}))
    else:
        print(f"unknown action {action!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
