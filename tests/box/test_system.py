from __future__ import annotations

import os

import pytest

from sereport.box.system import MAX_TEXT, System

ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t0101A8C0\t0003\t0\t0\t200\t00000000\t0\t0\t0
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
"""


def proc_with_route(tmp_path, text):
    (tmp_path / "net").mkdir()
    (tmp_path / "net/route").write_text(text)
    return System(proc_root=str(tmp_path))


def test_default_route_lowest_metric(tmp_path):
    assert proc_with_route(tmp_path, ROUTE).default_route_interface() == "eth0"


def test_no_default_route(tmp_path):
    assert proc_with_route(tmp_path, ROUTE.splitlines()[0] + "\n").default_route_interface() == ""


def test_disk_of_a_real_directory(tmp_path):
    size, free = System().disk(str(tmp_path))
    assert size > 0 and 0 <= free <= size


def test_read_text_refuses_huge_file(tmp_path):
    path = tmp_path / "big"
    path.write_bytes(b"x" * (MAX_TEXT + 1))
    with pytest.raises(OSError):
        System().read_text(str(path))


def test_real_readings_have_the_right_shape():
    system = System()
    busy, total = system.cpu_times()
    assert 0 <= busy <= total
    mem_total, available = system.memory()
    assert 0 < available <= mem_total
    assert system.hostname()
    interfaces = system.interfaces()
    assert interfaces["lo"].ipv4 == "127.0.0.1" and "lo" in system.up_interfaces()
    assert all(i.mac == i.mac.lower() for i in interfaces.values())


@pytest.mark.skipif(not os.path.exists("/proc/net/route"), reason="no /proc/net/route")
def test_real_route_table_parses():
    assert isinstance(System().default_route_interface(), str)
