"""The local API's overrides file, ``<state_dir>/overrides.yaml``: the keys setconfigs
set, when, and over which value of the config file.

The rule (README, "Which value is in force"): a key set through the API wins over the
config file until that key is edited in the config file; then the edit wins, and the
override is dropped.  So the file records, beside each value, the time it was set and a
digest of the config file's value under it (present or not, the value itself is not
copied: it may be a secret).  A key whose digest no longer matches the file's value was
edited in the file after the override was set: it is stale.  A key with no record (a hand
edit, or a file from an older sereport) holds until the daemon records the file's value
under it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass

import yaml

from sereport import atomic
from sereport.digests import sha256
from sereport.config.model import ALIASES, canonical

META = "_set"  # the overrides file's key holding when each key was set, and over what
HEADER = """\
# Set through sereport's local API (setconfigs). A key here wins over the config file
# until that key is edited in the config file: then the edit wins and the key is dropped
# from here. `sereport config show` tells where every value in force comes from;
# `sereport config drop KEY` (or deleting the key here) goes back to the file's value.
"""


@dataclass(frozen=True)
class Override:
    key: str  # the vendor's name for it
    value: object
    at: str = ""  # when it was set (UTC, ISO 8601); "" when not recorded
    under: str = ""  # digest of the config file's value when it was set; "" when not recorded

    def holds(self, file_values: dict) -> bool:
        """Still in force: the config file's value of the key is what it was when set."""
        return not self.under or self.under == digest(file_values, self.key)


def fold(raw: dict) -> dict:
    """The vendor's key names for the later firmware's aliases."""
    folded = dict(raw)
    for name, alias in ALIASES.items():
        if alias in folded and name not in folded:
            folded[name] = folded.pop(alias)
    return folded


def digest(file_values: dict, key: str) -> str:
    """Identifies the config file's value of ``key`` (absent counts too)."""
    shown = json.dumps([key in file_values, file_values.get(key)], sort_keys=True, default=str,
                       ensure_ascii=False)
    return "sha256:" + sha256(shown.encode("utf-8")).hexdigest()[:16]


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def entries(mapping: dict) -> list[Override]:
    """The overrides file's mapping as entries; a malformed record counts as none."""
    mapping = dict(mapping)
    meta = mapping.pop(META, None)
    meta = meta if isinstance(meta, dict) else {}
    found = []
    for key, value in fold(mapping).items():
        record = meta.get(key) if isinstance(key, str) else None
        record = record if isinstance(record, dict) else {}
        at, under = record.get("at", ""), record.get("file", "")
        found.append(Override(key, value, at if isinstance(at, str) else "",
                              under if isinstance(under, str) else ""))
    return found


def applied(current: list[Override], changes: dict, file_values: dict) -> list[Override]:
    """The entries once ``changes`` (setconfigs' config_dict) are made: a value sets its key
    now, over the file's present value; null removes it.  Stale entries go."""
    kept = {e.key: e for e in current if e.holds(file_values)}
    at = now()
    for key, value in changes.items():
        key = canonical(key)
        if value is None:
            kept.pop(key, None)
        else:
            kept[key] = Override(key, value, at, digest(file_values, key))
    return list(kept.values())


def recorded(current: list[Override], file_values: dict) -> list[Override]:
    """The entries that hold, each with a record of the file's value under it."""
    return [e if e.under else Override(e.key, e.value, e.at, digest(file_values, e.key))
            for e in current if e.holds(file_values)]


def text(found: list[Override]) -> str:
    values = {e.key: e.value for e in found}
    meta = {e.key: {k: v for k, v in (("at", e.at), ("file", e.under)) if v} for e in found}
    body = yaml.safe_dump(values, allow_unicode=True, sort_keys=True) if values else ""
    if any(meta.values()):
        body += (f"# when each key was set, and a digest of the config file's value it is set "
                 f"over\n" + yaml.safe_dump({META: meta}, sort_keys=True))
    return HEADER + body


def write(path: str, found: list[Override]) -> None:
    """Write the entries atomically (no file when there are none); OSError when it cannot."""
    if not found:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        return
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    atomic.write(path, text(found).encode("utf-8"))


@dataclass(frozen=True)
class Layers:
    """Where the values in force come from: the config file's own keys (aliases folded)
    and the overrides, those in force and those the file's edits made stale."""
    path: str
    overrides_path: str
    file_values: dict
    in_force: tuple = ()  # Override entries
    stale: tuple = ()  # Override entries a later edit of the config file won over
