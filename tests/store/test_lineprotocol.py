"""Line protocol and InfluxQL quoting."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hub.models import Reading, Signal
from hub.store.lineprotocol import (
    encode_readings,
    escape_key,
    escape_measurement,
    escape_string_field,
    format_line,
    from_ns,
    quote_identifier,
    quote_literal,
    to_ns,
)


def test_measurement_escapes_comma_and_space_but_not_equals() -> None:
    assert escape_measurement("heart rate,x=1") == r"heart\ rate\,x=1"


def test_tag_escapes_comma_equals_and_space() -> None:
    assert escape_key("Flat 3, a=b") == r"Flat\ 3\,\ a\=b"


def test_string_field_escapes_quotes_and_backslashes() -> None:
    assert escape_string_field('say "hi" \\ bye') == r'"say \"hi\" \\ bye"'


@pytest.mark.parametrize("bad", ["", "two\nlines", "cr\r", "ends with\\"])
def test_tag_text_that_line_protocol_cannot_carry_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="line protocol"):
        escape_key(bad)


def test_format_line_sorts_tags_and_types_fields() -> None:
    line = format_line(
        "m x", {"z": "1", "a": "b c"}, {"f": 1.5, "i": 3, "ok": True, "s": 'q"'}, 1_700_000_000_000_000_000
    )
    assert line == r'm\ x,a=b\ c,z=1 f=1.5,i=3i,ok=true,s="q\"" 1700000000000000000'


def test_format_line_needs_a_field() -> None:
    with pytest.raises(ValueError, match="at least one field"):
        format_line("m", {"a": "b"}, {})


def test_encode_readings_one_line_per_reading_with_ns_time() -> None:
    ts = datetime(2024, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    body = encode_readings(
        [
            Reading("Home 1", "bed,left", Signal.HEART_RATE, 72, ts),
            Reading("h=2", "btn", Signal.SOS, 1.0, ts + timedelta(seconds=1)),
        ]
    )
    assert body.decode() == (
        r"heart_rate,device=bed\,left,home=Home\ 1,unit=bpm value=72.0 1709280000123456000" + "\n"
        r"sos,device=btn,home=h\=2 value=1.0 1709280001123456000" + "\n"
    )


def test_readings_sharing_a_time_and_readings_between_them_keep_their_own_times() -> None:
    # A message's readings share one datetime object, whose nanoseconds are worked out once: a reading of
    # another time in between must not get them, nor lose its own.
    first = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    other = first + timedelta(microseconds=1)
    times = [first, first, other, first, datetime(2024, 3, 1, 8, 0, tzinfo=UTC)]
    body = encode_readings([Reading("h", "d", Signal.BATTERY, 90 + i, ts) for i, ts in enumerate(times)])
    assert [line.rsplit(" ", 1)[1] for line in body.decode().splitlines()] == [
        "1709280000000000000",
        "1709280000000000000",
        "1709280000000001000",
        "1709280000000000000",
        "1709280000000000000",
    ]


def test_encode_readings_reuses_the_cache_without_changing_output() -> None:
    readings = [Reading("h", "d", Signal.POWER, 1e20, datetime(2024, 1, 1, tzinfo=UTC))]
    cache: dict[tuple[str, str, str, str], str] = {}
    first = encode_readings(readings, cache)
    assert (
        encode_readings(readings, cache)
        == first
        == b"power,device=d,home=h,unit=W value=1e+20 1704067200000000000\n"
    )
    assert len(cache) == 1


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused_with_the_reading_named(value: float) -> None:
    with pytest.raises(ValueError, match="non-finite"):
        encode_readings([Reading("h", "d", Signal.POWER, value, datetime(2024, 1, 1, tzinfo=UTC))])


def test_ns_conversion_is_exact_and_timezone_aware() -> None:
    local = datetime(2024, 3, 1, 16, 0, 0, 1, tzinfo=timezone(timedelta(hours=8)))
    assert to_ns(local) == 1_709_280_000_000_001_000
    assert from_ns(to_ns(local)) == local
    assert from_ns(to_ns(local)).tzinfo == UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        to_ns(datetime(2024, 1, 1))  # a naive time: the point of the test


def test_influxql_quoting() -> None:
    assert quote_identifier('my "db"') == r'"my \"db\""'
    assert quote_literal("O'Brien \\ flat") == r"'O\'Brien \\ flat'"
