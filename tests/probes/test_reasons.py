"""Every reason a probe gives is one the README's Probes section explains."""

from __future__ import annotations

from pathlib import Path

from sereport import probes

README = Path(__file__).parents[2] / "README.md"


def test_every_reason_is_documented():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Probes\n"):]
    section = section[:section.index("\n## ", 1)]
    assert [r for r in probes.REASONS if f"`{r}`" not in section] == []
