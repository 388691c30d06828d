"""Which value is in force, the config file's or the API's override, and the commands that
show it (`sereport config show`) and drop overrides (`sereport config drop`), run as an
operator runs them."""

from __future__ import annotations

import json
import os
import re

import pytest

import mounts
from procs import run
from sereport import config
from sereport.config import overrides

LICENCE = "ZKZCPI000120190807142601"
BASE = f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://127.0.0.1:9/x\n"


def set_through_api(path: str, changes: dict) -> str:
    """What setconfigs writes, the same functions."""
    over_path = config.overrides_path_of(config.read_file(path))
    file_values = overrides.fold(config.read_file(path))
    overrides.write(over_path, overrides.applied(config.read_overrides(over_path), changes,
                                                 file_values))
    return over_path


def edit(path: str, old: str, new: str) -> None:
    text = open(path).read()
    assert old in text
    with open(path, "w") as handle:
        handle.write(text.replace(old, new))


def test_an_override_wins_until_its_key_is_edited_in_the_file(write_config):
    path = write_config(BASE + "WEB_HEART_TIME: 3\nprobe_timeout: 2\n")
    over_path = set_through_api(path, {"WEB_HEART_TIME": 4, "probe_timeout": 1})
    cfg = config.load(path)
    assert (cfg.interval, cfg.probe_timeout) == (4.0, 1.0)
    assert cfg.overridden == ("WEB_HEART_TIME", "probe_timeout")
    edit(path, "probe_timeout: 2", "probe_timeout: 2  # a comment changes nothing")
    assert config.load(path).interval == 4.0
    edit(path, "WEB_HEART_TIME: 3", "WEB_HEART_TIME: 3.5")  # the operator's later edit
    cfg = config.load(path)
    assert (cfg.interval, cfg.probe_timeout) == (3.5, 1.0)  # only the edited key goes back
    assert [e.key for e in cfg.layers.stale] == ["WEB_HEART_TIME"]
    assert cfg.overridden == ("probe_timeout",)
    text = open(over_path).read()
    assert "WEB_HEART_TIME: 4" in text and re.search(r"at: '?\d{4}-\d\d-\d\dT", text)


def test_the_file_value_under_an_override_is_recorded_not_copied(write_config):
    path = write_config(BASE + "hmac_secret: the-files-secret\n")
    over_path = set_through_api(path, {"hmac_secret": "api-secret"})
    assert "the-files-secret" not in open(over_path).read()
    assert config.load(path).hmac_secret == "api-secret"


def test_an_alias_in_the_file_counts_as_its_key(write_config):
    path = write_config(BASE + "MEDIA_DEVICE_MONITOR_REPORT_PEROID: 3\n")
    set_through_api(path, {"WEB_HEART_TIME": 4})
    assert config.load(path).interval == 4.0
    edit(path, "PEROID: 3", "PEROID: 6")
    assert config.load(path).interval == 6.0


def test_a_hand_written_override_holds_until_recorded(write_config):
    path = write_config(BASE + "WEB_HEART_TIME: 3\n")
    over_path = config.overrides_path_of(config.read_file(path))
    os.makedirs(os.path.dirname(over_path))
    with open(over_path, "w") as handle:
        handle.write("WEB_HEART_TIME: 4\n")
    edit(path, "WEB_HEART_TIME: 3", "WEB_HEART_TIME: 5")
    cfg = config.load(path)
    assert cfg.interval == 4.0  # no record of what it was set over: it holds
    layers = cfg.layers
    overrides.write(over_path, overrides.recorded(list(layers.in_force), layers.file_values))
    assert config.load(path).interval == 4.0
    edit(path, "WEB_HEART_TIME: 5", "WEB_HEART_TIME: 6")
    assert config.load(path).interval == 6.0


@pytest.mark.parametrize("line, key", [("WEB_HEART_TIME: soon", "WEB_HEART_TIME"),
                                       ("MEDIA_DEVICE_MONITOR_REPORT_PEROID: soon", "WEB_HEART_TIME"),
                                       ("formats: xml", "formats")])
def test_a_bad_value_under_an_override_is_an_error_in_its_file(write_config, line, key):
    path = write_config(BASE + line + "\n")
    over_path = config.overrides_path_of(config.read_file(path))
    os.makedirs(os.path.dirname(over_path))
    with open(over_path, "w") as handle:  # held whatever the file says
        handle.write({"WEB_HEART_TIME": "WEB_HEART_TIME: 4\n", "formats": "formats: media\n"}[key])
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: {key}: ") and "soon" in problem or "xml" in problem
    done = run("--config", path, "--dry-run")  # issue 14: it exited 0, silent
    assert done.returncode == 78 and done.stdout == ""
    assert done.stderr == f"sereport: {problem}\n"


def test_an_empty_file_value_under_an_override_is_no_error(write_config):
    path = write_config('dev_sno: ""\nWEB_HEART_URL: http://127.0.0.1:9/x\n')  # as the .deb ships it
    set_through_api(path, {"dev_sno": LICENCE})
    assert config.load(path).dev_sno == LICENCE


