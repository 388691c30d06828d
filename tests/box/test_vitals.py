"""The AI box's vitals (extensions: [ai, uptime, clock_synced]) from fixtures written after
the drivers' printf formats (libsophon driver/bm_attr.c, bmvid vpu.c), odd ones included."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from sereport import config
from sereport.box import vitals
from sereport.box.gateway import Gateway
from sereport.receiver.validate import check
from sereport.report.payload import gateway_document

SE7 = Path(__file__).parent / "fixtures" / "se7-sophonsdk"
VPU_LINE = '{{"id":{}, "link_num":1, "usage(instant|long)":{}%|{}%}}'


@pytest.mark.parametrize("text, value", [
    ("usage:35 avusage:12\n", 35.0),  # current drivers: the last window, not since load
    ('"usage": 7, "avusage": 3\n', 7.0),  # older drivers
    ("usage:100 avusage:99\n", 100.0),
])
def test_tpu_usage(text, value):
    assert vitals.tpu_usage(text) == value


@pytest.mark.parametrize("text, reason", [
    ("Please, set [Usage enable] to 1\n", "sampling is off"),
    ("", "not the driver's npu_usage format"),
])
def test_tpu_usage_odd(text, reason):
    with pytest.raises(ValueError, match=reason):
        vitals.tpu_usage(text)


def test_vpu_usage_mean_of_the_cores_listed():
    five = "\n".join(VPU_LINE.format(i, u, 1) for i, u in enumerate((10, 20, 30, 40, 50)))
    assert vitals.vpu_usage('"core" : [\n' + five + "\n]") == 30.0  # BM1684: 5 cores
    two = "\n".join(VPU_LINE.format(i, u, 1) for i, u in enumerate((33, 34)))
    assert vitals.vpu_usage(two) == 33.5  # a core missing from the file is not counted
    with pytest.raises(ValueError, match="no core's usage"):
        vitals.vpu_usage('{"total_mem_size" : 0, "core" : []}')


def test_temperatures_and_memory_and_uptime():
    assert vitals.temperature("52375\n") == 52.4
    assert vitals.temperature("-5000") == -5.0
    for bad in ("hot", "999999"):
        with pytest.raises(ValueError):
            vitals.temperature(bad)
    summary = ("[0] npu heap size:4141875200 bytes, used:1035468800 bytes usage rate:25%, "
               "memory usage peak 0 bytes\n")
    assert vitals.tpu_memory(summary) == (3.86, 0.25)
    with pytest.raises(ValueError):
        vitals.tpu_memory("")
    assert vitals.uptime("12345.67 40000.12\n") == 12345


def test_clock_synced_reads_the_kernel():
    assert vitals.clock_synced() in (True, False)


def ai_config(write_config, root: Path, extra: str = ""):
    return config.load(write_config(f"dev_sno: X\nhost_root: {root}\nmetrics_timeout: 5\n"
                                    f"extensions: [ai, uptime, clock_synced]\n{extra}"))


def test_gateway_reports_the_vitals_and_the_receiver_accepts_them(write_config):
    cfg = ai_config(write_config, SE7)
    state = Gateway(cfg).collect()
    ext = state.ext
    assert (ext["tpu_usage"], ext["vpu_usage"], ext["chip_temp"], ext["board_temp"]) == (
        35.0, 20.0, 52.4, 41.0)
    assert (ext["tpu_memory_size"], ext["tpu_memory_usage"]) == (3.86, 0.25)
    assert ext["uptime"] == 12345 and isinstance(ext["clock_synced"], bool)
    assert "jpu_usage" not in ext  # reading /proc/jpuinfo would reset the box's counters
    doc = gateway_document(cfg, state, [])
    assert check(doc)[1] == [], check(doc)


def test_vitals_are_off_unless_asked(write_config):
    cfg = config.load(write_config(f"dev_sno: X\nhost_root: {SE7}\n"))
    ext = Gateway(cfg).collect().ext
    assert not set(ext) & {"tpu_usage", "vpu_usage", "chip_temp", "uptime", "clock_synced"}


def test_missing_or_unreadable_sources_are_left_out_and_logged_once(write_config, tmp_path,
                                                                     caplog):
    root = tmp_path / "box"
    shutil.copytree(SE7, root, symlinks=True)
    (root / vitals.TPU_USAGE[1:]).write_text("Please, set [Usage enable] to 1\n")
    (root / vitals.BOARD_TEMP[1:]).unlink()
    heap = root / vitals.TPU_HEAP[1:]
    heap.unlink()
    heap.mkdir()  # unreadable as a file, even for root
    cfg = ai_config(write_config, root)
    with caplog.at_level(logging.WARNING):
        gateway = Gateway(cfg)
        first, second = gateway.collect().ext, gateway.collect().ext
    for ext in (first, second):
        assert not set(ext) & {"tpu_usage", "board_temp", "tpu_memory_size", "tpu_memory_usage"}
        assert ext["chip_temp"] == 52.4 and ext["vpu_usage"] == 20.0
    said = [r.getMessage() for r in caplog.records]
    for what in ("cannot read tpu_usage: the driver's sampling is off",
                 "cannot read board_temp: ", "cannot read tpu_memory: "):
        assert sum(m.startswith(what) for m in said) == 1, said
