"""argparse types shared by the commands."""

from __future__ import annotations

import argparse


def bounded(low: float, high: float, whole: bool = False, unit: str = ""):
    """A number from `low` to `high` (an int when `whole`); anything else, NaN included, is
    refused with one line naming the value and the range."""
    kind = ("a whole number" if whole else "a number") + (f" of {unit}" if unit else "")

    def parse(text: str) -> float:
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind} from {low:g} to {high:g}")
        return value
    return parse
