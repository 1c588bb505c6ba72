"""huey's SignedSerializer under a real ``hueyd run`` with ``secret_key_file`` (issue 16,
serializers): the daemon's key wraps the app's signature, and a message must carry both.

The app is tasksapp with huey's signing added the way a huey app sets it up; the test
process is the producer, signing as ``hueyd.instance`` would (the key file's key).
"""
from __future__ import annotations

import pytest

from hueyd.serializer import SignedSerializer
from tests.helpers import wait_for
from tests.integration.test_security import COMMON, KEY, count, key_file

SIGNED_APP = '''
import tasksapp
from hueyd.serializer import SignedSerializer

tasksapp.huey.serializer = SignedSerializer(secret="app secret", salt="blog")
huey = tasksapp.huey
'''


@pytest.mark.parametrize("kind", ["redis", "sqlite"])
def test_both_signatures_are_written_and_needed(kind, make_app, hueyd_proc):
    app = make_app(kind)
    (app.dir / "signedapp.py").write_text(SIGNED_APP)
    config = app.dir / "hueyd.yaml"
    config.write_text(f"app: signedapp.huey\nsecret_key_file: {key_file(app)}\n")
    app_only = SignedSerializer(secret="app secret", salt="blog")
    app.huey.serializer = SignedSerializer(secret="app secret", salt="blog")
    app.huey.set_secret_key(KEY)
    daemon = hueyd_proc(app, "--config", str(config), *COMMON)
    assert app.tasks.add(1, 2).get(blocking=True, timeout=15) == 3, daemon.output

    # what the producer writes: hueyd's signature around huey's format
    wrote = app.huey.serialize_task(app.tasks.slow.s(0, "never"))
    inner = wrote[36:]
    assert wrote.startswith(b"HDS1") and app_only.deserialize(inner)["args"] == (0, "never")
    # a producer with the app's secret but without the key file: refused, never run
    app.huey.storage.enqueue(inner)
    wait_for(lambda: app.huey.storage.dead_letter_count() == 1, 15,
             message=lambda: f"a dead letter:\n{daemon.output}")
    assert app.huey.storage.dead_letters()[0].reason == "missing signature"
    assert count(daemon, "as a dead letter: missing signature", 1) >= 1
    assert app.marks("never") == []
