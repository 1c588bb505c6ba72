"""Issue 14, item 3: which storages others can write (the warnings), and the key file."""
from __future__ import annotations

import os

import pytest

from hueyd import MemoryHuey, RedisHuey, SqliteHuey
from hueyd.daemon.config import ConfigError, load_config
from hueyd.daemon.security import exposed, read_secret_key, security_warnings


@pytest.mark.parametrize("url,verdict", [
    ("redis://127.0.0.1:6379/0", "has no password"),
    ("redis://10.0.0.5:6379/0", "has no password"),
    ("redis://:pw@10.0.0.5:6379/0", "is reachable from other machines"),
    ("redis://:pw@redis.example.org:6379/0", "is reachable from other machines"),
    ("redis://:pw@127.0.0.1:6379/0", None),
    ("redis://:pw@localhost:6379/0", None),
    ("redis://:pw@[::1]:6379/0", None),
    ("unix:///run/redis/redis.sock?db=0", "has no password"),
    ("unix://:pw@/run/redis/redis.sock?db=0", None),
])
def test_redis_is_exposed_without_a_password_or_beyond_loopback(url, verdict):
    huey = RedisHuey("t", url=url)  # builds the pool, connects to nothing
    found = exposed(huey.storage)
    assert (verdict in found) if verdict else found is None, found
    if found:
        assert "pw" not in found


def test_an_sqlite_file_is_exposed_in_a_folder_everyone_may_write(tmp_path):
    private, shared = tmp_path / "private", tmp_path / "shared"
    private.mkdir(mode=0o750)
    shared.mkdir()
    shared.chmod(0o1777)
    assert exposed(SqliteHuey("t", filename=str(private / "q.db")).storage) is None
    found = exposed(SqliteHuey("t", filename=str(shared / "q.db")).storage)
    assert found == f"the SQLite file {shared / 'q.db'} is in {shared}, which every user " \
                    "may write to"
    (private / "open.db").touch(mode=0o666)
    os.chmod(private / "open.db", 0o666)
    found = exposed(SqliteHuey("t", filename=str(private / "open.db")).storage)
    assert found.endswith("is writable by every user")
    assert exposed(MemoryHuey("t").storage) is None


def test_signed_messages_silence_the_storage_warning_and_secrets_are_checked(tmp_path):
    yaml = tmp_path / "blog.yaml"
    key = tmp_path / "blog.key"
    key.write_text("k\n")
    yaml.write_text(f"app: a.b\nredis_url: 'redis://:pw@127.0.0.1/0'\nsecret_key_file: {key}\n")
    for path in (yaml, key):
        path.chmod(0o640)
    config = load_config(str(yaml), {})
    huey = RedisHuey("t", url="redis://127.0.0.1:6379/0")
    (warning,) = security_warnings(config, huey)
    assert warning.startswith("messages are not signed and Redis at 127.0.0.1:6379/0 has no ")
    huey.set_secret_key(read_secret_key(config))
    assert security_warnings(config, huey) == []
    yaml.chmod(0o644)
    key.chmod(0o604)
    assert security_warnings(config, huey) == [
        f"{yaml} holds the Redis password and every user can read it: chmod o-r {yaml}",
        f"{key} holds the signing key and every user can read it: chmod o-r {key}"]


def test_the_key_is_the_file_without_its_trailing_newline(tmp_path):
    key = tmp_path / "k"
    for text, expected in (("abc\n", b"abc"), ("abc\r\n\n", b"abc"), ("a b \n", b"a b "),
                           ("\u00e9t\u00e9\n", "\u00e9t\u00e9".encode())):
        key.write_text(text)
        assert read_secret_key(load_config(None, {"app": "a.b",
                                                  "secret_key_file": str(key)})) == expected
    assert read_secret_key(load_config(None, {"app": "a.b"})) is None


def test_key_file_errors_name_the_option_and_the_file_never_the_key(tmp_path):
    key = tmp_path / "k"
    key.write_text(" \n")
    with pytest.raises(ConfigError) as caught:
        read_secret_key(load_config(None, {"app": "a.b", "secret_key_file": str(key)}))
    assert str(caught.value) == f"hueyd: option --secret-key-file: {key}: is empty"
    key.write_text("s3cr3t" * 1000)
    with pytest.raises(ConfigError) as caught:
        read_secret_key(load_config(None, {"app": "a.b", "secret_key_file": str(key)}))
    assert "s3cr3t" not in str(caught.value) and "longer than 4096 bytes" in str(caught.value)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_secret_key(load_config(None, {"app": "a.b", "secret_key_file": str(tmp_path)}))
