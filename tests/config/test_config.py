from __future__ import annotations

import time

import pytest

from sereport import config
from sereport.config import ConfigError

LICENCE = "ZKZCPI000120190807142601"


def problems(write_config, text):
    with pytest.raises(ConfigError) as caught:
        config.load(write_config(text))
    return caught.value.problems


def test_valid_file_with_every_key(write_config):
    path = write_config(f"""
        WEB_HEART_URL: http://10.0.0.5:9528/DeviceStatus
        WEB_HEART_TIME: 7
        dev_sno: {LICENCE}
        formats: both
        media_list_key: sub_devices
        serial_number: SZCCKQRAIJBAH0002
        serial_files: [/x/serial]
        data_path: /mnt/data
        sw_version_file: /etc/buildinfo
        sdk_version_file: /etc/sdkver
        sdk_version: 1.1.56d1e91
        interface: eth0
        http_timeout: 4
        metrics_timeout: 0.5
        send_url_credentials: true
        devices:
          - url: rtsp://192.168.1.100:554/ch2
            name: door
    """)
    cfg = config.load(path)
    assert cfg.urls == ("http://10.0.0.5:9528/DeviceStatus",)
    assert cfg.interval == 7.0
    assert cfg.dev_sno == LICENCE
    assert cfg.formats == ("gateway", "media")
    assert cfg.media_list_key == "sub_devices"
    assert cfg.serial_number == "SZCCKQRAIJBAH0002"
    assert cfg.serial_files == ("/x/serial",)
    assert cfg.data_path == "/mnt/data"
    assert (cfg.sw_version_file, cfg.sdk_version_file) == ("/etc/buildinfo", "/etc/sdkver")
    assert cfg.sdk_version == "1.1.56d1e91"
    assert cfg.interface == "eth0"
    assert (cfg.http_timeout, cfg.metrics_timeout) == (4.0, 0.5)
    assert cfg.send_url_credentials is True
    assert [d.name for d in cfg.devices] == ["door"]


