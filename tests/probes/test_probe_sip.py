"""The sip (GB28181) probe against sipp, kamailio on [::1] (it drops a request whose IPv6
addresses are not bracketed), and silent or closed UDP ports."""

from __future__ import annotations

import os
import re
import socket

import pytest

from helpers import probe
from peers import KamailioPeer, SilentUdp, SippOptionsPeer, free_udp_port
from sereport import probes


@pytest.fixture(scope="module")
def sipp():
    peer = SippOptionsPeer()
    yield peer
    peer.close()


def test_sipp_answers(sipp):
    outcome = probe(url=f"gb28181://34020000001320000001@127.0.0.1:{sipp.port}")
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", "SIP 200")


def test_vendor_typo_scheme_and_probe_port(sipp):
    outcome = probe(url="gb28281://34020000001320000001@127.0.0.1", probe_port=sipp.port)
    assert outcome.ok


def test_closed_udp_port_is_refused():
    outcome = probe(url=f"gb28181://3402@127.0.0.1:{free_udp_port()}")
    assert (outcome.ok, outcome.reason) == (False, "refused")


def test_silent_udp_port_times_out():
    silent = SilentUdp()
    try:
        outcome = probe(url=f"gb28181://3402@127.0.0.1:{silent.port}")
        first = silent.sock.recv(4096).decode()
    finally:
        silent.close()
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    assert first.startswith(f"OPTIONS sip:3402@127.0.0.1:{silent.port} SIP/2.0\r\n")
    assert "CSeq: 1 OPTIONS" in first and "Call-ID: " in first and "Via: SIP/2.0/UDP " in first


@pytest.fixture(scope="module")
def kamailio(tmp_path_factory):
    peer = KamailioPeer(tmp_path_factory.mktemp("kamailio"))
    yield peer
    peer.close()


@pytest.mark.parametrize("ip", ["::1", "[::1]", "0:0:0:0:0:0:0:1"])
def test_kamailio_on_ipv6_loopback_answers(kamailio, ip):
    outcome = probe(url=f"gb28181://34020000001320000001@[::1]:{kamailio.port}", ip=ip)
    assert (outcome.ok, outcome.reason, outcome.detail) == (True, "ok", "SIP 200")


def test_kamailio_drops_what_the_probe_sent_before_brackets(kamailio):
    """The peer is a fair judge: the old unbracketed request gets nothing, the bracketed one 200."""
    def ask(bracket) -> bytes:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.connect(("::1", kamailio.port))
            sock.settimeout(0.5)
            me = sock.getsockname()[1]
            b = bracket
            uri = f"sip:ok@{b('::1')}:{kamailio.port}"
            sock.send("\r\n".join([
                f"OPTIONS {uri} SIP/2.0",
                f"Via: SIP/2.0/UDP {b('::1')}:{me};rport;branch=z9hG4bK{os.urandom(6).hex()}",
                "Max-Forwards: 70", f"From: <sip:sereport@{b('::1')}>;tag=1", f"To: <{uri}>",
                "Call-ID: unbracketed@sereport", "CSeq: 1 OPTIONS",
                f"Contact: <sip:sereport@{b('::1')}:{me}>", "Content-Length: 0", "", ""]).encode())
            try:
                return sock.recv(65536)
            except socket.timeout:
                return b""

    assert ask(lambda host: host) == b""
    assert ask(lambda host: f"[{host}]").startswith(b"SIP/2.0 200 OK\r\n")


def test_ipv6_request_lines_are_bracketed():
    silent = SilentUdp("::1")
    try:
        outcome = probe(probes.Settings(timeout=0.3, connect_timeout=0.2),
                        url=f"gb28181://3402@[::1]:{silent.port}", ip="::1")
        lines = silent.sock.recv(4096).decode().split("\r\n")
    finally:
        silent.close()
    assert (outcome.ok, outcome.reason) == (False, "timeout")
    uri = f"sip:3402@[::1]:{silent.port}"
    assert lines[0] == f"OPTIONS {uri} SIP/2.0"
    assert re.fullmatch(r"Via: SIP/2\.0/UDP \[::1\]:\d+;rport;branch=z9hG4bK[0-9a-f]{12}", lines[1])
    assert re.fullmatch(r"From: <sip:sereport@\[::1\]>;tag=[0-9a-f]{8}", lines[3])
    assert lines[4] == f"To: <{uri}>"
    assert re.fullmatch(r"Contact: <sip:sereport@\[::1\]:\d+>", lines[7])
