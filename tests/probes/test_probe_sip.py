"""The sip (GB28181) probe against sipp and silent or closed UDP ports."""

from __future__ import annotations

import pytest

from helpers import probe
from peers import SilentUdp, SippOptionsPeer, free_udp_port


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
