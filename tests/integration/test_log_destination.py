"""Where the log goes (design notes §4: the journal, or a log file): with a log file,
every record goes to the file and none to stderr (under systemd: the journal); only an
error before the file is opened reaches stderr, as one line."""
from __future__ import annotations

import signal

from tests.helpers import wait_for
from tests.integration.test_cli_errors import assert_config_error, run_hueyd

FAST = ("-n", "-c", "1", "-d", "0.01", "-m", "0.05")


def test_with_a_log_file_every_record_goes_there_and_none_to_stderr(make_app, hueyd_proc,
                                                                    tmp_path):
    app = make_app("sqlite")
    log = tmp_path / "hueyd.log"
    daemon = hueyd_proc(app, "tasksapp.huey", "-k", "process", "-w", "2", *FAST, "-l", str(log))
    assert app.tasks.add(1, 2).get(blocking=True, timeout=15) == 3
    app.huey.storage.enqueue(b"garbage")  # an error record too
    wait_for(lambda: "as a dead letter" in log.read_text(), 15, message="the error record")
    daemon.signal(signal.SIGINT)
    assert daemon.wait(15) == 0
    text = log.read_text()
    assert "executing tasksapp.add" in text and "hueyd exiting (code 0)" in text
    assert daemon.output == ""  # stdout and stderr of the master and its workers


def test_an_error_before_the_log_file_is_opened_goes_to_stderr(make_app, tmp_path):
    app = make_app("sqlite")
    unopenable = tmp_path / "no-such-folder" / "hueyd.log"
    assert_config_error(run_hueyd(app, ["tasksapp.huey", "-l", str(unopenable)]),
                        "no-such-folder")
