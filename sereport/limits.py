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

    Depth is read from the event stream (no recursion); the expanded size is computed
    on the composed node graph, each shared node once; the value is then constructed
    from that graph, so the text is composed once.
    """
    import yaml

    level = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            level += 1
            if level > MAX_DEPTH:
                mark = event.start_mark
                raise ValueError(f"line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            level -= 1
    building = loader(text)
    try:
        root = building.get_single_node()
        if root is None:
            return None
        sizes: dict[int, int] = {}
        order, stack = [], [root]
        while stack:  # children before parents, each node once
            node = stack.pop()
            if id(node) in sizes:
                continue
            sizes[id(node)] = 0
            order.append(node)
            stack.extend(_children(node))
        for node in reversed(order):
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in _children(node))
            if sizes[id(node)] > MAX_YAML_NODES:
                raise ValueError(f"expands to more than {MAX_YAML_NODES} values "
                                 "(aliases repeated into a bomb?)")
        return building.construct_document(root)
    finally:
        building.dispose()


def _children(node) -> list:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
