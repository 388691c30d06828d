from __future__ import annotations

import json

from peers import HttpSink, refused_port
from procs import run

LICENCE = "ZKZCPI000120190807142601"


def decode_all(text):
    decoder, docs, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)
        while at < len(text) and text[at].isspace():
            at += 1
    return docs


def test_version_and_help():
    assert run("--version").stdout.startswith("sereport ")
    out = run("--help").stdout
    for word in ("--dry-run", "--once", "--config", "run", "receive"):
        assert word in out


def test_dry_run_prints_one_json_document_without_network(write_config):
    # The URL points at a port nobody listens on: a dry run must not try it.
    path = write_config(f"""
        dev_sno: {LICENCE}
        formats: both
        WEB_HEART_URL: http://127.0.0.1:{refused_port()}/DeviceStatus
        data_path: /
        devices:
          - {{url: "rtsp://u:p@127.0.0.3:9/ch1", name: cam, status: online}}
    """)
    done = run("--config", path, "--dry-run")
    assert done.returncode == 0, done.stderr
    [both] = decode_all(done.stdout)  # one document a JSON tool can read (json.tool)
    assert list(both) == ["gateway", "media"]
    gateway, media = both["gateway"], both["media"]
    assert gateway["dev_sno"] == LICENCE and gateway["gateway_status"] == "online"
    assert gateway["sub_devices"][0]["ep_id"] == f"{LICENCE}__127.0.0.3"
    assert "disk_size" in gateway["gateway_ext_data"]
    assert media["mq_license_key"] == LICENCE
    assert media["media_devices"][0]["media_device_url"] == "rtsp://127.0.0.3:9/ch1"
    assert done.stdout.startswith("{\n  ")  # pretty-printed
    assert "p@" not in done.stdout + done.stderr


def test_dry_run_needs_no_url(write_config):
    done = run("--config", write_config(f"dev_sno: {LICENCE}\n"), "--dry-run")
    assert done.returncode == 0 and json.loads(done.stdout)["dev_sno"] == LICENCE


def test_bad_config_exits_78_with_every_problem(write_config):
    path = write_config("WEB_HEART_TIME: soon\nformats: xml\n")
    for mode in ((), ("--dry-run",), ("--once",), ("run",)):
        done = run("--config", path, *mode)
        assert done.returncode == 78
        lines = done.stderr.strip().splitlines()
        assert lines == [
            f"sereport: {path}: dev_sno: missing; allowed: the licence code the platform issued "
            "to this box, e.g. ZKZCPI000120190807142601",
            f"sereport: {path}: WEB_HEART_TIME: 'soon' is not a number; allowed: seconds "
            "between beats, from 0.1 to 86400",
            f"sereport: {path}: formats: ['xml'] is not allowed; allowed: gateway, media, both, "
            "or a list of gateway and media",
        ]
        assert done.stdout == ""


def test_missing_config_file_exits_78(tmp_path):
    done = run("--config", str(tmp_path / "none.yaml"), "--dry-run")
    assert done.returncode == 78 and "none.yaml: cannot read: No such file" in done.stderr


def test_once_and_run_need_a_url(write_config):
    path = write_config(f"dev_sno: {LICENCE}\n")
    for mode in (("--once",), ("run",)):
        done = run("--config", path, *mode)
        assert done.returncode == 78 and "WEB_HEART_URL: not set" in done.stderr


def test_once_exit_status_follows_delivery(write_config):
    good, bad = HttpSink(), HttpSink(status=500)
    try:
        ok = run("--config", write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: {good.url}\n"), "--once")
        assert ok.returncode == 0, ok.stderr
        assert len(good.received) == 1 and good.received[0][3]["dev_sno"] == LICENCE
        mixed = run("--config", write_config(
            f"dev_sno: {LICENCE}\nWEB_HEART_URL: '{good.url},{bad.url}'\n"), "--once")
        assert mixed.returncode == 1
        assert "FAILED (HTTP 500" in mixed.stdout
        refused = run("--config", write_config(
            f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://127.0.0.1:{refused_port()}/x\n"), "--once")
        assert refused.returncode == 1 and "connection refused" in refused.stdout
    finally:
        good.close()
        bad.close()


def test_unknown_option_is_a_usage_error():
    done = run("--bogus")
    assert done.returncode == 2 and "unrecognized arguments: --bogus" in done.stderr


def test_check_says_whether_run_would_start(write_config):
    good = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://127.0.0.1:9/x\n")
    done = run("--config", good, "check")
    assert (done.returncode, done.stdout.strip()) == (0, f"{good}: ok")
    # An unconfigured box (the packaged config): one line per problem, exit 78.
    empty = write_config('dev_sno: ""\nWEB_HEART_URL: ""\n', name="empty.yaml")
    done = run("--config", empty, "check")
    assert done.returncode == 78 and done.stdout == ""
    assert done.stderr.splitlines() == [f"sereport: {empty}: dev_sno: missing; allowed: the licence "
                                        "code the platform issued to this box, e.g. "
                                        "ZKZCPI000120190807142601"]
    no_url = write_config(f"dev_sno: {LICENCE}\n", name="no-url.yaml")
    done = run("--config", no_url, "check")
    assert done.returncode == 78 and "WEB_HEART_URL: not set" in done.stderr


def test_global_options_on_either_side_of_the_command(write_config):
    path = write_config(f"dev_sno: {LICENCE}\n")
    for args in (["--dry-run", "--config", path], ["run", "--dry-run", "--config", path],
                 ["--config", path, "run", "--dry-run"], ["run", "--config", path, "--dry-run",
                                                           "--log-level", "error"]):
        done = run(*args)
        assert done.returncode == 0 and json.loads(done.stdout)["dev_sno"] == LICENCE, (args, done.stderr)
    path = write_config(f"dev_sno: {LICENCE}\nWEB_HEART_URL: http://127.0.0.1:9/x\n", name="full.yaml")
    for args in (["devices", "list", "--config", path], ["devices", "--config", path, "list"],
                 ["check", "--config", path], ["--log-level", "debug", "devices", "list",
                                               "--config", path]):
        done = run(*args)  # the file given, not the default /etc/sereport/sereport.yaml
        assert done.returncode == 0 and "/etc/sereport" not in done.stderr, (args, done.stderr)
    done = run("--config", path, "--dry-run", "run", "--once")
    assert done.returncode == 2 and "not allowed with" in done.stderr


def test_dry_run_output_reads_with_json_tool(write_config):
    import subprocess
    import sys

    path = write_config(f"dev_sno: {LICENCE}\nformats: both\n")
    done = run("--config", path, "--dry-run")
    tool = subprocess.run([sys.executable, "-m", "json.tool"], input=done.stdout,
                          capture_output=True, text=True, timeout=30)
    assert tool.returncode == 0, tool.stderr
