from __future__ import annotations

import logging
import os

from sereport import logs


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


def test_urllib3_never_logs_urls(tmp_path):
    """Its warnings carry the URL with its query (e.g. on an answer's bad headers)."""
    path = tmp_path / "out"
    with open(path, "w") as stream:
        logs.setup("debug", stream)
        logging.getLogger("urllib3.connection").warning(
            "Failed to parse headers (url=%s): x", "http://p/DeviceStatus?token=abc")
        logging.getLogger("urllib3.connectionpool").debug("http://p:80 \"POST /?token=abc\"")
    assert "abc" not in path.read_text()
