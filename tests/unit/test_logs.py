"""Logging: journald priorities on every line when stderr is the journal stream, the
usual format otherwise, and log files that can be reopened after logrotate renamed them."""
from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest

from hueyd.daemon import logs
from tests.helpers import ROOT

#: a child that logs at every level, a multi-line message and an exception
LOGGING_CHILD = """
import logging
from hueyd.daemon import logs
logs.setup("DEBUG")
log = logging.getLogger("blog.tasks")
log.debug("debug line")
log.info("info line")
log.warning("warning line")
log.error("first\\nsecond")
log.critical("critical line")
def inner():
    raise ValueError("broken task")
try:
    inner()
except ValueError:
    log.exception("task failed")
"""


def run_child(stderr_path, journal_stream: str | None) -> list[str]:
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("JOURNAL_STREAM", None)
    if journal_stream is not None:
        env["JOURNAL_STREAM"] = journal_stream
    with open(stderr_path, "wb") as err:
        subprocess.run([sys.executable, "-c", LOGGING_CHILD], env=env, stderr=err,
                       stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=60,
                       check=True)
    return stderr_path.read_text().splitlines()


def dev_ino(path) -> str:
    st = os.stat(path)
    return f"{st.st_dev}:{st.st_ino}"


def test_under_journald_every_line_carries_its_priority(tmp_path):
    stderr_path = tmp_path / "stderr"
    stderr_path.write_text("")  # exists, so its dev:ino is known before the child starts
    lines = run_child(stderr_path, dev_ino(stderr_path))
    assert re.fullmatch(r"<7>DEBUG:blog\.tasks:\d+:MainThread:debug line", lines[0]), lines
    expected = [("<7>", "debug line"), ("<6>", "info line"), ("<4>", "warning line"),
                ("<3>", "first"), ("<3>", "second"), ("<2>", "critical line")]
    for line, (prefix, text) in zip(lines[:6], expected, strict=True):
        assert line.startswith(prefix) and line.endswith(text), line
    traceback_lines = lines[6:]
    assert traceback_lines[0].endswith("task failed")
    assert any("Traceback (most recent call last):" in line for line in traceback_lines)
    assert traceback_lines[-1] == "<3>ValueError: broken task"
    assert len(traceback_lines) >= 5
    assert all(line.startswith("<3>") for line in traceback_lines), traceback_lines
    assert not any(re.search(r"\[\d{4}-\d\d-\d\d ", line) for line in lines)  # no timestamps


def test_journal_stream_of_another_file_is_not_the_journal(tmp_path):
    other = tmp_path / "other"
    other.write_text("")
    lines = run_child(tmp_path / "stderr", dev_ino(other))  # inherited, stderr redirected
    assert not any(line.startswith("<") for line in lines)
    assert re.match(r"\[\d{4}-\d\d-\d\d [\d:,]+\] DEBUG:blog\.tasks:\d+:MainThread:debug line",
                    lines[0]), lines[0]
    assert "Traceback (most recent call last):" in lines


@pytest.mark.parametrize("value", ["", "garbage", "1:2:3", "12"])
def test_a_malformed_journal_stream_is_not_the_journal(value):
    assert logs.stderr_is_journal({"JOURNAL_STREAM": value}) is False


@pytest.mark.parametrize("level,priority", [
    (logging.DEBUG, 7), (logging.INFO, 6), (logging.WARNING, 4), (logging.ERROR, 3),
    (logging.CRITICAL, 2), (5, 7), (25, 6), (45, 3), (60, 2)])
def test_priorities(level, priority):
    assert logs.priority(level) == priority


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    level = root.level
    yield
    for handler in [h for h in root.handlers if isinstance(h, logs.OWN_HANDLERS)]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    logging.captureWarnings(False)


def test_reopen_after_rename_writes_to_a_new_file(tmp_path, restore_logging):
    path = tmp_path / "hueyd.log"
    logs.setup("INFO", str(path))
    log = logging.getLogger("hueyd.test")
    log.info("before rotation")
    os.rename(path, tmp_path / "hueyd.log.1")
    log.info("still in the renamed file")
    logs.reopen()
    log.info("after rotation")
    log.debug("not at INFO")
    rotated = (tmp_path / "hueyd.log.1").read_text()
    assert "before rotation" in rotated and "still in the renamed file" in rotated
    fresh = path.read_text().splitlines()
    assert len(fresh) == 1 and fresh[0].endswith("after rotation")
    assert re.match(r"\[\d{4}-\d\d-\d\d ", fresh[0])  # files keep timestamps


