"""sereport.limits: every parser is bounded in size, depth and alias expansion."""

from __future__ import annotations

import time

import pytest
import yaml

from sereport import limits


def billion_laughs(levels: int = 9) -> str:
    text = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    previous = "a"
    for name in "bcdefghijk"[:levels - 1]:
        text += f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
        previous = name
    return text


LOADERS = [yaml.SafeLoader] + [yaml.CSafeLoader] * hasattr(yaml, "CSafeLoader")


@pytest.mark.parametrize("loader", LOADERS)
def test_alias_bomb_is_refused_before_it_is_built(loader):
    started = time.monotonic()
    with pytest.raises(ValueError, match="expands to more than 100000 values"):
        limits.load_yaml(billion_laughs(), loader)
    assert time.monotonic() - started < 1.0  # nothing was expanded


@pytest.mark.parametrize("loader", LOADERS)
def test_deep_yaml_is_refused_without_recursion(loader):
    with pytest.raises(ValueError, match="line 2: nested deeper than 32 levels"):
        limits.load_yaml("a: 1\nserial_files: " + "[" * 3000 + "]" * 3000, loader)


@pytest.mark.parametrize("loader", LOADERS)
def test_ordinary_yaml_is_built_once_within_the_bounds(loader):
    assert limits.load_yaml("a: &x [1, 2]\nb: *x\nc: {d: [e, {f: g}]}\n", loader) == {
        "a": [1, 2], "b": [1, 2], "c": {"d": ["e", {"f": "g"}]}}
    assert limits.load_yaml("", loader) is None
    deep = limits.load_yaml("[" * 32 + "]" * 32, loader)
    for _ in range(31):
        deep = deep[0]
    assert deep == []


def test_json_depth():
    assert limits.loads_json('{"devices": [{"url": "/x"}]}') == {"devices": [{"url": "/x"}]}
    assert limits.loads_json("[" * 32 + "]" * 32)
    for text in ("[" * 33 + "]" * 33, "[" * 100000 + "]" * 100000):
        with pytest.raises(ValueError, match="nested deeper than 32 levels"):
            limits.loads_json(text)


def test_read_bytes_stops_at_the_limit(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 2048)
    assert limits.read_bytes(str(path), 2048) == b"x" * 2048
    with pytest.raises(ValueError, match="larger than 1 KiB"):
        limits.read_bytes(str(path), 1024)
