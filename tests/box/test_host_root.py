"""The box's own files, read under host_root from fixture trees made after the
vendor's formats (tests/box/fixtures/*: SophonSDK and BMNNSDK2 firmware)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from sereport import config
from sereport.box.gateway import Gateway, sdk_of_link, serial_of
from sereport.box.system import MAX_TEXT, System
from procs import run

BOXES = Path(__file__).parent / "fixtures"
SE7 = BOXES / "se7-sophonsdk"  # kernel 5.4: bm_version, libsophon-current, board controller JSON
SE5 = BOXES / "se5-bmnnsdk2"  # kernel 4.9: buildinfo.txt, device-tree serial
LICENCE = "ZKZCPI000120190807142601"


def box_config(write_config, root: Path, extra: str = "") -> str:
    return write_config(f"dev_sno: {LICENCE}\nhost_root: {root}\ndata_path: /data\n"
                        f"metrics_timeout: 5\n{extra}")


def test_sophonsdk_box(write_config):
    cfg = config.load(box_config(write_config, SE7))
    state = Gateway(cfg).collect()
    assert state.sn == "HQDZKM5BJBJAJ0137"  # "product sn" of the board controller's JSON
    sw = state.ext["sw_version"]
    assert sw.startswith("SophonSDK version: v23.09 LTS-SP3\nsophon-soc-libsophon : 0.5.1\n")
    assert sw.endswith("MCUVersion: 0x05\n")  # bm_version's output, verbatim
    assert state.ext["sdk_version"] == "0.5.1"  # libsophon-current -> libsophon-0.5.1
    # procfs under host_root: the fixture's meminfo and stat, not this machine's
    assert state.ext["memory_size"] == round(4030000 * 1024 / 2**30, 2)
    assert state.ext["memory_usage"] == 0.25
    assert state.ext["cpu_usage"] == 17.0  # (10000 - 8000 idle - 300 iowait) / 10000
    assert state.ext["disk_size"] > 0  # statvfs of <host_root>/data


def test_bmnnsdk2_box(write_config, caplog):
    cfg = config.load(box_config(write_config, SE5))
    with caplog.at_level(logging.WARNING):
        gateway = Gateway(cfg)
        first, second = gateway.collect(), gateway.collect()
    assert first.sn == "SZCCKQRAIJBAH0002"  # the device tree's, NUL trimmed
    assert first.ext["sw_version"] == (SE5 / "system/data/buildinfo.txt").read_text()
    assert "sdk_version" not in first.ext and "sdk_version" not in second.ext
    sdk = [r.getMessage() for r in caplog.records if "sdk_version" in r.getMessage()]
    assert len(sdk) == 1 and sdk[0].endswith(  # left out, logged once
        "/se5-bmnnsdk2/opt/sophon/libsophon-current: No such file or directory")
    assert not any("sw_version" in r.getMessage() for r in caplog.records)


def test_dry_run_reads_the_box_under_host_root(write_config):
    path = box_config(write_config, SE7, "extensions: [boot_id]\ninterface: lo\n")
    done = run("--config", path, "--dry-run")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["gateway_sn"] == "HQDZKM5BJBJAJ0137"
    assert doc["gateway_ext_data"]["sdk_version"] == "0.5.1"
    assert doc["gateway_ext_data"]["sw_version"].startswith("SophonSDK version: v23.09 LTS-SP3\n")
    assert doc["boot_id"] == "5f1e2c3a-7b9d-4e11-9a0b-0c1d2e3f4a5b"
    assert "cannot read" not in done.stderr, done.stderr


@pytest.mark.parametrize("text, serial", [
    ('{\n\t"model": "SE5",\n\t"product sn": "ABC123",\n\t"reset count": 0\n}\n', "ABC123"),
    ('{\n\t"model": "SE5",\n\t"product sn": "ABC123",\n\t"board type"', "ABC123"),  # cut short
    ('{\n\t"model": "SE5",\n\t"product sn": "",\n\t"reset count": 0\n}\n', ""),  # not written
    ('{"model": "SE5"}', ""),
    ('{"a": ' + "[" * 100000, ""),  # nested past the parser's depth: no crash
    ("SZCCKQRAIJBAH0002\x00", "SZCCKQRAIJBAH0002"),
    ("  0123456789\n", "0123456789"),
], ids=["json", "cut-short", "empty-sn", "no-sn", "deep", "device-tree", "dmi"])
def test_serial_formats(text, serial):
    assert serial_of(text) == serial


def test_empty_product_sn_falls_through_to_the_next_file(write_config, tmp_path):
    info = tmp_path / "sys/bus/i2c/devices/1-0017"
    info.mkdir(parents=True)
    (info / "information").write_text('{\n\t"product sn": "",\n\t"reset count": 1\n}\n')
    (tmp_path / "proc/device-tree").mkdir(parents=True)
    (tmp_path / "proc/device-tree/serial-number").write_bytes(b"DT-SERIAL\x00")
    cfg = config.load(write_config(f"dev_sno: X\nhost_root: {tmp_path}\n"))
    assert Gateway(cfg)._serial() == "DT-SERIAL"


@pytest.mark.parametrize("target, version", [
    ("/opt/sophon/libsophon-0.5.1", "0.5.1"),
    ("libsophon-0.4.9-LTS", "0.4.9-LTS"),
    ("/opt/sophon/libsophon-0.5.1/", "0.5.1"),
    ("/opt/sophon/sdk-2024", "sdk-2024"),
])
def test_sdk_version_from_the_link(target, version):
    assert sdk_of_link(target) == version


def script(tmp_path: Path, body: str) -> System:
    (tmp_path / "usr/sbin").mkdir(parents=True, exist_ok=True)
    program = tmp_path / "usr/sbin/bm_version"
    program.write_text("#!/bin/sh\n" + body)
    program.chmod(0o755)
    return System(str(tmp_path))


def test_version_program_is_bounded(tmp_path):
    with pytest.raises(OSError, match="no answer within 0.3s"):
        script(tmp_path, "sleep 30\n").run("/usr/sbin/bm_version", 0.3)
    with pytest.raises(OSError, match=f"more than {MAX_TEXT} bytes"):
        script(tmp_path, "yes\n").run("/usr/sbin/bm_version", 5)
    with pytest.raises(OSError, match="exited with status 3"):
        script(tmp_path, "exit 3\n").run("/usr/sbin/bm_version", 5)
    with pytest.raises(FileNotFoundError):
        System(str(tmp_path / "nowhere")).run("/usr/sbin/bm_version", 5)


def test_version_file_wins_when_the_program_fails(write_config, tmp_path):
    script(tmp_path, "exit 1\n")
    (tmp_path / "system/data").mkdir(parents=True)
    (tmp_path / "system/data/buildinfo.txt").write_text("VERSION: V2R1C01\n")
    cfg = config.load(write_config(f"dev_sno: X\nhost_root: {tmp_path}\n"))
    assert Gateway(cfg).collect().ext["sw_version"] == "VERSION: V2R1C01\n"


@pytest.mark.parametrize("key, value", [
    ("host_root", "/tmp"), ("sw_version_command", "/bin/sh"), ("sw_version_file", "/etc/shadow"),
    ("serial_files", ["/etc/shadow"]), ("sdk_version_link", "/tmp/x"), ("tls_ca_file", "/tmp/ca"),
])
def test_box_paths_cannot_come_from_the_overrides_file(write_config, tmp_path, key, value):
    path = write_config(f"dev_sno: X\nstate_dir: {tmp_path / 'state'}\n")
    (tmp_path / "state").mkdir()
    (tmp_path / "state/overrides.yaml").write_text(json.dumps({key: value}))
    with pytest.raises(config.ConfigError, match=f"{key}: cannot be set through the API"):
        config.load(path)
