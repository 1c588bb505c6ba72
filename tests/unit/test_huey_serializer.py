"""huey 3.5.4's serializers on hueyd (issue 16, serializers; issue 21 item 5).

The HUEY_WROTE bytes were written by huey 3.5.4's own ``huey.serializer`` (its source
in /work/huey-3.5.4, which CI lacks, so they are kept here as data):
``SignedSerializer(secret="s3cret", salt="app"[, compression=True[, use_zlib=True]])``
and ``Serializer(compression=True, compression_level=9)``, each serializing VALUE.
"""
from __future__ import annotations

import pickle

import pytest

from hueyd import MessageError
from hueyd.serializer import Serializer, SignedSerializer
from tests.unit.test_api_signing import plant  # noqa: F401 (fixture)
from tests.unit.test_api_support import drain

VALUE = {"task": "add", "args": (1, 2)}
PICKLE = ("8005951f000000000000007d94288c047461736b948c03616464948c0461726773944b014b0286"
          "94752e")
HUEY_WROTE = {
    "signed": PICKLE + "3a32653036643364613330633866616137626431633930633864396137313239623961"
                       "346232396232",
    "signed_default_salt": PICKLE + "3a6166336335626366336130613830666431343937323364623937"
                                    "3438646562393163616239336431",
    "signed_zlib": "789c6b609d2acf0001b553347a584a128bb3a7f43027a6a44ce961492c4a2f9ee2cde8cdd4"
                   "36a554cfca28d5c02cc53825d1d820d9222d31d13c29c530d912c84eb14c343734b24cb24c"
                   "344902524600f33b186d",
    "signed_gzip": "1f8b08002531136b00ff6b609d2acf0001b553347a584a128bb3a7f43027a6a44ce961492c"
                   "4a2f9ee2cde8cdd436a554cfca28d5c02cc53825d1d820d9222d31d13c29c530d912c84eb1"
                   "4c343734b24cb24c3449025246007bb88ed253000000",
    "plain_gzip": "1f8b08002531136b02ff6b609d2acf0001b553347a584a128bb3a7f43027a6a44ce961492c4"
                  "a2f9ee2cde8cdd436a5540f00405117482a000000",
}
CONFIGS = {
    "signed": lambda: SignedSerializer(secret="s3cret", salt="app"),
    "signed_default_salt": lambda: SignedSerializer(secret="s3cret"),
    "signed_zlib": lambda: SignedSerializer(secret="s3cret", salt="app", compression=True,
                                            use_zlib=True),
    "signed_gzip": lambda: SignedSerializer(secret="s3cret", salt="app", compression=True),
    "plain_gzip": lambda: Serializer(compression=True, compression_level=9),
}


@pytest.mark.parametrize("kind", sorted(HUEY_WROTE))
def test_reads_what_huey_wrote(kind):
    assert CONFIGS[kind]().deserialize(bytes.fromhex(HUEY_WROTE[kind])) == VALUE


@pytest.mark.parametrize("kind", ["signed", "signed_default_salt", "signed_zlib"])
def test_writes_what_huey_writes(kind):
    """Byte for byte (gzip is left out: its header holds the time)."""
    assert CONFIGS[kind]().serialize(VALUE) == bytes.fromhex(HUEY_WROTE[kind])


@pytest.mark.parametrize("kind", ["signed_gzip", "plain_gzip"])
def test_gzip_round_trips_with_huey_arguments(kind):
    serializer = CONFIGS[kind]()
    data = serializer.serialize(VALUE)
    assert data[:2] == b"\x1f\x8b" and serializer.deserialize(data) == VALUE


@pytest.mark.parametrize("data, reason", [
    (bytes.fromhex(HUEY_WROTE["signed"])[:-1] + b"0", "Signature mismatch"),
    (bytes.fromhex(PICKLE), "Separator"),
], ids=["mismatch", "no-separator"])
def test_a_bad_signature_is_both_hueys_value_error_and_a_message_error(data, reason):
    serializer = CONFIGS["signed"]()
    with pytest.raises(ValueError, match=reason):
        serializer.deserialize(data)
    with pytest.raises(MessageError, match=reason):
        serializer.deserialize(data)


def test_another_secret_or_salt_is_refused():
    data = bytes.fromhex(HUEY_WROTE["signed"])
    for other in (SignedSerializer(secret="other", salt="app"), SignedSerializer("s3cret")):
        with pytest.raises(ValueError, match="Signature mismatch"):
            other.deserialize(data)


def test_a_forged_pickle_is_never_loaded(plant):  # noqa: F811
    evil, marker = plant
    with pytest.raises(MessageError):
        CONFIGS["signed"]().deserialize(evil + b":" + b"0" * 40)
    assert not marker.exists()


