"""Configuration: one YAML file, validated whole before anything uses it.

Every problem is reported at once, each on one line naming the file, the
key, the bad value and what is allowed.  The vendor's key names are taken
as they are; the later firmware's names are aliases.  ``model`` holds the
keys and defaults, ``loading`` reads the file and the API's overrides on
top (``overrides``: the overrides file and when an override holds), ``checks``
validates the values, ``origins`` tells where each value in force came from,
``commands`` is `sereport config`.
"""

from __future__ import annotations

from sereport.config.checks import from_mapping
from sereport.config.loading import (load, merge, overrides_path_of, parse_yaml, read_file,
                                     read_overrides, require_targets, resolve_path, state_dir_of)
from sereport.config.model import (ALIASES, CANONICAL, DEFAULT_PATH, DEFAULT_SERIAL_FILES,
                                   EXTENSIONS, FORMATS, LIST_KEYS, NOT_SETTABLE, OVERRIDES_FILE,
                                   Config, ConfigError, canonical)

__all__ = ["ALIASES", "CANONICAL", "DEFAULT_PATH", "DEFAULT_SERIAL_FILES", "EXTENSIONS", "FORMATS",
           "LIST_KEYS", "NOT_SETTABLE", "OVERRIDES_FILE", "Config", "ConfigError", "canonical",
           "from_mapping", "load", "merge", "overrides_path_of", "parse_yaml", "read_file",
           "read_overrides", "require_targets",
           "resolve_path", "state_dir_of"]
