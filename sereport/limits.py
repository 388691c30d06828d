"""Bounds for everything sereport parses: size, nesting depth, and (for
YAML) alias expansion.  A file or body past a bound is refused with a
one-line ValueError; nothing is half-parsed, and no RecursionError or
MemoryError reaches the caller.

The bounds are far above anything real (a config of a few KiB, a registry
of a few thousand devices) and far below what hurts a small box.
"""

from __future__ import annotations

import json

MAX_CONFIG_BYTES = 1024 * 1024  # a config or overrides file
MAX_STATE_BYTES = 16 * 1024 * 1024  # devices.json, status.json
MAX_DEPTH = 32  # nesting of mappings and lists
MAX_YAML_NODES = 100_000  # nodes after alias expansion (a "billion laughs" is refused)


def read_bytes(path: str, limit: int) -> bytes:
    """The file's bytes; ValueError when it holds more than ``limit``."""
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {_size(limit)}")
    return data


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit // 1024} KiB"


def depth(value: object) -> int:
    """How deeply lists and mappings nest in a parsed value (iteratively)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


def loads_json(text: str | bytes, max_depth: int = MAX_DEPTH):
    """json.loads, refusing a document nested deeper than ``max_depth``."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise ValueError(f"nested deeper than {max_depth} levels") from None
    if depth(value) > max_depth:
        raise ValueError(f"nested deeper than {max_depth} levels")
    return value


def load_yaml(text: str, loader):
    """The YAML text's value, built by ``loader`` (a Loader class) only after it is
    found within the bounds: nested at most MAX_DEPTH deep, and expanding to at most
    MAX_YAML_NODES nodes through aliases.  ValueError for a bound.

    Both bounds are read from the event stream, without recursion and without holding
    more than a counter per open collection: an alias counts as the whole node it
    repeats (its size, known at that node's end).  Only then is the text composed and
    constructed.  (Measuring the composed node graph instead kept a size per node and a
    list of every node beside the graph: 300 KiB more at the peak of loading a config
    with 500 devices, a high-water mark the daemon's heap kept.)
    """
    import yaml

    try:
        _check_events(yaml.parse(text, Loader=loader))
    except yaml.MarkedYAMLError as exc:
        # libyaml 0.2.5 and later (PyYAML's wheels from 6.0.3 on) refuse more than 1,000
        # levels themselves, and its scanner, which reads a flow collection's brackets
        # ahead, gets there before the parser has given the 33rd: the same bound, said once.
        if "nesting depth" not in str(exc.problem) or exc.problem_mark is None:
            raise
        line = exc.problem_mark.line + 1
        raise ValueError(f"line {line}: nested deeper than {MAX_DEPTH} levels") from None
    building = loader(text)
    try:
        return building.get_single_data()
    finally:
        building.dispose()


def _check_events(events) -> None:
    """ValueError when the YAML event stream nests or expands past its bounds."""
    import yaml

    level, total = 0, 0
    open_sizes: list[list] = []  # [size so far, anchor] of each collection not yet ended
    sizes: dict[str, int] = {}  # anchor -> expanded size of the node it names
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            level += 1
            if level > MAX_DEPTH:
                mark = event.start_mark
                raise ValueError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
            open_sizes.append([1, event.anchor])
            continue
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            level -= 1
            size, anchor = open_sizes.pop()
        elif isinstance(event, yaml.ScalarEvent):
            size, anchor = 1, event.anchor
        elif isinstance(event, yaml.AliasEvent):
            size, anchor = sizes.get(event.anchor, 1), None  # 1: a node that holds itself
        else:
            continue
        if anchor is not None:
            sizes[anchor] = size
        if open_sizes:
            open_sizes[-1][0] += size
            counted = open_sizes[-1][0]
        else:
            total += size
            counted = total
        if counted > MAX_YAML_NODES:
            raise ValueError(f"expands to more than {MAX_YAML_NODES} values "
                             "(aliases repeated into a bomb?)")
