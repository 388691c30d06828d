"""Issue 14's precedence trips, in a real `sereport run`: an override set through the API
(setconfigs over HTTP) and the operator's later edit of the config file."""

from __future__ import annotations

import os
import signal

import pytest
import requests

from peers import Platform
from procs import wait_for

LICENCE = "ZKZCPI000120190807142601"


@pytest.fixture
def platforms():
    made = [Platform(), Platform(), Platform()]
    yield made
    for peer in made:
        peer.close()


def edit(path: str, old: str, new: str) -> None:
    text = open(path).read()
    assert old in text
    with open(path, "w") as handle:
        handle.write(text.replace(old, new))


def setconfigs(path: str, changes: dict) -> None:
    from sereport import config

    cfg = config.load(path)
    token = open(os.path.join(cfg.state_dir, "api-token")).read().strip()
    answer = requests.post(f"http://127.0.0.1:{cfg.api_port}/sophon/v2/face/setconfigs",
                           json={"config_dict": changes}, timeout=5,
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text


def started(write_config, daemon, url: str, extra: str = ""):
    """A daemon beating every second to `url` with its API up: (config path, process)."""
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {url}\nWEB_HEART_TIME: 1\n{extra}")
    proc = daemon(path)
    proc.wait_log("local API on")
    return path, proc


def test_a_file_edit_after_setconfigs_wins_and_says_so(write_config, daemon, platforms):
    first, by_api, fixed = platforms
    path, proc = started(write_config, daemon, first.url, "offline_beat_on_stop: false\n")
    setconfigs(path, {"WEB_HEART_TIME": 2, "WEB_HEART_URL": by_api.url})
    wait_for(lambda: by_api.arrivals, 10)
    over_path = os.path.join(os.path.dirname(path), "state_dir", "overrides.yaml")
    log = proc.wait_log(f"WEB_HEART_TIME: 2 from {over_path} (set through the API at ")
    assert f"wins over 1 in {path}; `sereport config drop WEB_HEART_TIME` goes back" in log
    assert f'WEB_HEART_URL: "{by_api.url}" from {over_path}' in log

    # The operator fixes the URL and the interval in the file, and sends SIGHUP.
    stat = os.stat(path)
    edit(path, f"WEB_HEART_URL: {first.url}", f"WEB_HEART_URL: {fixed.url}")
    edit(path, "WEB_HEART_TIME: 1", "WEB_HEART_TIME: 3")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # only SIGHUP sees it
    proc.proc.send_signal(signal.SIGHUP)
    log = proc.wait_log("config reloaded (SIGHUP)")
    assert f"WEB_HEART_TIME: the edit of {path} (3) wins over 2 from {over_path}" in log
    assert f"WEB_HEART_URL: the edit of {path} (\"{fixed.url}\") wins over" in log
    assert "WEB_HEART_TIME 2 -> 3" in log and "has not changed" not in log
    wait_for(lambda: fixed.arrivals, 10)  # beats go where the file says
    assert not os.path.exists(over_path)  # both overrides dropped, none left
    proc.proc.send_signal(signal.SIGHUP)
    proc.wait_log(f"SIGHUP: {path} read again; no value in force changed")
    assert proc.terminate()[0] == 0


def test_overrides_are_logged_at_start_and_an_unrelated_edit_keeps_them(write_config, daemon,
                                                                         platforms):
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {platforms[0].url}\n"
                        "WEB_HEART_TIME: 1\nprobe_timeout: 2\n")
    state = os.path.join(os.path.dirname(path), "state_dir")
    os.makedirs(state)
    with open(os.path.join(state, "overrides.yaml"), "w") as handle:
        handle.write("WEB_HEART_TIME: 2\n")  # by hand: no record of what it is over
    proc = daemon(path)
    log = proc.wait_log("WEB_HEART_TIME: 2 from ")
    assert "(set by hand or by an older sereport) wins over 1 in" in log
    wait_for(lambda: "_set:" in open(os.path.join(state, "overrides.yaml")).read())
    edit(path, "probe_timeout: 2", "probe_timeout: 1")  # another key: the override holds
    log = proc.wait_log("config reloaded (file changed): probe_timeout 2.0 -> 1.0")
    assert log.count("WEB_HEART_TIME: 2 from ") == 2 and "WEB_HEART_TIME 2" not in log
    edit(path, "WEB_HEART_TIME: 1", "WEB_HEART_TIME: 4")  # this key: the edit wins
    proc.wait_log("config reloaded (file changed): WEB_HEART_TIME 2 -> 4")
    assert proc.terminate()[0] == 0


def test_a_bad_file_value_under_an_override_is_not_reloaded(write_config, daemon, platforms):
    path, proc = started(write_config, daemon, platforms[0].url, "probe_timeout: 2\n")
    setconfigs(path, {"probe_timeout": 1})
    proc.wait_log("config reloaded (API): probe_timeout 2.0 -> 1.0")
    edit(path, "probe_timeout: 2", "probe_timeout: slow")
    log = proc.wait_log("config not reloaded (file changed): ")
    assert f"{path}: probe_timeout: 'slow' is not a number" in log


def test_config_drop_takes_effect_in_a_running_daemon(write_config, daemon, platforms):
    from procs import run

    path, proc = started(write_config, daemon, platforms[0].url, "offline_beat_on_stop: false\n")
    setconfigs(path, {"WEB_HEART_TIME": 2})
    proc.wait_log("config reloaded (API): WEB_HEART_TIME 1 -> 2")
    done = run("--config", path, "config", "drop", "WEB_HEART_TIME")
    assert done.returncode == 0, done.stderr
    proc.wait_log("config reloaded (file changed): WEB_HEART_TIME 2 -> 1", timeout=5)
    assert proc.terminate()[0] == 0
