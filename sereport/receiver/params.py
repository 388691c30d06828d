"""Query parameters of the receiver's GETs, checked: a bad one is a 400 naming it."""

from __future__ import annotations

import calendar
import re
import time
from urllib.parse import parse_qsl

MAX_QUERY = 2048


class BadParam(ValueError):
    pass


def parse(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    if len(query) > MAX_QUERY:
        raise BadParam(f"query string over {MAX_QUERY} bytes")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, max_num_fields=20)
    except ValueError:
        raise BadParam("more than 20 query parameters") from None
    found: dict[str, str] = {}
    for key, value in pairs:
        if key not in allowed:
            raise BadParam(f"{key}: unknown parameter; allowed: {', '.join(allowed)}")
        if key in found:
            raise BadParam(f"{key}: given twice")
        found[key] = value
    return found


def number(found: dict, key: str, default: float, low: float, high: float,
           whole: bool = False) -> float:
    text = found.get(key)
    if text is None:
        return default
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        value = None
    if value is None or value != value or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise BadParam(f"{key}: {text[:40]!r} is not {kind} from {low:g} to {high:g}")
    return value


def choice(found: dict, key: str, allowed: tuple[str, ...]) -> str | None:
    value = found.get(key) or None
    if value is not None and value not in allowed:
        raise BadParam(f"{key}: {value[:40]!r} is not one of {', '.join(allowed)}")
    return value


def text(found: dict, key: str, longest: int = 100) -> str:
    value = found.get(key, "").strip()
    if len(value) > longest:
        raise BadParam(f"{key}: longer than {longest} characters")
    return value


def ids(found: dict, key: str, most: int = 50) -> set | None:
    """``all`` (or absent): None; ``none``: no ids; else comma-separated ids (at most ``most``)."""
    value = found.get(key, "all")
    if value == "all":
        return None
    if value == "none":
        return set()
    listed = {part for part in value.split(",") if part}
    if len(listed) > most or not all(re.fullmatch(r"[0-9a-f]{16}", part) for part in listed):
        raise BadParam(f"{key}: all, none, or at most {most} box ids separated by commas")
    return listed


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?)?Z?")


def moment(found: dict, key: str, default: float, now: float) -> float:
    """A time: ISO 8601 in UTC (2026-11-21T19:50:00Z, or a date), seconds since the epoch,
    or a duration back from now (90m, 24h, 7d)."""
    value = found.get(key)
    if not value:
        return default
    back = re.fullmatch(r"(\d{1,6})([smhd])", value)
    if back:
        return now - int(back.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[back.group(2)]
    if re.fullmatch(r"\d{1,11}(\.\d+)?", value):
        return float(value)
    match = _ISO.fullmatch(value)
    if match:
        parts = [int(p) if p else 0 for p in match.groups()]
        try:
            return float(calendar.timegm(time.struct_time((*parts, 0, 0, 0))))
        except (ValueError, OverflowError):
            pass
    raise BadParam(f"{key}: {value[:40]!r} is not a time (2026-11-21T19:50:00Z, seconds since "
                   "1970, or 24h back)")