def test_setup_replaces_only_its_own_handler(tmp_path, restore_logging):
    root = logging.getLogger()
    foreign = logging.NullHandler()
    root.addHandler(foreign)
    try:
        logs.setup("INFO", str(tmp_path / "a.log"))
        logs.setup("WARNING", str(tmp_path / "b.log"), fmt="%(levelname)s %(message)s")
        own = [h for h in root.handlers if isinstance(h, logs.OWN_HANDLERS)]
        assert len(own) == 1 and own[0].baseFilename == str(tmp_path / "b.log")
        assert foreign in root.handlers and root.level == logging.WARNING
        logging.getLogger("x").warning("custom format")
        assert (tmp_path / "b.log").read_text() == "WARNING custom format\n"
        assert not logs.writes_to_stderr()
        logs.setup("INFO")
        assert logs.writes_to_stderr()
    finally:
        root.removeHandler(foreign)


def test_an_unwritable_log_file_is_an_os_error(tmp_path, restore_logging):
    with pytest.raises(OSError):
        logs.setup("INFO", str(tmp_path / "missing-dir" / "hueyd.log"))


def test_journal_line_prefixes_every_line():
    assert logs.journal_line("a\nb", logging.WARNING) == "<4>a\n<4>b"


def test_timestamps_read_as_logging_writes_them():
    """The per-second cache of the time stamp changes nothing in the text."""
    from hueyd.daemon.logs import FORMAT, Formatter
    ours, theirs = Formatter(FORMAT), logging.Formatter(FORMAT)
    for created in (1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.0005, 1_700_000_000.5,
                    1_711_846_799.9, 1_711_846_800.1):  # around a DST change in Europe
        record = logging.LogRecord("hueyd", logging.INFO, __file__, 1, "m", None, None)
        record.created, record.msecs = created, int((created - int(created)) * 1000) + 0.0
        assert ours.format(record) == theirs.format(record)


def test_the_one_step_format_writes_what_logging_writes():
    """Plain records take a shorter path through our formatter (a worker logs two per
    task): every kind of record still reads as logging's own formatter writes it."""
    from hueyd.daemon.logs import FORMAT, JOURNAL_FORMAT, Formatter, JournalFormatter
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    records = [logging.LogRecord("hueyd.execution", logging.INFO, __file__, 1,
                                 "%s executed in %0.3fs", ("app.noop: 1", 0.5), None),
               logging.LogRecord("app", logging.WARNING, __file__, 2, "%(a)s and %(b)d",
                                 ({"a": "x", "b": 2},), None),
               logging.LogRecord("app", logging.ERROR, __file__, 3, "failed", None, exc_info),
               logging.LogRecord("app", logging.INFO, __file__, 4, "here", None, None,
                                 sinfo="Stack (most recent call last):\n  here")]
    cached = logging.LogRecord("app", logging.ERROR, __file__, 5, "again", None, None)
    cached.exc_text = "Traceback (most recent call last):\nValueError: earlier"
    records.append(cached)
    for fmt, datefmt in ((FORMAT, None), ("%(asctime)s %(message)s", "%H:%M:%S"),
                         ("%(levelname)s %(message)s", None)):
        ours, theirs = Formatter(fmt, datefmt), logging.Formatter(fmt, datefmt)
        for record in records:
            assert ours.format(record) == theirs.format(record), (fmt, record)
    journal = JournalFormatter(JOURNAL_FORMAT)
    assert journal.format(records[0]).startswith("<6>INFO:hueyd.execution:")
    assert all(line.startswith("<3>") for line in journal.format(records[2]).splitlines())


def test_the_one_step_emit_writes_and_flushes_each_record(tmp_path, restore_logging):
    """A record is in the file as soon as it is logged (a worker that dies next loses
    nothing), and a closed file handler behaves as logging's does."""
    path = tmp_path / "hueyd.log"
    logs.setup("INFO", str(path))
    log = logging.getLogger("hueyd.execution")
    log.info("executing %s", "app.noop: 1")
    assert path.read_text().endswith(":executing app.noop: 1\n")
    [handler] = [h for h in logging.getLogger().handlers
                 if isinstance(h, logs.ReopenableFileHandler)]
    handler.close()  # logging's FileHandler opens a closed file again on the next record
    log.info("after close")
    assert path.read_text().endswith(":after close\n")
