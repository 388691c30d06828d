from __future__ import annotations

import logging
import re

import pytest

from sereport import config
from sereport.report.delivery import Result
from sereport.report.reporter import REMIND_EVERY, Reporter

LICENCE = "ZKZCPI000120190807142601"


@pytest.fixture
def make(write_config):
    def build(extra=""):
        return Reporter(config.load(write_config(f"dev_sno: {LICENCE}\nformats: both\n{extra}")))
    return build


def test_no_extension_fields_by_default(make):
    reporter = make()
    gateway, media = (doc for _, doc in reporter.documents())
    assert not {"beat_seq", "boot_id", "sent_at"} & (set(gateway) | set(media))
    reporter.close()


def test_extension_fields_when_asked(make):
    reporter = make("extensions: [beat_seq, boot_id, sent_at]\n")
    reporter.beats = 41
    gateway, media = (doc for _, doc in reporter.documents())
    for doc in (gateway, media):
        assert doc["beat_seq"] == 41
        assert re.fullmatch(r"[0-9a-f-]{36}", doc["boot_id"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["sent_at"])
    reporter.close()


def test_offline_document(make):
    reporter = make()
    gateway = dict(reporter.documents(status="offline"))["gateway"]
    assert gateway["gateway_status"] == "offline"
    assert dict(reporter.documents())["gateway"]["gateway_status"] == "online"
    reporter.close()


def test_the_offline_report_takes_its_snapshot_under_the_beats_lock(make, sink, caplog):
    """A beat still building its snapshot (it shares the entries kept between beats) is
    waited for, up to half the timeout; past that, no offline report, and a warning."""
    import threading
    import time

    reporter = make(f"WEB_HEART_URL: {sink.url}\n")
    with reporter._snapshot:
        started = time.monotonic()
        assert reporter.offline_beat(timeout=0.4) == []
        assert time.monotonic() - started >= 0.2
    assert "no offline report: a beat was still taking its snapshot" in caplog.text
    assert not sink.received
    reporter._snapshot.acquire()
    threading.Timer(0.1, reporter._snapshot.release).start()
    [result] = reporter.offline_beat(timeout=2.0)  # the beat's snapshot ends: then it goes
    assert result.ok and sink.received[0][3]["gateway_status"] == "offline"
    reporter.close()


def test_no_offline_report_before_the_devices_were_first_probed(make, sink, caplog):
    """A stop soon after the start (or one pending across a start again): no device has
    been probed, and a report would call every one offline."""
    import logging

    caplog.set_level(logging.INFO)
    reporter = make(f"WEB_HEART_URL: {sink.url}\ndevices:\n  - url: rtsp://127.0.0.1:9/x\n")
    assert reporter.offline_beat(timeout=2.0) == []
    assert "no offline report: stopped before the devices were first probed" in caplog.text
    assert not sink.received
    reporter.monitor.first_cycle.set()
    [result] = reporter.offline_beat(timeout=2.0)
    assert result.ok and sink.received[0][3]["gateway_status"] == "offline"
    reporter.close()


def fail(reason="connection refused", attempts=1):
    return Result("http://p/x", "gateway", False, reason, attempts=attempts)


def ok():
    return Result("http://p/x", "gateway", True, "HTTP 200 OK", 200)


def test_failures_logged_on_change_with_reminders_and_recovery(make, caplog):
    reporter = make()
    with caplog.at_level(logging.INFO, logger="sereport.report.reporter"):
        reporter._note(ok())
        for _ in range(3):
            reporter._note(fail())
        reporter._note(fail("no answer within 0.4s", 2))
        reporter._note(fail("no answer within 0.2s", 3))  # same kind: not logged again
        for _ in range(REMIND_EVERY - 5):
            reporter._note(fail("no answer within 0.3s"))
        reporter._note(ok())
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("http://p/x accepted the first gateway heartbeat")
    assert messages[1].endswith("gateway report to http://p/x failed: connection refused")
    assert messages[2].endswith("failed after 2 attempts: no answer within 0.4s")
    assert messages[3] == f"http://p/x still failing: {REMIND_EVERY} beats missed in a row " \
                          "(no answer within 0.3s)"
    assert re.fullmatch(r"http://p/x reachable again after \d+ missed beat\(s\), down since "
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(gateway report\)", messages[4])
    assert f"after {REMIND_EVERY} missed" in messages[4]
    assert len(messages) == 5
    reporter.close()


def test_reconfigure_takes_effect_at_the_next_beat(make, write_config):
    reporter = make()
    new = config.load(write_config(f"dev_sno: {LICENCE}\nformats: media\n"))
    reporter.reconfigure(new)
    assert reporter.cfg.formats == ("gateway", "media")  # not yet: a beat in flight keeps its config
    reporter._apply_pending()
    assert reporter.cfg.formats == ("media",) and [f for f, _ in reporter.documents()] == ["media"]
    reporter.close()
