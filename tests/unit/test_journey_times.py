"""Times and durations of Context Services (journey/times.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxgate.clock import iso_utc
from cxgate.errors import BadRequest
from cxgate.journey.times import format_time, parse_duration, parse_time

MOMENT = 1_457_323_506_634  # 2016-03-07T04:05:06.634Z


@pytest.mark.parametrize(
    "text",
    [
        "2016-03-07T04:05:06.634Z",
        "2016-3-7T4:5:6.634Z",  # GMS accepted unpadded components
        "2016-03-07T04:05:06.634",  # no zone: UTC, as in Genesys's own examples
        "2016-03-07T04:05:06.634123Z",
        "2016-03-07T06:05:06.634+02:00",
        "2016-03-07T01:35:06.634-0230",
        " 2016-03-07t04:05:06.634z ",
    ],
)
def test_accepted_forms(text: str) -> None:
    assert parse_time(text, field="t") == MOMENT


def test_without_fraction() -> None:
    assert parse_time("2016-03-07T04:05:06Z", field="t") == MOMENT - 634


@pytest.mark.parametrize(
    "text",
    [
        "2016-Dec-07T04:05:06.634Z",
        "2016-02-30T00:00:00Z",
        "2016-03-07",
        "2016-03-07 04:05:06Z",
        "1457323506634",
        "",
        "2016-03-07T25:00:00Z",
        "\uff12\uff10\uff11\uff16-03-07T04:05:06Z",  # non-ASCII digits
    ],
)
def test_refused_forms(text: str) -> None:
    with pytest.raises(BadRequest, match="due"):
        parse_time(text, field="due")


@pytest.mark.parametrize("value", [None, 5, 1.5, ["x"], {"a": 1}])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(BadRequest):
        parse_time(value, field="t")


@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_format_parse_round_trip(ms: int) -> None:
    text = format_time(ms)
    assert parse_time(text, field="t") == ms
    assert len(text) == 24
    assert text.endswith("Z")


@given(st.integers(min_value=0, max_value=4_000_000_000_000))
def test_format_agrees_with_iso_utc_on_whole_milliseconds(ms: int) -> None:
    expected = datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert format_time(ms) == f"{expected}.{ms % 1000:03d}Z"
    assert iso_utc(ms // 1000)[:19] == expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (30, 30),
        ("30", 30),
        ("30s", 30),
        ("10m", 600),
        ("2h", 7200),
        ("3d", 259200),
        ("2w", 1209600),
    ],
)
def test_durations(value: object, seconds: int) -> None:
    assert parse_duration(value, field="ttl") == seconds


@pytest.mark.parametrize("value", [0, -5, "0s", "2y", "1h30m", True, 1.5, None, "", "101w" * 3])
def test_bad_durations(value: object) -> None:
    with pytest.raises(BadRequest, match="ttl"):
        parse_duration(value, field="ttl")
