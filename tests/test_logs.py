from __future__ import annotations

import logging
import os

import pytest

from sereport import logs


@pytest.fixture(autouse=True)
def restore_root_logging():
    """logs.setup() replaces the root handlers with one on a stream these tests close:
    put back what was there, or later tests log into a closed file."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def emit(stream, level=logging.WARNING, text="platform down\nsecond line"):
    logs.setup("debug", stream)
    logging.getLogger("sereport.test").log(level, text)
    stream.flush()


def test_journald_gets_priority_prefixes_and_no_timestamps(tmp_path, monkeypatch):
    path = tmp_path / "journal"
    with open(path, "w") as stream:
        st = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
        emit(stream)
        emit(stream, logging.INFO, "beat ok")
        emit(stream, logging.ERROR, "bad config")
    assert path.read_text().splitlines() == [
        "<4>platform down", "<4>second line", "<6>beat ok", "<3>bad config"]


def test_terminal_gets_timestamps(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")  # somebody else's journal stream
    path = tmp_path / "tty"
    with open(path, "w") as stream:
        emit(stream, logging.INFO, "beat ok")
    line = path.read_text().strip()
    assert line.endswith(" INFO beat ok") and line[:4].isdigit() and line[10] == " "


def test_log_level(tmp_path):
    path = tmp_path / "out"
    with open(path, "w") as stream:
        logs.setup("warning", stream)
        logging.getLogger("sereport.test").info("hidden")
        logging.getLogger("sereport.test").warning("shown")
    assert "hidden" not in path.read_text() and "shown" in path.read_text()


def test_values_cannot_split_or_forge_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("JOURNAL_STREAM", "1:2")
    path = tmp_path / "out"
    with open(path, "w") as stream:
        logs.setup("info", stream)
        log = logging.getLogger("sereport.test")
        log.warning("device %s is now %s", "front\ndoor\x1b[2J\x1b]0;pwned\x07", "offline")
        log.info("answer %r from %s", "a\r\nb", 42)
        log.info("%(name)s ok", {"name": "x\ny"})
        stream.flush()
    lines = path.read_text().splitlines()
    assert len(lines) == 3, lines
    assert lines[0].endswith("device front\\ndoor\\x1b[2J\\x1b]0;pwned\\x07 is now offline")
    assert lines[1].endswith("answer 'a\\r\\nb' from 42") and lines[2].endswith("x\\ny ok")


def test_urllib3_never_logs_urls(tmp_path):
    """Its warnings carry the URL with its query (e.g. on an answer's bad headers)."""
    path = tmp_path / "out"
    with open(path, "w") as stream:
        logs.setup("debug", stream)
        logging.getLogger("urllib3.connection").warning(
            "Failed to parse headers (url=%s): x", "http://p/DeviceStatus?token=abc")
        logging.getLogger("urllib3.connectionpool").debug("http://p:80 \"POST /?token=abc\"")
    assert "abc" not in path.read_text()
