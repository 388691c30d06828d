"""A hostile WS-Discovery peer for the tests, run inside a test network namespace.

    hostile_wsd.py INTERFACE answer      answer each Probe with every malformed datagram
                                         below, then one good ProbeMatch with hostile text
    hostile_wsd.py INTERFACE flood N     answer each Probe with N good ProbeMatches, each
                                         for another device, 2000 a second
    hostile_wsd.py INTERFACE send        send the malformed datagrams to the group (for a
                                         listener), then exit

Prints "ready" once it listens.
"""

from __future__ import annotations

import socket
import struct
import sys
import time
import uuid

GROUP, PORT = "239.255.255.250", 3702
ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>'
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"><s:Header>'
            "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/{action}</a:Action>"
            "<a:MessageID>urn:uuid:{mid}</a:MessageID><a:RelatesTo>{relates}</a:RelatesTo>"
            "</s:Header><s:Body>{body}</s:Body></s:Envelope>")
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE s:Envelope [<!ENTITY a "aaaaaaaaaa">'
          + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi"))
          + ']><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&i;'
          "</s:Body></s:Envelope>")


def match(epr: str, name: str, ip: str, scopes: int = 1) -> str:
    extra = " ".join(f"onvif://www.onvif.org/extra/{i}" for i in range(scopes))
    return ("<d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>"
            f"{epr}</a:Address></a:EndpointReference><d:Types>dn:NetworkVideoTransmitter"
            f"</d:Types><d:Scopes>onvif://www.onvif.org/name/{name} {extra}</d:Scopes>"
            f"<d:XAddrs>http://{ip}/onvif/device_service</d:XAddrs>"
            "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches>")


def malformed(relates: str) -> list[bytes]:
    def env(action: str, body: str) -> bytes:
        return ENVELOPE.format(action=action, mid=uuid.uuid4(), relates=relates,
                               body=body).encode()
    return [
        b"\x00\xff garbage, not XML",
        LAUGHS.encode(),
        env("ProbeMatches", match("urn:uuid:big", "x" * 40000, "192.0.2.9")),  # over 32 KiB
        env("ProbeMatches", "<x>" * 2000 + "</x>" * 2000),  # nested too deep
        env("ProbeMatches", "<d:ProbeMatches><d:ProbeMatch>"),  # not well-formed
        env("ProbeMatches", "<d:ProbeMatches><d:ProbeMatch/></d:ProbeMatches>"),  # no EPR
        env("Probe", "").decode().encode("utf-16"),  # not UTF-8
    ]


def sender_socket(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                    struct.pack("4s4si", bytes(4), bytes(4), socket.if_nametoindex(interface)))
    return sock


def main(interface: str, mode: str, count: int = 0) -> None:
    if mode == "send":
        sock = sender_socket(interface)
        for data in malformed(""):
            sock.sendto(data, (GROUP, PORT))
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", PORT))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                    struct.pack("4s4si", socket.inet_aton(GROUP), bytes(4),
                                socket.if_nametoindex(interface)))
    print("ready", flush=True)
    answered = set()
    while True:
        data, peer = sock.recvfrom(65535)
        text = data.decode("utf-8", "replace")
        if "/discovery/Probe<" not in text:
            continue
        mid = text.split("MessageID>", 1)[1].split("<", 1)[0]
        if mid in answered:  # the Probe is sent twice
            continue
        answered.add(mid)
        out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if mode == "answer":
            for datagram in malformed(mid):
                out.sendto(datagram, peer)
            hostile = ENVELOPE.format(action="ProbeMatches", mid=uuid.uuid4(), relates=mid,
                                      body=match("urn:uuid:0f0f0f0f-0000-4000-8000-000000000001",
                                                 "Evil%1B%5B2J%0Aname", "192.0.2.7", 200))
            out.sendto(hostile.encode(), peer)
        else:
            for i in range(count):
                body = match(f"urn:uuid:{uuid.UUID(int=i)}", f"cam{i}", "192.0.2.8")
                out.sendto(ENVELOPE.format(action="ProbeMatches", mid=uuid.uuid4(),
                                           relates=mid, body=body).encode(), peer)
                time.sleep(0.0005)  # a flood the reader keeps up with: the bound is what stops it
        out.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:]))