def test_defaults(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\n"))
    assert cfg.urls == ()
    assert cfg.interval == 5.0
    assert cfg.formats == ("gateway",)
    assert cfg.media_list_key == "media_devices"
    assert cfg.data_path == "/data"
    assert cfg.interface == ""
    assert cfg.send_url_credentials is False
    assert cfg.devices == ()


def test_vendor_aliases(write_config):
    cfg = config.load(write_config(f"""
        dev_sno: {LICENCE}
        MEDIA_DEVICE_MONITOR_URL: http://10.0.0.5/a
        MEDIA_DEVICE_MONITOR_REPORT_PEROID: 3
    """))
    assert cfg.urls == ("http://10.0.0.5/a",)
    assert cfg.interval == 3.0


def test_alias_that_disagrees_is_refused(write_config):
    found = problems(write_config, f"""
        dev_sno: {LICENCE}
        WEB_HEART_TIME: 5
        MEDIA_DEVICE_MONITOR_REPORT_PEROID: 3
    """)
    assert len(found) == 1
    assert "MEDIA_DEVICE_MONITOR_REPORT_PEROID: differs from WEB_HEART_TIME" in found[0]


@pytest.mark.parametrize("value", [
    "http://a/x,http://b:8080/y, https://c/z",
    "[http://a/x, http://b:8080/y, https://c/z]",
])
def test_several_urls(write_config, value):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {value}\n"))
    assert cfg.urls == ("http://a/x", "http://b:8080/y", "https://c/z")


@pytest.mark.parametrize("line, expected", [
    ("WEB_HEART_TIME: abc", "WEB_HEART_TIME: 'abc' is not a number; allowed: seconds between beats, from 0.1 to 86400"),
    ("WEB_HEART_TIME: 0", "WEB_HEART_TIME: 0 is out of range; allowed: seconds between beats, from 0.1 to 86400"),
    ("WEB_HEART_TIME: true", "WEB_HEART_TIME: True is not a number"),
    ("WEB_HEART_TIME: .nan", "WEB_HEART_TIME: nan is out of range"),
    ("WEB_HEART_URL: ftp://x/y", "WEB_HEART_URL: 'ftp://x/y' is not an http:// or https:// URL with a host"),
    ("WEB_HEART_URL: http://x:99999/y", "WEB_HEART_URL: 'http://x:99999/y' is not an http:// or https:// URL"),
    ("WEB_HEART_URL: 'http://a/x,http://a/x'", "WEB_HEART_URL: 'http://a/x' is given twice"),
    ("WEB_HEART_URL: {a: 1}", "WEB_HEART_URL: dict is not allowed; allowed: a URL, several separated by commas, or a list of URLs"),
    ("formats: json", "formats: ['json'] is not allowed; allowed: gateway, media, both"),
    ("formats: []", "formats: [] is not allowed"),
    ("formats: [gateway, gateway]", "formats: ['gateway', 'gateway'] is not allowed"),
    ("media_list_key: devices", "media_list_key: 'devices' is not allowed; allowed: media_devices, sub_devices"),
    ("data_path: data", "data_path: 'data' is not an absolute path"),
    ("sw_version_file: [a]", "sw_version_file: ['a'] is not a string"),
    ("sdk_version: 1.10", 'sdk_version: 1.1 is not a string; allowed: text (put it in quotes: "1.1")'),
    ("serial_files: [relative]", "serial_files: ['relative'] is not a list of absolute paths"),
    ("interface: 'eth 0'", "interface: 'eth 0' is not an interface name"),
    ("http_timeout: 0", "http_timeout: 0 is out of range; allowed: seconds for one POST"),
    ("metrics_timeout: x", "metrics_timeout: 'x' is not a number"),
    ("send_url_credentials: yes please", "send_url_credentials: 'yes please' is not a boolean; allowed: true, false"),
    ("devices: {a: 1}", "devices: dict is not a list"),
    ("WEB_HEART_TIMe: 5", "WEB_HEART_TIMe: unknown key; did you mean WEB_HEART_TIME?"),
    ("colour: red", "colour: unknown key; see the README for the keys"),
])
def test_each_bad_value_is_named(write_config, line, expected):
    path = write_config(f"dev_sno: {LICENCE}\n{line}\n")
    found = problems(write_config, f"dev_sno: {LICENCE}\n{line}\n")
    assert len(found) == 1, found
    assert found[0].startswith(f"{path}: ")
    assert expected in found[0]


def test_every_problem_is_reported_at_once(write_config):
    found = problems(write_config, "WEB_HEART_TIME: -1\nformats: x\ndata_path: rel\n")
    keys = [p.split(": ")[1] for p in found]
    assert keys == ["dev_sno", "WEB_HEART_TIME", "formats", "data_path"]


def test_missing_licence_is_named(write_config):
    assert "dev_sno: missing; allowed: the licence code" in problems(write_config, "WEB_HEART_TIME: 5\n")[0]


def test_licence_value_is_not_echoed(write_config):
    found = problems(write_config, "dev_sno: [SECRETLICENCE]\n")
    assert "dev_sno: the value is not a string" in found[0]
    assert "SECRETLICENCE" not in found[0]


def test_url_password_is_not_echoed(write_config):
    found = problems(write_config, f"dev_sno: {LICENCE}\nWEB_HEART_URL: ftp://u:hunter2@x/y?token=abc\n")
    assert "hunter2" not in found[0] and "abc" not in found[0]
    assert "ftp://u:***@x/y?token=***" in found[0]


def test_yaml_syntax_error_names_line(write_config):
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_TIME: [5\n")
    found = problems(write_config, f"dev_sno: {LICENCE}\nWEB_HEART_TIME: [5\n")
    assert found[0].startswith(f"{path}:3:") and "not valid YAML" in found[0]


def test_duplicate_key_is_refused(write_config):
    found = problems(write_config, f"dev_sno: {LICENCE}\nWEB_HEART_TIME: 5\nWEB_HEART_TIME: 6\n")
    assert ":3:1: not valid YAML: key 'WEB_HEART_TIME' given twice" in found[0]


def test_file_that_is_not_a_mapping(write_config):
    assert "the file holds a list; allowed: a mapping" in problems(write_config, "- a\n- b\n")[0]


def test_missing_file(tmp_path):
    path = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert caught.value.problems == [f"{path}: cannot read: No such file or directory"]


def test_not_utf8(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"dev_sno: \xff\xfe\n")
    with pytest.raises(ConfigError) as caught:
        config.load(str(path))
    assert "not UTF-8 text" in caught.value.problems[0]


def test_require_targets(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\n"))
    with pytest.raises(ConfigError) as caught:
        config.require_targets(cfg)
    assert "WEB_HEART_URL: not set" in caught.value.problems[0]


def test_timeouts_stay_below_interval(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_TIME: 1\nhttp_timeout: 30\n"))
    connect, read = cfg.timeouts
    assert connect + read < cfg.interval
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_TIME: 60\nhttp_timeout: 10\n"))
    assert cfg.timeouts == (3.0, 7.0)


def test_devices_duplicate_url_and_id(write_config):
    found = problems(write_config, f"""
        dev_sno: {LICENCE}
        devices:
          - {{name: a, url: "rtsp://1.2.3.4/x"}}
          - {{name: b, url: "rtsp://1.2.3.4/x"}}
          - {{name: c, url: "rtsp://1.2.3.5/x", id: 95274d2c-0941-4d96-b032-ab200f81362c}}
          - {{name: d, url: "rtsp://1.2.3.6/x", id: 95274d2c-0941-4d96-b032-ab200f81362c}}
    """)
    assert len(found) == 2
    assert "devices[1].url: 'rtsp://1.2.3.4/x' is already used by devices[0] (a)" in found[0]
    assert "devices[3].id: '95274d2c-0941-4d96-b032-ab200f81362c' is already used by devices[2] (c)" in found[1]


def test_resolve_path(monkeypatch):
    monkeypatch.delenv("SEREPORT_CONFIG", raising=False)
    assert config.resolve_path(None) == "/etc/sereport/sereport.yaml"
    monkeypatch.setenv("SEREPORT_CONFIG", "/tmp/x.yaml")
    assert config.resolve_path(None) == "/tmp/x.yaml"
    assert config.resolve_path("/a.yaml") == "/a.yaml"


def test_sample_config_is_valid():
    from pathlib import Path
    sample = Path(__file__).parent.parent.parent / "etc/sereport/sereport.yaml"
    cfg = config.load(str(sample))
    assert cfg.urls == ("http://127.0.0.1:9528/DeviceStatus",)


def test_probe_connect_timeout_default_follows_probe_timeout(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nprobe_timeout: 1\n"))
    assert (cfg.probe_timeout, cfg.probe_connect_timeout) == (1.0, 1.0)
    found = problems(write_config, f"dev_sno: {LICENCE}\nprobe_timeout: 1\nprobe_connect_timeout: 1.5\n")
    assert found == [f"{cfg.path}: probe_connect_timeout: 1.5 is longer than probe_timeout 1; "
                     "allowed: at most probe_timeout"]


@pytest.mark.parametrize("line, expected", [
    ("probe_interval: 0.05", "probe_interval: 0.05 is out of range; allowed: 0 for every beat"),
    ("probe_concurrency: 0", "probe_concurrency: 0 is not allowed; allowed: probes at the same time, a whole number from 1 to 10000"),
    ("offline_after: 1.5", "offline_after: 1.5 is not allowed"),
    ("photo_port: 70000", "photo_port: 70000 is not allowed"),
    ("state_dir: var/lib", "state_dir: 'var/lib' is not an absolute path"),
])
def test_probe_keys_are_validated(write_config, line, expected):
    found = problems(write_config, f"dev_sno: {LICENCE}\n{line}\n")
    assert len(found) == 1 and expected in found[0], found


def test_probe_interval_defaults_to_beat_interval(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_TIME: 7\n"))
    assert cfg.probe_every == 7.0
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nWEB_HEART_TIME: 7\nprobe_interval: 30\n"))
    assert cfg.probe_every == 30.0


@pytest.mark.parametrize("line, expected", [
    ("tls_ca_file: /nonexistent/ca.pem", "tls_ca_file: '/nonexistent/ca.pem' cannot be read: No such file or directory"),
    ("tls_client_key: /etc/hostname", "tls_client_key: is set without tls_client_cert"),
    ("http_headers: [a]", "http_headers: list is not a mapping"),
    ("http_headers: {'bad name': x}", "http_headers.bad name: is not a valid header name"),
    ("http_headers: {Content-Type: text/plain}", "http_headers.Content-Type: is set by sereport itself"),
    ('http_headers: {X-A: "a\\nb"}', "http_headers.X-A: the value is not one line of text"),
    ("http_headers: {X-A: \"caf\u00e9\"}", "http_headers.X-A: the value has non-ASCII characters"),
    ("hmac_header: 'X Sig'", "hmac_header: 'X Sig' is not a valid header name"),
    ("extensions: [seq]", "extensions: ['seq'] is not allowed; allowed: a list of beat_seq, boot_id, sent_at"),
    ("offline_beat_on_stop: maybe", "offline_beat_on_stop: 'maybe' is not a boolean"),
    ("probe_keep_connections: maybe", "probe_keep_connections: 'maybe' is not a boolean"),
    ("onvif_listen: 1", "onvif_listen: 1 is not a boolean"),
])
def test_delivery_keys_are_validated(write_config, line, expected):
    found = problems(write_config, f"dev_sno: {LICENCE}\n{line}\n")
    assert len(found) == 1 and expected in found[0], found


def test_header_values_and_secret_never_echoed(write_config):
    found = problems(write_config, f"dev_sno: {LICENCE}\nhttp_headers: {{Authorization: [Bearer, S3CRET]}}\n"
                                   "hmac_secret: [S3CRET]\n")
    assert len(found) == 2 and not any("S3CRET" in p for p in found)


def test_delivery_keys(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\nhttp_headers: {{Authorization: Bearer x}}\n"
                                   "hmac_secret: s\nextensions: [sent_at, beat_seq]\n"))
    assert cfg.http_headers == (("Authorization", "Bearer x"),)
    assert cfg.hmac_secret == "s" and cfg.hmac_header == "X-Sereport-Signature"
    assert cfg.extensions == ("sent_at", "beat_seq")
    assert cfg.offline_beat_on_stop is True
    assert cfg.onvif_listen is False  # opt-in
    assert "hmac_secret='s'" not in repr(cfg)


# --- the local API's overrides and keys ------------------------------------------------

def write_overrides(cfg_path, text):
    import os
    cfg = config.load(cfg_path)
    os.makedirs(cfg.state_dir, exist_ok=True)
    with open(cfg.overrides_path, "w") as handle:
        handle.write(text)
    return cfg.overrides_path


def test_overrides_win_and_are_listed(write_config):
    path = write_config(f"dev_sno: {LICENCE}\nMEDIA_DEVICE_MONITOR_REPORT_PEROID: 5\nformats: gateway\n")
    write_overrides(path, "WEB_HEART_TIME: 9\n")
    cfg = config.load(path)
    assert cfg.interval == 9.0 and cfg.formats == ("gateway",)
    assert cfg.overridden == ("WEB_HEART_TIME",)


def test_error_from_an_override_names_the_overrides_file(write_config):
    path = write_config(f"dev_sno: {LICENCE}\n")
    over = write_overrides(path, "WEB_HEART_TIME: soon\n")
    found = problems(write_config, f"dev_sno: {LICENCE}\n")
    assert found == [f"{over}: WEB_HEART_TIME: 'soon' is not a number; allowed: seconds between "
                     "beats, from 0.1 to 86400"]


def test_overrides_file_may_not_hold_unsettable_keys(write_config):
    path = write_config(f"dev_sno: {LICENCE}\n")
    over = write_overrides(path, "api_port: 80\n")
    with pytest.raises(ConfigError) as caught:
        config.load(path)
    assert caught.value.problems == [f"{over}: api_port: cannot be set through the API; "
                                     f"allowed: set it in {path}"]


def test_merge_treats_an_alias_as_its_key():
    merged = config.merge({"MEDIA_DEVICE_MONITOR_URL": "http://a/x", "dev_sno": "X"},
                          {"WEB_HEART_URL": "http://b/y"})
    assert merged == {"dev_sno": "X", "WEB_HEART_URL": "http://b/y"}
    merged = config.merge({"WEB_HEART_TIME": 5}, {"MEDIA_DEVICE_MONITOR_REPORT_PEROID": 7})
    assert merged == {"WEB_HEART_TIME": 7}


@pytest.mark.parametrize("lines, ok", [
    ("api_host: 127.0.0.1\n", True),
    ("api_host: localhost\n", True),
    ("api_host: '::1'\n", True),
    ("api_host: '[::1]'\n", True),
    ("api_host: 0.0.0.0\napi_token: t\n", True),
    ("api_host: 0.0.0.0\napi_enabled: false\n", True),
    ("api_host: 0.0.0.0\n", False),
    ("api_host: 192.0.2.7\n", False),
])
def test_api_off_loopback_needs_a_token(write_config, lines, ok):
    text = f"dev_sno: {LICENCE}\n{lines}"
    if ok:
        config.load(write_config(text))
    else:
        assert "is not a loopback address and api_token is empty" in problems(write_config, text)[0]


# --- bounds (sereport.limits) ------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("serial_files: " + "[" * 3000 + "]" * 3000 + "\n", "nested deeper than 32 levels"),
    ("extensions: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than 32 levels"),
])
def test_deep_config_is_one_line(write_config, text, message):
    path = write_config("dev_sno: X\n" + text)
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    assert len(caught.value.problems) == 1 and message in caught.value.problems[0]
    assert caught.value.problems[0].startswith(f"{path}: refused: line 2: ")


def test_alias_bomb_config_is_refused_quickly(write_config):
    bomb = 'x: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    for level, previous in zip("bcdefghi", "abcdefgh"):
        bomb += f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
    path = write_config(bomb + "dev_sno: X\n")
    started = time.monotonic()
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    assert time.monotonic() - started < 1.0
    assert caught.value.problems == [
        f"{path}: refused: expands to more than 100000 values (aliases repeated into a bomb?); "
        "allowed: a config nested at most 32 levels, without alias bombs"]


def test_huge_config_is_refused_unread(write_config):
    path = write_config("dev_sno: X\n# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    assert caught.value.problems == [f"{path}: refused: larger than 1 MiB; allowed: a config "
                                     "file of at most 1 MiB"]


def test_a_huge_value_makes_a_short_problem(write_config):
    path = write_config("dev_sno: X\nformats: [" + ", ".join(["xml"] * 20000) + "]\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    [problem] = caught.value.problems
    assert len(problem) < 1000 and problem.startswith(f"{path}: formats: ['xml', 'xml'")
    assert problem.endswith("'xml'] is not allowed; allowed: gateway, media, both, or a list of "
                            "gateway and media") and "..." in problem


def test_runtime_dir_default_is_the_services_else_the_users(write_config, monkeypatch, tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("dev_sno: X\n")  # no runtime_dir: the default
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/sereport")  # systemd's RuntimeDirectory=
    assert config.load(str(path)).runtime_dir == "/run/sereport"
    monkeypatch.delenv("RUNTIME_DIRECTORY")
    import os
    mine = tmp_path / "xdg"
    mine.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(mine))
    assert config.load(str(path)).runtime_dir == f"{mine}/sereport"
    if os.geteuid() == 0:  # after `su`, root may carry another user's: not used
        os.chown(mine, 1000, 1000)
        assert config.load(str(path)).runtime_dir == "/tmp/sereport-0"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/nonexistent")
    assert config.load(str(path)).runtime_dir == f"/tmp/sereport-{os.geteuid()}"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert config.load(str(path)).runtime_dir == f"/tmp/sereport-{os.geteuid()}"
    path.write_text('dev_sno: X\nruntime_dir: ""\n')
    assert config.load(str(path)).runtime_dir == f"/tmp/sereport-{os.geteuid()}"
def test_api_host_in_brackets_is_the_address(write_config):
    cfg = config.load(write_config(f"dev_sno: {LICENCE}\napi_host: '[::1]'\n"))
    assert cfg.api_host == "::1"


@pytest.mark.parametrize("line, expected", [
    ("api_idle_timeout: 0", "api_idle_timeout: 0 is not allowed; allowed: seconds before a quiet "
                            "API connection is closed, a whole number from 1 to 3600"),
    ("api_idle_timeout: 2.5", "api_idle_timeout: 2.5 is not allowed"),
    ("api_idle_timeout: '10'", "api_idle_timeout: '10' is not allowed"),
])
def test_api_idle_timeout_is_validated(write_config, line, expected):
    assert config.load(write_config(f"dev_sno: {LICENCE}\n")).api_idle_timeout == 10
    assert config.load(write_config(f"dev_sno: {LICENCE}\napi_idle_timeout: 3\n")).api_idle_timeout == 3
    found = problems(write_config, f"dev_sno: {LICENCE}\n{line}\n")
    assert len(found) == 1 and expected in found[0], found


def test_api_idle_timeout_cannot_be_set_through_the_api():
    assert "api_idle_timeout" in config.NOT_SETTABLE


@pytest.mark.parametrize("text", ["WEB_HEART_TIME: 1" + "0" * 400, "probe_timeout: -1" + "0" * 400,
                                  "offline_after: 9" * 1 + "9" * 400])
def test_huge_integers_are_one_line(write_config, text):
    path = write_config("dev_sno: X\n" + text + "\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    [problem] = caught.value.problems
    assert len(problem) < 1000 and ("is out of range" in problem or "is not allowed" in problem), \
        problem


def test_unknown_key_with_a_newline_stays_on_one_line(write_config):
    path = write_config('dev_sno: X\n"bad\\nsereport: x.yaml: ok": 1\n')
    with pytest.raises(config.ConfigError) as caught:
        config.load(path)
    assert all("\n" not in p for p in caught.value.problems), caught.value.problems


def test_state_dir_default_is_the_services_else_the_users(monkeypatch, tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("dev_sno: X\n")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/sereport")  # systemd's StateDirectory=
    assert config.load(str(path)).state_dir == "/var/lib/sereport"
    monkeypatch.delenv("STATE_DIRECTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert config.load(str(path)).state_dir == str(tmp_path / "xdg" / "sereport")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.load(str(path)).state_dir == str(tmp_path / "home/.local/state/sereport")
