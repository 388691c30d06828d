"""The one ranged-number argparse type, as `sereport receive` and `discover` use it."""

from __future__ import annotations

import argparse

import pytest

from sereport.argtypes import bounded


@pytest.mark.parametrize("text, whole, value", [("1", True, 1), ("3600", True, 3600),
                                                ("0.2", False, 0.2), ("60", False, 60.0)])
def test_the_range_is_inclusive(text, whole, value):
    parse = bounded(1, 3600, whole=True) if whole else bounded(0.2, 60)
    assert parse(text) == value and type(parse(text)) is type(value)


@pytest.mark.parametrize("text, whole, message", [
    ("0", True, "'0' is not a whole number of seconds from 1 to 3600"),
    ("1.5", True, "'1.5' is not a whole number of seconds from 1 to 3600"),
    ("3601", True, "'3601' is not a whole number of seconds from 1 to 3600"),
    ("nan", False, "'nan' is not a number of seconds from 0.2 to 60"),
    ("inf", False, "'inf' is not a number of seconds from 0.2 to 60"),
    ("0.1", False, "'0.1' is not a number of seconds from 0.2 to 60"),
    ("soon", False, "'soon' is not a number of seconds from 0.2 to 60"),
])
def test_anything_else_is_refused_with_the_value_and_the_range(text, whole, message):
    parse = bounded(1, 3600, whole=True, unit="seconds") if whole else bounded(0.2, 60, unit="seconds")
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse(text)
    assert str(refused.value) == message


def test_through_the_command_line(capsys):
    from sereport.cli import build_parser

    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["receive", "--idle-timeout", "0"])
    assert done.value.code == 2
    assert "argument --idle-timeout: '0' is not a whole number of seconds from 1 to 3600" in capsys.readouterr().err
    assert build_parser().parse_args(["receive", "--grace", "2.5"]).grace == 2.5
