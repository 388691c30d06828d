from __future__ import annotations

import logging
import threading
import time

import pytest

from sereport import config
from sereport.box.gateway import Gateway
from sereport.box.system import Interface

GiB = 2**30
SW = "build.date=2019年 08月 06日 星期二 17:42:49 CST\nBUILD TIME: 20190806_173257\nVERSION: V2R1C01\n"


class FakeSystem:
    """Readings as the seed's example box would give them."""

    def __init__(self):
        self.files = {"/system/data/buildinfo.txt": SW, "/etc/sdkver": "1.1.56d1e91\n",
                      "/proc/device-tree/serial-number": "SZCCKQRAIJBAH0002\x00"}
        self.cpu = []
        self.route = "eth0"
        self.broken: set[str] = set()
        self.hang = threading.Event()
        self.hanging: set[str] = set()
        self.calls: dict[str, int] = {}

    def _call(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1
        if name in self.broken:
            raise OSError(5, "Input/output error")
        if name in self.hanging:
            self.hang.wait(30)

    def hostname(self):
        self._call("hostname")
        return "bm1682landy93"

    def default_route_interface(self):
        self._call("route")
        return self.route

    def interfaces(self):
        self._call("interfaces")
        return {"lo": Interface("lo", "127.0.0.1", "00:00:00:00:00:00", True),
                "eth0": Interface("eth0", "192.168.1.251", "e0:a5:09:00:0e:6d", True),
                "eth1": Interface("eth1", "10.9.8.7", "e0:a5:09:00:0e:6e", True)}

    def up_interfaces(self):
        self._call("up")
        return {"lo", "eth0", "eth1"}

    def cpu_times(self):
        self._call("cpu")
        if self.cpu:
            return self.cpu.pop(0)
        self.ticks = getattr(self, "ticks", 0) + 10
        return self.ticks / 2, float(self.ticks)

    def memory(self):
        self._call("memory")
        return int(1.55 * GiB), int(0.23 * 1.55 * GiB)

    def disk(self, path):
        self._call("disk")
        assert path == "/data"
        return int(10.39 * GiB), int(9.41 * GiB)

    def read_text(self, path):
        self._call(path)
        try:
            return self.files[path]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", path) from None

    def read_link(self, path):
        return self.read_text(path)

    def run(self, command, timeout):
        return self.read_text(command)


@pytest.fixture
def cfg(write_config):
    return config.load(write_config("dev_sno: ZKZCPI000120190807142601\n"
                                    "sdk_version_file: /etc/sdkver\nmetrics_timeout: 0.2\n"))


@pytest.fixture
def system():
    fake = FakeSystem()
    yield fake
    fake.hang.set()


def test_seed_example_values(cfg, system):
    system.cpu = [(6.5, 100.0)]
    state = Gateway(cfg, system).collect()
    assert (state.ip, state.name, state.sn, state.dev_sno, state.status) == (
        "192.168.1.251", "bm1682landy93", "SZCCKQRAIJBAH0002", "ZKZCPI000120190807142601", "online")
    assert state.ext == {"sw_version": SW, "sdk_version": "1.1.56d1e91",
                         "gateway_mac": "e0:a5:09:00:0e:6d", "cpu_usage": 6.5,
                         "memory_size": 1.55, "memory_usage": 0.77,
                         "disk_size": 10.39, "disk_free_size": 9.41}
    assert all(isinstance(state.ext[k], float) for k in
               ("cpu_usage", "memory_size", "memory_usage", "disk_size", "disk_free_size"))


def test_cpu_is_since_previous_reading(cfg, system):
    system.cpu = [(50.0, 100.0), (51.0, 104.0), (51.0, 104.0), (60.0, 113.0)]
    gateway = Gateway(cfg, system)
    assert gateway.collect().ext["cpu_usage"] == 50.0  # first: the average since boot
    assert gateway.collect().ext["cpu_usage"] == 25.0  # 1 busy of 4
    assert "cpu_usage" not in gateway.collect().ext  # no time passed: nothing to say
    assert gateway.collect().ext["cpu_usage"] == 100.0


def test_rounding(cfg, system):
    system.memory = lambda: (2 * GiB, int(2 * GiB * 0.6666))
    system.disk = lambda path: (int(10.005 * GiB) + 1, 12345)
    ext = Gateway(cfg, system).collect().ext
    assert ext["memory_size"] == 2.0 and ext["memory_usage"] == 0.33
    assert ext["disk_size"] == 10.01 and ext["disk_free_size"] == 0.0


def test_configured_values_win(write_config, system):
    cfg = config.load(write_config('dev_sno: X\nserial_number: SN1\nsdk_version: "9.9"\ninterface: eth1\n'))
    state = Gateway(cfg, system).collect()
    assert (state.sn, state.ip, state.ext["sdk_version"], state.ext["gateway_mac"]) == (
        "SN1", "10.9.8.7", "9.9", "e0:a5:09:00:0e:6e")
    assert "route" not in system.calls


def test_no_default_route_falls_back_to_an_up_interface(cfg, system):
    system.route = ""
    assert Gateway(cfg, system).collect().ip == "192.168.1.251"


def test_serial_from_second_file(write_config, system):
    cfg = config.load(write_config("dev_sno: X\nserial_files: [/missing, /proc/device-tree/serial-number]\n"))
    assert Gateway(cfg, system).collect().sn == "SZCCKQRAIJBAH0002"


def test_static_files_read_once(cfg, system):
    gateway = Gateway(cfg, system)
    for _ in range(3):
        gateway.collect()
    assert system.calls["/system/data/buildinfo.txt"] == 1
    assert system.calls["disk"] == 3


def test_warm_does_the_first_time_work_but_not_the_cpu_reading(cfg, system):
    gateway = Gateway(cfg, system)
    gateway.warm()
    assert system.calls["/system/data/buildinfo.txt"] == 1 and system.calls["disk"] == 1
    assert "cpu" not in system.calls  # the first beat's CPU figure still spans since boot
    state = gateway.collect()
    assert system.calls["/system/data/buildinfo.txt"] == 1
    assert state.ext["sw_version"] and "cpu_usage" in state.ext


@pytest.mark.parametrize("broken, missing", [
    ("memory", {"memory_size", "memory_usage"}),
    ("disk", {"disk_size", "disk_free_size"}),
    ("cpu", {"cpu_usage"}),
    ("/etc/sdkver", {"sdk_version"}),
    ("interfaces", {"gateway_mac"}),
])
def test_failing_reading_is_left_out_and_logged_once(cfg, system, caplog, broken, missing):
    system.broken.add(broken)
    gateway = Gateway(cfg, system)
    with caplog.at_level(logging.WARNING):
        first, second = gateway.collect(), gateway.collect()
    full = {"sw_version", "sdk_version", "gateway_mac", "cpu_usage", "memory_size",
            "memory_usage", "disk_size", "disk_free_size"}
    assert set(first.ext) == set(second.ext) == full - missing
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and "Input/output error" in warnings[0]


def test_required_field_unreadable_is_empty_string(cfg, system):
    system.files.clear()
    state = Gateway(cfg, system).collect()
    assert state.ext["sw_version"] == "" and state.sn == ""


def test_recovery_is_logged_and_value_returns(cfg, system, caplog):
    system.broken.add("memory")
    gateway = Gateway(cfg, system)
    with caplog.at_level(logging.INFO):
        gateway.collect()
        system.broken.clear()
        assert "memory_size" in gateway.collect().ext
    assert [r.getMessage() for r in caplog.records][-1] == "memory can be read again"


def test_hanging_disk_is_bounded_and_not_piled_up(cfg, system, caplog):
    system.hanging.add("disk")
    gateway = Gateway(cfg, system)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        first = gateway.collect()
        threads_after_first = threading.active_count()
        second = gateway.collect()
    took = time.monotonic() - started
    assert "disk_size" not in first.ext and "disk_size" not in second.ext
    assert "memory_size" in second.ext
    assert took < 0.2 * 2 + 1.0  # one metrics_timeout, the second call does not wait again
    assert system.calls["disk"] == 1  # the stuck reading was not started twice
    assert threading.active_count() == threads_after_first  # no new thread for a stuck reading
    assert "no answer within 0.2s" in caplog.records[0].getMessage()
    system.hang.set()  # the mount comes back
    time.sleep(0.1)
    system.hanging.clear()
    assert "disk_size" in gateway.collect().ext


def test_missing_static_file_is_retried_later_not_every_beat(cfg, system, monkeypatch):
    from sereport.box import gateway as gateway_module

    del system.files["/system/data/buildinfo.txt"]
    gateway = Gateway(cfg, system)
    gateway.collect()
    gateway.collect()
    assert system.calls["/system/data/buildinfo.txt"] == 1  # not again at once
    system.files["/system/data/buildinfo.txt"] = SW
    monkeypatch.setattr(gateway_module, "RETRY_STATIC", 0.0)
    gateway._retry_at.clear()
    assert gateway.collect().ext["sw_version"] == SW
