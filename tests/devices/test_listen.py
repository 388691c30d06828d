"""The onvif_listen listener's bounds, over a real loopback UDP socket (the group socket
and the real daemon: tests/devices/test_discover.py, in network namespaces)."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from sereport import config
from sereport.devices import listen
from sereport.devices.discover import device_id
from sereport.devices.listen import Listener
from sereport.devices.monitor import Monitor
from sereport.devices.registry import Registry

wsdiscovery = pytest.importorskip("wsdiscovery", reason="the WSDiscovery package (.[test])")
from wsdiscovery.actions import constructBye, constructHello  # noqa: E402
from wsdiscovery.message import createSOAPMessage  # noqa: E402
from wsdiscovery.service import Service  # noqa: E402

EPR = "urn:uuid:6f1c4b2e-6d0a-4f4e-9a36-1b2c3d4e5f60"
NVT = wsdiscovery.QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")


def message(construct, epr: str = EPR, name: str = "Gate") -> bytes:
    camera = Service([NVT], [wsdiscovery.Scope(f"onvif://www.onvif.org/name/{name}")],
                     ["http://192.0.2.5/onvif/device_service"], epr, "1")
    return createSOAPMessage(construct(camera)).encode()


@pytest.fixture
def heard(write_config, tmp_path):
    """(listener, monitor, send): a Listener on a loopback socket, not started; send()
    delivers datagrams and has the listener read what is waiting."""
    video = tmp_path / "gate.mp4"
    video.write_bytes(b"x")
    cfg = config.load(write_config("dev_sno: ZKZCPI000120190807142601\ndevices:\n"
                                   f"  - {{url: {video}, id: {device_id(EPR)}, name: Gate}}\n"))
    monitor = Monitor(cfg, Registry(cfg.registry_path, cfg.devices))
    monitor.cycle()
    listener = Listener(monitor)
    listener._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener._sock.bind(("127.0.0.1", 0))
    listener._sock.setblocking(False)
    listener._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(*datagrams: bytes) -> None:
        for data in datagrams:
            peer.sendto(data, listener._sock.getsockname())
        while listener._read_one():
            pass

    yield listener, monitor, send, cfg.devices[0]
    peer.close()
    listener._sock.close()


def test_bye_of_a_registered_camera_marks_it_offline(heard, caplog):
    listener, monitor, send, device = heard
    assert monitor.states()[device.id].status == "online"
    with caplog.at_level(logging.INFO):
        send(message(constructBye))
    state = monitor.states()[device.id]
    assert (state.status, state.reason, state.detail) == (
        "offline", "bye", "said Bye (WS-Discovery) from 127.0.0.1")


def test_a_datagram_from_the_box_itself_is_ignored(heard):
    listener, monitor, send, device = heard
    listener._own = {"127.0.0.1"}  # a local process cannot forge a Bye
    send(message(constructBye))
    assert monitor.states()[device.id].status == "online"


def test_hello_is_logged_once_per_camera(heard, caplog):
    listener, monitor, send, device = heard
    with caplog.at_level(logging.INFO, logger="sereport.devices.listen"):
        send(*[message(constructHello)] * 3)
        send(*[message(constructHello, "urn:uuid:other", "Yard")] * 3)
    assert [r.getMessage() for r in caplog.records] == [
        "device Gate (" + device.url + ") said Hello (WS-Discovery): probed at the next cycle",
        "Yard at 192.0.2.5 said Hello and is not registered: `sereport discover --add` "
        "registers it"]


def test_malformed_and_flooding_datagrams_are_bounded(heard, caplog):
    listener, monitor, send, device = heard
    with caplog.at_level(logging.WARNING, logger="sereport.devices.listen"):
        send(b"<!DOCTYPE x>", b"\xff" * 60000, b"<s:Envelope/>")
        assert (listener.bad, listener.dropped) == (3, 0)
        send(*[b"junk"] * 400)  # at once: past the burst, the rest dropped unread
    assert listener.heard == 403
    assert listener.dropped >= 400 - listen.BURST
    assert listener.bad == 3 + listener.heard - 3 - listener.dropped
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and lines[0].startswith("onvif_listen: 0 datagram(s) dropped")
    time.sleep(2 / listen.RATE)  # the bucket refills: still listening
    send(message(constructBye))
    assert monitor.states()[device.id].reason == "bye"
