"""Where each value in force comes from: the defaults, the config file, or the API's
overrides file (and when the override was set).  For `sereport config show`, the
daemon's log lines at start and reload, and the API's getconfigs.  Secrets are masked."""

from __future__ import annotations

import json

from sereport.config.model import Config
from sereport.config.overrides import Layers, Override
from sereport.redact import redact_url

SECRETS = ("dev_sno", "hmac_secret", "api_token")
NOT_KEYS = ("path", "urls", "interval", "overridden", "layers", "devices")


def names() -> list[str]:
    """Every key getconfigs and `config show` list, the vendor's two first."""
    return ["WEB_HEART_URL", "WEB_HEART_TIME"] + [
        key for key in Config.__dataclass_fields__ if key not in NOT_KEYS]


def masked(key: str, value):
    """A value fit to show: passwords and query values of URLs, secrets and header values
    masked as ***."""
    if key == "WEB_HEART_URL":
        if isinstance(value, str):
            return ",".join(redact_url(u.strip()) for u in value.split(","))
        if isinstance(value, (list, tuple)):
            return [redact_url(u) if isinstance(u, str) else u for u in value]
    if key == "http_headers":
        try:
            return {str(name): "***" for name, _ in (
                value.items() if isinstance(value, dict) else value)}
        except (TypeError, ValueError):
            return "***"
    if key in SECRETS:
        return "***" if value else ""
    return list(value) if isinstance(value, tuple) else value


def effective(cfg: Config) -> dict:
    """Every effective key, flat, secrets masked."""
    values = {"WEB_HEART_URL": ",".join(redact_url(u) for u in cfg.urls),
              "WEB_HEART_TIME": int(cfg.interval) if cfg.interval.is_integer() else cfg.interval}
    for key in names()[2:]:
        values[key] = masked(key, getattr(cfg, key))
    return values


def _shown(key: str, value) -> str:
    return json.dumps(masked(key, value), ensure_ascii=False, default=str)


def rows(cfg: Config) -> dict:
    """{key: {value, origin, file, set_at, file_value}} for every effective key; origin is
    "default", "config file" or "overrides file"."""
    layers: Layers = cfg.layers
    in_force = {e.key: e for e in layers.in_force}
    found = {}
    for key, value in effective(cfg).items():
        row = {"value": value, "origin": "default"}
        if key in in_force:
            row.update(origin="overrides file", file=layers.overrides_path,
                       set_at=in_force[key].at or None)
            if key in layers.file_values:
                row["file_value"] = masked(key, layers.file_values[key])
        elif key in layers.file_values:
            row.update(origin="config file", file=layers.path)
        found[key] = row
    return found


def override_lines(cfg: Config) -> list[str]:
    """One line per key whose value in force is an override, naming both files."""
    layers: Layers = cfg.layers
    if layers is None:
        return []
    lines = []
    for entry in layers.in_force:
        under = (f"{_shown(entry.key, layers.file_values[entry.key])} in {layers.path}"
                 if entry.key in layers.file_values else f"the default ({layers.path} does not set it)")
        lines.append(f"{entry.key}: {_shown(entry.key, entry.value)} from {layers.overrides_path} "
                     f"({_set_at(entry)}) wins over {under}; `sereport config drop {entry.key}` "
                     "goes back to the file's value")
    return lines


def stale_lines(cfg: Config) -> list[str]:
    """One line per override that an edit of the config file won over."""
    layers: Layers = cfg.layers
    if layers is None:
        return []
    return [f"{e.key}: the edit of {layers.path} ("
            + (_shown(e.key, layers.file_values[e.key]) if e.key in layers.file_values
               else "the key removed") + f") wins over {_shown(e.key, e.value)} from {layers.overrides_path} ({_set_at(e)}); "
            "that override is dropped" for e in layers.stale]


def _set_at(entry: Override) -> str:
    return f"set through the API at {entry.at}" if entry.at else "set by hand or by an older sereport"