# --- sereport config show / drop -------------------------------------------------------

def test_config_show_names_every_origin(write_config):
    path = write_config(BASE + "WEB_HEART_TIME: 3\nhmac_secret: file-secret\n")
    over_path = set_through_api(path, {"WEB_HEART_TIME": 4, "formats": "both",
                                       "hmac_secret": "api-secret"})
    at = config.read_overrides(over_path)[0].at
    done = run("--config", path, "config", "show")
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    assert re.fullmatch(r"WEB_HEART_TIME +4 +\(overrides file " + re.escape(over_path)
                        + f", set {at}, over 3 in {re.escape(path)}\\)", lines["WEB_HEART_TIME"])
    assert lines["formats"].endswith(f'["gateway", "media"]  (overrides file {over_path}, set {at})')
    assert lines["dev_sno"].endswith(f'"***"  (config file {path})')
    assert lines["probe_timeout"].endswith("3.0  (default)")
    assert "secret" not in done.stdout.replace("hmac_secret", "") and LICENCE not in done.stdout
    shown = json.loads(run("--config", path, "config", "show", "--json").stdout)
    assert shown["WEB_HEART_TIME"] == {"value": 4, "origin": "overrides file", "file": over_path,
                                       "set_at": at, "file_value": 3}
    assert shown["hmac_secret"]["file_value"] == "***"
    assert shown["WEB_HEART_URL"] == {"value": "http://127.0.0.1:9/x", "origin": "config file",
                                      "file": path}
    assert shown["api_port"]["origin"] == "config file"  # the test's write_config sets it
    assert shown["photo_port"] == {"value": 80, "origin": "default"}


def test_config_drop(write_config):
    path = write_config(BASE + "WEB_HEART_TIME: 3\n")
    over_path = set_through_api(path, {"WEB_HEART_TIME": 4, "probe_timeout": 1})
    done = run("--config", path, "config", "drop", "MEDIA_DEVICE_MONITOR_REPORT_PEROID")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dropped WEB_HEART_TIME (set 20")
    cfg = config.load(path)
    assert (cfg.interval, cfg.probe_timeout, cfg.overridden) == (3.0, 1.0, ("probe_timeout",))
    done = run("--config", path, "config", "drop", "WEB_HEART_TIME")
    assert done.returncode == 1
    assert done.stderr == f"sereport: {over_path}: no override of WEB_HEART_TIME; it holds probe_timeout\n"
    assert run("--config", path, "config", "drop", "--all").returncode == 0
    assert not os.path.exists(over_path) and config.load(path).overridden == ()
    assert run("--config", path, "config", "drop").returncode == 2  # a key or --all


def test_config_drop_mends_an_override_the_config_refuses(write_config):
    path = write_config(BASE)
    over_path = config.overrides_path_of(config.read_file(path))
    os.makedirs(os.path.dirname(over_path))
    with open(over_path, "w") as handle:
        handle.write("WEB_HEART_TIME: soon\nprobe_timeout: 1\n")
    done = run("--config", path, "config", "show")
    assert done.returncode == 78 and f"{over_path}: WEB_HEART_TIME: 'soon'" in done.stderr
    assert run("--config", path, "config", "drop", "WEB_HEART_TIME").returncode == 0
    assert config.load(path).probe_timeout == 1.0


def test_config_drop_that_cannot_write_changes_nothing(write_config, tmp_path):
    path = write_config(BASE)
    over_path = set_through_api(path, {"WEB_HEART_TIME": 4})
    with mounts.read_only(os.path.dirname(over_path)):  # root could write a 0500 directory
        done = run("--config", path, "config", "drop", "--all")
    assert done.returncode == 1
    assert done.stderr == (f"sereport: {over_path}: cannot write: Read-only file system; "
                           "nothing changed\n")
    assert config.load(path).interval == 4.0


def test_override_lines_mask_secrets(write_config):
    from sereport.config import origins

    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://box:filepass@127.0.0.1:9/x?k=v\n"
                        "hmac_secret: file-secret\nhttp_headers: {X-Key: file-header}\n")
    set_through_api(path, {"WEB_HEART_URL": "http://box:apipass@127.0.0.1:8/y?token=t0k",
                           "hmac_secret": "api-secret", "http_headers": {"X-Key": "api-header"},
                           "dev_sno": "ZKZCPI000120190807149999"})
    lines = origins.override_lines(config.load(path))
    assert len(lines) == 4
    text = "\n".join(lines)
    assert '"***"' in text and '{"X-Key": "***"}' in text and "box:***@127.0.0.1:8" in text
    for secret in ("filepass", "apipass", "t0k", "k=v", "file-secret", "api-secret",
                   "file-header", "api-header", LICENCE, "149999"):
        assert secret not in text, secret
    edit(path, "hmac_secret: file-secret", "hmac_secret: new-file-secret")
    [stale] = origins.stale_lines(config.load(path))
    assert stale.startswith(f"hmac_secret: the edit of {path} (\"***\") wins over \"***\" from ")