def test_subclasses_override_hueys_hooks():
    """huey's documented way to change the format: override _serialize/_deserialize."""
    class Reversed(Serializer):
        def _serialize(self, data):
            return pickle.dumps(data)[::-1]

        def _deserialize(self, data):
            return pickle.loads(data[::-1])

    data = Reversed(compression=True, use_zlib=True).serialize(VALUE)
    assert data[:1] == b"\x78" and Reversed(compression=True).deserialize(data) == VALUE


def test_signed_serializer_needs_a_secret_and_a_salt():
    from hueyd.exceptions import ConfigurationError
    for bad in ({}, {"secret": ""}, {"secret": "s", "salt": ""}):
        with pytest.raises(ConfigurationError, match="secret and salt"):
            SignedSerializer(**bad)
    assert SignedSerializer("s").signed and not Serializer().signed


def test_huey_runs_tasks_through_a_signed_serializer(make_huey):
    huey = make_huey(serializer=SignedSerializer(secret="s3cret", salt="app",
                                                 compression=True))

    @huey.task()
    def add(a, b):
        return a + b

    result = add(1, 2)
    assert huey.storage.enqueued_items()[0][:2] == b"\x1f\x8b"  # huey's layout: compressed
    drain(huey)
    assert result.get() == 3


def test_with_the_key_file_too_both_signatures_are_written_and_checked(make_huey, plant):  # noqa: F811
    """secret_key_file (set_secret_key) wraps hueyd's signature around huey's format:
    a message needs both, and hueyd's is checked before anything is decompressed."""
    evil, _ = plant
    app_key = SignedSerializer(secret="s3cret", salt="app")
    huey = make_huey(serializer=SignedSerializer(secret="s3cret", salt="app"))

    @huey.task()
    def add(a, b):
        return a + b

    huey.set_secret_key(b"server key")
    result = add(1, 2)
    (wrote,) = huey.storage.enqueued_items()
    assert wrote.startswith(b"HDS1") and app_key.deserialize(wrote[36:])["args"] == (1, 2)
    # huey's signature alone (a producer without the key file), and the key file's alone
    # around a pickle without huey's signature: both set aside, neither unpickled
    class Raw(Serializer):
        def _serialize(self, data):
            return data

    huey.storage.enqueue(app_key.serialize({"evil": 1}))
    huey.storage.enqueue(Raw(secret_key=b"server key").serialize(evil))
    drain(huey)
    assert result.get() == 3
    reasons = sorted(letter.reason for letter in huey.storage.dead_letters())
    assert len(reasons) == 2 and reasons[0].startswith(("Separator", "Signature")), reasons
    assert reasons[1] == "missing signature"


def test_a_signed_serializer_counts_as_signed_for_the_exposure_warning(tmp_path):
    """Without secret_key_file, huey's signing still checks before unpickling: hueyd check
    does not warn that messages are not signed."""
    from hueyd import RedisHuey
    from hueyd.daemon.config import load_config
    from hueyd.daemon.security import security_warnings
    yaml = tmp_path / "blog.yaml"
    yaml.write_text("app: a.b\n")
    config = load_config(str(yaml), {})
    plain = RedisHuey("t", url="redis://127.0.0.1:6379/0")
    assert [w for w in security_warnings(config, plain) if "not signed" in w]
    signed = RedisHuey("t", url="redis://127.0.0.1:6379/0",
                       serializer=SignedSerializer(secret="s3cret"))
    assert security_warnings(config, signed) == []


RECIPE = '''
import os
from huey import RedisHuey
from huey.serializer import SignedSerializer

huey = RedisHuey(
    'my-app', url=os.environ["COMPAT_REDIS_URL"],
    serializer=SignedSerializer(secret='my-secret-key'))


@huey.task()
def add(a, b):
    return a + b
'''


def test_hueys_signed_serializer_recipe_ported_by_its_imports(redis_url, monkeypatch):
    """huey's docs (recipes.rst, "signed serializer"), with only the imports changed."""
    from tests.unit.test_huey_compat import port
    monkeypatch.setenv("COMPAT_REDIS_URL", redis_url)
    recipe: dict = {"__name__": "signed_recipe"}
    exec(compile(port(RECIPE), "signed_recipe.py", "exec"), recipe)
    huey = recipe["huey"]
    try:
        result = recipe["add"](1, 2)
        (message,) = huey.storage.enqueued_items()
        huey.storage.flush_queue()
        huey.storage.enqueue(message.replace(b"add", b"dda"))  # tampered with
        huey.storage.enqueue(message)
        drain(huey)
        assert result.get() == 3
        (letter,) = huey.storage.dead_letters()
        assert letter.reason == "Signature mismatch"
        with pytest.raises(ValueError):  # what huey's docs promise
            huey.serializer.deserialize(letter.data)
    finally:
        huey.storage.close()
