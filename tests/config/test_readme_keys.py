"""The README's Configuration section documents every config key, alias and device key in its
tables (a row per key, the key in backquotes in the first cell), and names no key that is not
one."""

from __future__ import annotations

import re
from pathlib import Path

from sereport.config import model, origins
from sereport.devices import records

README = Path(__file__).parents[2] / "README.md"


def documented() -> tuple[set[str], str]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Configuration\n"):]
    section = section[:section.index("\n## ", 1)]
    keys = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            keys.update(re.findall(r"`([A-Za-z_]+)`", line.split("|")[1]))
    return keys, section


def test_every_key_is_in_the_configuration_tables():
    keys, section = documented()
    wanted = set(origins.names()) | {"devices"} | set(records.FIELDS)
    assert sorted(wanted - keys) == []
    assert sorted(keys - wanted) == []
    assert [alias for alias in model.ALIASES.values() if f"`{alias}`" not in section] == []
