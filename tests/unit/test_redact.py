"""Issue 14, item 5: the one redaction helper, and each place that uses it."""
from __future__ import annotations

import logging

import pytest

from hueyd.daemon import logs, notify
from hueyd.daemon.config import ConfigError, load_config
from hueyd.daemon.redact import has_password, redact, redact_url
from hueyd.daemon.status import Observed, status_line

PASSWORD = "s3cr3t-Pa55"


@pytest.mark.parametrize("url,shown", [
    (f"redis://:{PASSWORD}@127.0.0.1:6379/0", "redis://:****@127.0.0.1:6379/0"),
    (f"redis://blog:{PASSWORD}@host/1", "redis://blog:****@host/1"),
    (f"rediss://blog:{PASSWORD}@host:6380/1", "rediss://blog:****@host:6380/1"),
    (f"reddis://:{PASSWORD}@host/0", "reddis://:****@host/0"),          # mistyped scheme
    (f"redis:/:{PASSWORD}@host/0", "redis:/:****@host/0"),              # one slash
    (f"redis:{PASSWORD}@host/0", "redis:****@host/0"),                  # no slash
    (f"redis://{PASSWORD}@host/0", "redis://****@host/0"),              # no colon
    (f"redis://:p@ss/{PASSWORD}@host/0", "redis://:****@host/0"),       # "@" and "/" in it
    (f"unix://:{PASSWORD}@/run/redis.sock?db=0", "unix://:****@/run/redis.sock?db=0"),
    (f"redis://host/0?password={PASSWORD}&db=1", "redis://host/0?password=****&db=1"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ("unix:///run/redis/redis-server.sock?db=0", "unix:///run/redis/redis-server.sock?db=0"),
])
def test_urls_are_masked_in_text_and_alone(url, shown):
    assert redact_url(url) == shown
    assert redact(f"cannot use '{url}': boom") == f"cannot use '{shown}': boom"
    assert has_password(url) == (shown != url)


def test_urls_the_text_pattern_cannot_delimit_are_masked_as_values():
    assert redact_url(f":{PASSWORD}@host:6379/0") == ":****@host:6379/0"
    assert redact_url(f"redis://:pass word {PASSWORD}@host/0") == "redis://:****@host/0"


def test_ordinary_lines_are_left_alone():
    for text in ("executing tasksapp.add: 3f2a", "cannot notify systemd at @/org/x: refused",
                 "mail sent to bob@example.org", "<Task object at 0x7f>", ""):
        assert redact(text) == text


def test_config_errors_never_hold_the_password(tmp_path):
    config = tmp_path / "blog.yaml"
    config.write_text(f"app: blog.main.huey\nredis_url: 'reddis://:{PASSWORD}@h:1/0'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(config), {})
    assert "got 'reddis://:****@h:1/0'" in str(caught.value)
    long = "redis://:" + "x" * 80 + PASSWORD + "@host/0"
    config.write_text(f"app: blog.main.huey\nredis_url: ['{long}']\n")
    with pytest.raises(ConfigError) as caught:
        load_config(str(config), {})
    assert PASSWORD not in str(caught.value) and "x" * 40 not in str(caught.value)
    assert PASSWORD not in str(ConfigError("f", "redis_url", f"redis://u:{PASSWORD}@h"))


def test_status_lines_never_hold_the_password():
    seen = Observed("blog", 2, "thread", "running", 0, 5,
                    f"ConnectionError: redis://:{PASSWORD}@h:1/0 refused" + "x" * 380)
    assert PASSWORD not in status_line(seen, [])
    assert notify.one_line(f"reload refused: 'redis://u:{PASSWORD}@h'") == \
        "reload refused: 'redis://u:****@h'"


@pytest.mark.parametrize("journal", [False, True])
def test_log_records_and_their_tracebacks_never_hold_the_password(journal):
    formatter = (logs.JournalFormatter if journal else logs.Formatter)(logs.FORMAT)
    try:
        raise ValueError(f"bad url redis://:{PASSWORD}@h/0")
    except ValueError:
        import sys
        record = logging.LogRecord("hueyd", logging.ERROR, __file__, 1, "using %s", (
            f"redis://u:{PASSWORD}@h",), sys.exc_info())
    text = formatter.format(record)
    assert PASSWORD not in text and "redis://u:****@h" in text and "redis://:****@h/0" in text
