"""The file probe: exists, regular, readable, not empty."""

from __future__ import annotations

import pytest

from helpers import probe


def test_good_file(tmp_path):
    video = tmp_path / "test.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    outcome = probe(url=str(video))
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", "12 bytes")


@pytest.mark.parametrize("make, reason", [
    (lambda p: None, "missing_file"),
    (lambda p: p.write_bytes(b""), "empty_file"),
    (lambda p: p.mkdir(), "not_a_file"),
])
def test_bad_files(tmp_path, make, reason):
    path = tmp_path / "test.mp4"
    make(path)
    outcome = probe(url=str(path))
    assert (outcome.ok, outcome.reason) == (False, reason)


def test_unreadable_file(tmp_path, monkeypatch):
    # Root reads any file, so the permission error is made where open() is called.
    from sereport.probes import file as file_probe

    path = tmp_path / "test.mp4"
    path.write_bytes(b"data")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(file_probe, "open", denied, raising=False)
    outcome = file_probe.check(str(path))
    assert (outcome.ok, outcome.reason, outcome.detail) == (False, "unreadable", "Permission denied")
