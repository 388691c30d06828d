"""Loading: the YAML file (keys unique), the API's overrides file on top,
and where the config file is.  The values are checked by ``checks``."""

from __future__ import annotations

import os
from dataclasses import replace

import yaml

from sereport import limits
from sereport.config import overrides as over
from sereport.config.checks import default_state_dir, from_mapping
from sereport.config.model import (ALIASES, DEFAULT_PATH, NOT_SETTABLE, OVERRIDES_FILE, Config,
                                   ConfigError, canonical)


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that refuses a mapping with the same key twice; libyaml's parser when
    PyYAML has it (its wheels do), which spares the daemon the pure-Python parser's
    garbage (1 MiB of RSS for a config of 500 devices)."""


def _construct_mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.MarkedYAMLError(
                problem=f"key {key!r} given twice", problem_mark=mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, path: str) -> dict:
    """The YAML text as a mapping, or ConfigError with the line at fault.

    Bounded (sereport.limits): nesting depth and alias expansion are checked
    before anything is built, so a hostile file costs milliseconds, not the box.
    """
    try:
        data = limits.load_yaml(text, _UniqueKeyLoader)
    except ValueError as exc:  # a bound
        raise ConfigError([f"{path}: refused: {exc}; allowed: a config nested at most "
                           f"{limits.MAX_DEPTH} levels, without alias bombs"]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise ConfigError([f"{where}: not valid YAML: {exc.problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the file holds a {type(data).__name__}; "
                           "allowed: a mapping of keys to values"])
    return data


def _read_text(path: str) -> str:
    try:
        return limits.read_bytes(path, limits.MAX_CONFIG_BYTES).decode("utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    except ValueError as exc:
        raise ConfigError([f"{path}: refused: {exc}; allowed: a config file of at most "
                           f"{limits.MAX_CONFIG_BYTES // (1024 * 1024)} MiB"]) from None


def read_file(path: str) -> dict:
    """The config file's mapping, as written."""
    return parse_yaml(_read_text(path), path)


def read_overrides(path: str) -> list[over.Override]:
    """The keys the local API set, [] when there are none."""
    if not os.path.exists(path):
        return []
    return over.entries(parse_yaml(_read_text(path), path))


def merge(raw: dict, overrides: dict) -> dict:
    """The file's keys with the overrides on top (an alias counts as its key)."""
    overrides = over.fold(overrides)
    merged = dict(raw)
    for key in overrides:
        merged.pop(key, None)
        merged.pop(ALIASES.get(key, ""), None)
    merged.update(overrides)
    return merged


def state_dir_of(raw: dict) -> str:
    value = raw.get("state_dir")
    return value if isinstance(value, str) and value.startswith("/") else default_state_dir()


def overrides_path_of(raw: dict) -> str:
    return os.path.join(state_dir_of(raw), OVERRIDES_FILE)


def load(path: str = DEFAULT_PATH, overrides: list[over.Override] | None = None) -> Config:
    """Read and validate the config file with the API's overrides on top.

    ``overrides`` replaces what overrides.yaml holds (the API checks a change
    this way before writing it).  An override holds until its key is edited in
    the config file (overrides.py).  ConfigError says all that is wrong, each
    problem naming the file its value came from; a bad value in the config file
    is one even where an override hides it.  The Config's ``layers`` say where
    each value came from.
    """
    raw = read_file(path)
    over_path = overrides_path_of(raw)
    if overrides is None:
        overrides = read_overrides(over_path)
    problems = [f"{over_path}: {e.key}: cannot be set through the API; allowed: set it in {path}"
                for e in overrides if e.key in NOT_SETTABLE]
    if problems:
        raise ConfigError(problems)
    file_values = over.fold(raw)
    layers = over.Layers(path, over_path, file_values,
                         tuple(e for e in overrides if e.holds(file_values)),
                         tuple(e for e in overrides if not e.holds(file_values)))
    values = {e.key: e.value for e in layers.in_force}
    try:
        try:
            cfg = from_mapping(merge(raw, values), path, sources={k: over_path for k in values},
                               overridden=tuple(values))
        except ConfigError as exc:
            problems = exc.problems
        problems += [p for p in _hidden_problems(raw, values, path) if p not in problems]
    except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError) as exc:
        # A value no check foresaw must not end a daemon that has a good config running.
        raise ConfigError([f"{path}: cannot be used: a value is out of every range "
                           f"({type(exc).__name__}); allowed: the values the README lists"]) from None
    if problems:
        raise ConfigError(problems)
    return replace(cfg, layers=layers)


def _hidden_problems(raw: dict, values: dict, path: str) -> list[str]:
    """The config file's own problems in keys an override hides: a bad value is an error
    in whichever file it stands ("" and null are the file leaving the key unset)."""
    hidden = {key for key, value in over.fold(raw).items()
              if key in values and value not in (None, "")}
    if not hidden:
        return []
    try:
        from_mapping(raw, path)
    except ConfigError as exc:
        prefix = path + ": "
        return [p for p in exc.problems if p.startswith(prefix) and canonical(
            p[len(prefix):].split(": ", 1)[0].split(".")[0].split("[")[0]) in hidden]
    return []


def require_targets(cfg: Config) -> None:
    """Sending needs somewhere to send to."""
    if not cfg.urls:
        raise ConfigError([f"{cfg.path}: WEB_HEART_URL: not set; allowed: the platform's "
                           "URL, e.g. http://192.168.1.19:9528/DeviceStatus"])


def resolve_path(given: str | None) -> str:
    """--config, else $SEREPORT_CONFIG, else the default path."""
    return given or os.environ.get("SEREPORT_CONFIG") or DEFAULT_PATH
