from __future__ import annotations

import pytest

from sereport.receiver import params

NOW = 1_800_000_000.0


@pytest.mark.parametrize("text, value", [
    ("2027-01-15T08:00:00Z", 1800000000.0), ("2027-01-15T08:00:00.250Z", 1800000000.0),
    ("2027-01-15", 1799971200.0),
    ("1799999000", 1799999000.0),
    ("90m", NOW - 5400), ("24h", NOW - 86400), ("7d", NOW - 7 * 86400),
])
def test_times(text, value):
    assert params.moment({"since": text}, "since", 0.0, NOW) == value


@pytest.mark.parametrize("query, problem", [
    ("since=yesterday", "since: 'yesterday' is not a time"),
    ("limit=0", "limit: '0' is not a whole number from 1 to 500"),
    ("limit=1&limit=2", "limit: given twice"),
    ("colour=red", "colour: unknown parameter; allowed: since, limit"),
    ("limit=nan", "limit: 'nan' is not a whole number"),
])
def test_bad_parameters_are_named(query, problem):
    with pytest.raises(params.BadParam) as bad:
        found = params.parse(query, ("since", "limit"))
        params.moment(found, "since", 0.0, NOW)
        params.number(found, "limit", 50, 1, 500, whole=True)
    assert str(bad.value).startswith(problem)


def test_box_ids():
    assert params.ids({}, "devices") is None and params.ids({"devices": "none"}, "devices") == set()
    assert params.ids({"devices": "0123456789abcdef,"}, "devices") == {"0123456789abcdef"}
    with pytest.raises(params.BadParam):
        params.ids({"devices": "x' OR 1=1"}, "devices")
