from __future__ import annotations

from sereport import probes
from sereport.devices.records import parse_device

FAST = probes.Settings(timeout=1.0, connect_timeout=0.5)


def device(**fields):
    made, problems = parse_device(fields, "test device")
    assert not problems, problems
    return made


def probe(settings=FAST, **fields) -> probes.Outcome:
    return probes.run(device(**fields), settings)
