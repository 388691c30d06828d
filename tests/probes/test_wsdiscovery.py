"""The WS-Discovery messages: our Probe as a third-party implementation (the WSDiscovery
package) reads it, its answers as we read them, and hostile datagrams refused whole.
(Over real sockets: tests/devices/test_discover.py, in network namespaces.)"""

from __future__ import annotations

import time

import pytest

from sereport.probes import wsdiscovery as wsd

wsdiscovery = pytest.importorskip("wsdiscovery", reason="the WSDiscovery package (.[test])")
from wsdiscovery.actions import constructBye, constructHello, constructProbeMatch  # noqa: E402
from wsdiscovery.message import createSOAPMessage, parseSOAPMessage  # noqa: E402
from wsdiscovery.service import Service  # noqa: E402

NVT = wsdiscovery.QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
EPR = "urn:uuid:6f1c4b2e-6d0a-4f4e-9a36-1b2c3d4e5f60"


def service(*scopes: str, xaddrs=("http://192.0.2.5:8080/onvif/device_service",), types=(NVT,)):
    return Service(list(types), [wsdiscovery.Scope(s) for s in scopes], list(xaddrs), EPR, "1")


def test_our_probe_is_what_a_third_party_reads_as_one_for_video_transmitters():
    env = parseSOAPMessage(wsd.probe_message("urn:uuid:abc"), "192.0.2.1")
    assert env.getAction() == "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe"
    assert [str(t) for t in env.getTypes()] == [str(NVT)]
    assert env.getMessageId() == "urn:uuid:abc"
    assert wsd.parse(wsd.probe_message("urn:uuid:abc")).action == wsd.PROBE


def test_a_third_party_probe_match_hello_and_bye():
    camera = service("onvif://www.onvif.org/name/Front%20Door",
                     "onvif://www.onvif.org/hardware/IPC-HFW2431",
                     "onvif://www.onvif.org/location/city/Shenzhen",
                     "onvif://www.onvif.org/location/floor/2")
    data = createSOAPMessage(constructProbeMatch([camera], "urn:uuid:rel")).encode()
    message = wsd.parse(data, "192.0.2.99")
    assert (message.action, message.relates_to) == (wsd.PROBE_MATCHES, "urn:uuid:rel")
    [match] = message.matches
    assert (match.epr, match.ip, match.service_url, match.service_port) == (
        EPR, "192.0.2.5", "http://192.0.2.5:8080/onvif/device_service", 8080)
    assert (match.scope("name"), match.scope("hardware"), match.scope("location")) == (
        "Front Door", "IPC-HFW2431", "city/Shenzhen floor/2")
    assert match.is_camera
    hello = wsd.parse(createSOAPMessage(constructHello(camera)).encode(), "192.0.2.99")
    assert hello.action == wsd.HELLO and hello.matches[0].epr == EPR
    bye = wsd.parse(createSOAPMessage(constructBye(camera)).encode(), "192.0.2.99")
    assert bye.action == wsd.BYE and bye.matches[0].epr == EPR
    assert bye.matches[0].ip == "192.0.2.99"  # no XAddrs in a Bye: the sender's address


def test_address_and_port_when_the_xaddrs_say_little():
    match = wsd.parse(createSOAPMessage(constructProbeMatch(
        [service(xaddrs=("http://camera.local/onvif/device_service",))], "r")).encode(),
        "192.0.2.4").matches[0]
    assert (match.ip, match.service_port) == ("192.0.2.4", 80)
    both = wsd.parse(createSOAPMessage(constructProbeMatch([service(xaddrs=(
        "http://[fe80::1]/onvif/device_service", "http://192.0.2.6:8000/onvif/device_service"))],
        "r")).encode(), "192.0.2.4").matches[0]
    assert (both.ip, both.service_url, both.service_port) == (
        "192.0.2.6", "http://192.0.2.6:8000/onvif/device_service", 8000)
    printer = wsdiscovery.QName("http://schemas.microsoft.com/windows/2006/08/wdp/print", "PrintDeviceType")
    other = wsd.parse(createSOAPMessage(constructProbeMatch([service(types=(printer,))], "r"))
                      .encode()).matches[0]
    assert not other.is_camera


def envelope(body: str, action: str = "ProbeMatches") -> bytes:
    return ('<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
            f"<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/{action}</a:Action>"
            f"</s:Header><s:Body>{body}</s:Body></s:Envelope>").encode()


def probe_match(inner: str) -> str:
    return ("<d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:1"
            f"</a:Address></a:EndpointReference>{inner}</d:ProbeMatch></d:ProbeMatches>")


LAUGHS = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
          + "]><r>&i;</r>")


@pytest.mark.parametrize("data, reason", [
    (b"", "not XML"),
    (b"\xff\xfe<\x00", "not UTF-8"),
    (LAUGHS.encode(), "has a DOCTYPE or an entity declaration"),
    (b'<!doctype r SYSTEM "file:///etc/passwd"><r/>', "has a DOCTYPE"),
    (envelope(probe_match("x" * wsd.MAX_DATAGRAM)), "larger than 32 KiB"),
    (envelope("<x>" * 20 + "</x>" * 20), "nested deeper than 16"),
    (envelope("<x/>" * 600), "more than 500 elements"),
    (envelope("<d:ProbeMatches><d:ProbeMatch>"), "not well-formed XML"),
    (b"<r/>", "not a SOAP envelope"),
    (envelope("", action="Resolve"), "action 'Resolve' is not"),
    (envelope("<d:ProbeMatches/>"), "a ProbeMatches with no ProbeMatch"),
    (envelope("<d:ProbeMatches><d:ProbeMatch/></d:ProbeMatches>"), "without an endpoint reference"),
])
def test_hostile_datagrams_are_refused_whole(data, reason):
    with pytest.raises(wsd.BadMessage, match=reason):
        wsd.parse(data)


def test_hostile_text_is_cleaned_and_bounded():
    scopes = " ".join(["onvif://www.onvif.org/name/Evil%1B%5B2J%0A%E2%80%A8" + "n" * 500]
                      + [f"onvif://www.onvif.org/x/{i}" for i in range(300)])
    data = envelope(probe_match(f"<d:Scopes>{scopes}</d:Scopes><d:XAddrs>"
                                + "http://192.0.2.1/ " * 100 + "</d:XAddrs>"))
    started = time.perf_counter()
    match = wsd.parse(data).matches[0]
    assert time.perf_counter() - started < 1
    name = match.scope("name")
    assert name.startswith("Evil [2J") and len(name) == wsd.MAX_FIELD
    assert not any(c in name for c in "\x1b\n\u2028")
    assert len(match.scopes) <= wsd.MAX_ITEMS and len(match.xaddrs) <= wsd.MAX_ITEMS


def test_at_most_max_matches_per_datagram():
    many = "".join(f"<d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:{i}</a:Address>"
                   "</a:EndpointReference></d:ProbeMatch>" for i in range(40))
    assert len(wsd.parse(envelope(f"<d:ProbeMatches>{many}</d:ProbeMatches>")).matches) == \
        wsd.MAX_MATCHES
