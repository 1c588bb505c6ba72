"""Issue 16: huey 3.x's stored bytes read without huey (hueyd/daemon/huey_format.py).

The bytes are made as huey makes them: ``pickle.dumps`` of a ``huey.registry.Message``
(a stand-in module of that name exists only while a test pickles), then huey's
signature (``:<hex HMAC-SHA1>``) and gzip or zlib compression. The unpickler must
rebuild huey's Message, Error and SKIPPED, standard values and the app's own classes,
and refuse every other global before calling it.
"""
from __future__ import annotations

import collections
import datetime as dt
import gzip
import os
import pickle

import pytest

from hueyd.api.result import SKIPPED, Error
from hueyd.daemon import huey_format
from hueyd.daemon.huey_format import HueyMessage, Refused
from tests.huey_bytes import as_huey, huey_message

#: "the app": the package this test module was imported in (``tests``, or itself)
APP = frozenset({__name__.partition(".")[0]})


class Parcel(collections.namedtuple("Parcel", "sku weight")):
    """A class of "the app"."""


def message(modules, **fields):
    return huey_message(modules, **{"id": "t1", "name": "jobs.record", **fields})


@pytest.mark.parametrize("signed", [None, b"secret"])
@pytest.mark.parametrize("compress", [None, "gzip", "zlib"])
def test_a_huey_message_reads_back_whatever_serializer_wrote_it(signed, compress):
    eta = dt.datetime(2026, 12, 4, 22, 0, 5, 123456)
    data = as_huey(lambda m: message(m, eta=eta, retries=2, args=(1, Parcel("a", 1.5)),
                                     kwargs={"when": dt.timedelta(seconds=3)},
                                     on_complete=message(m, id="t2")), signed, compress)
    found = huey_format.message(data, APP)
    assert isinstance(found, HueyMessage)
    assert (found.id, found.eta, found.retries, found.args, found.kwargs) == (
        "t1", eta, 2, (1, Parcel("a", 1.5)), {"when": dt.timedelta(seconds=3)})
    assert found.on_complete.id == "t2" and found.chord_config is None


class Signed:
    """A serializer with huey's ``secret`` and ``salt`` attributes (huey's SignedSerializer)."""

    def __init__(self, secret: bytes, salt: bytes = b"huey") -> None:
        self.secret, self.salt = secret, salt


@pytest.mark.parametrize("compress", [None, "zlib"])
def test_a_huey_signature_is_checked_when_the_app_has_huey_s_key(compress):
    key = huey_format.HueyKey.of(Signed(b"secret"))
    signed = as_huey(lambda m: message(m), b"secret", compress)
    assert huey_format.message(signed, APP, key).id == "t1"
    with pytest.raises(Refused, match="huey signature mismatch"):
        huey_format.message(as_huey(lambda m: message(m), b"other", compress), APP, key)
    with pytest.raises(Refused, match="not signed"):
        huey_format.message(as_huey(lambda m: message(m), None, compress), APP, key)
    assert huey_format.HueyKey.of(object()) is None


def test_huey_error_and_skipped_become_hueyd_s():
    data = as_huey(lambda m: [m["huey.utils"].Error({"error": "boom"}), m["huey.utils"].SKIPPED])
    assert huey_format.load(data, APP) == [Error({"error": "boom"}), SKIPPED]


class Shell:
    def __init__(self, call, *args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


@pytest.mark.parametrize("hostile,named", [
    (Shell(os.system, "touch /tmp/hueyd-pwned"), "posix.system"),
    (Shell(eval, "1+1"), "builtins.eval"),
    (Shell(getattr, Parcel, "sku"), "builtins.getattr"),
    (Shell(huey_format.load, b"x", APP), "hueyd.daemon.huey_format.load"),
    # a function of the app's packages is not a class: not called either
    (Shell(message, None), f"{__name__}.message"),
])
def test_any_other_global_is_refused_before_it_is_called(hostile, named):
    data = pickle.dumps(hostile)
    with pytest.raises(Refused, match=f"needs global {named}"):
        huey_format.load(data, APP)
    # inside a message's arguments too
    with pytest.raises(Refused, match=f"needs global {named}"):
        huey_format.message(as_huey(lambda m: message(m, args=(hostile,))), APP)


def test_an_app_class_outside_the_app_packages_is_refused():
    with pytest.raises(Refused, match=f"needs global {__name__}.Parcel"):
        huey_format.load(pickle.dumps(Parcel("a", 1)), frozenset({"shop"}))


def test_a_dotted_name_is_refused_even_in_the_app_package():
    module = __name__.encode()  # it imports os: ``<module> os.system`` is os.system
    data = (b"\x80\x04\x8c" + bytes([len(module)]) + module + b"\x8c\x09os.system\x93"
            b"\x8c\x04true\x85R.")
    with pytest.raises(Refused, match=f"needs global {__name__}.os.system"):
        huey_format.load(data, APP)


@pytest.mark.parametrize("data,reason", [
    (b"garbage", "not a huey entry"),
    (b"", "empty entry"),
    (b"\x78\x9cnot zlib at all", "does not decompress"),
    (pickle.dumps({"id": "x"}), "not a huey task message"),
])
def test_garbage_is_refused_with_a_reason(data, reason):
    with pytest.raises(Refused, match=reason):
        huey_format.message(data, APP)


def test_a_compressed_bomb_is_refused_not_expanded(monkeypatch):
    monkeypatch.setattr(huey_format, "MAX_DECOMPRESSED", 1024 * 1024)
    bomb = gzip.compress(pickle.dumps(b"\0" * (4 * 1024 * 1024)))
    with pytest.raises(Refused, match="decompresses to more than 1048576 bytes"):
        huey_format.load(bomb, APP)
