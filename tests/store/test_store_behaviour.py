"""What every `TimeSeriesStore` does, run against SQLite and a real InfluxDB."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone

from hub.models import Reading, Signal
from hub.store import TimeSeriesStore
from tests.store.helpers import T0, heart_rates

AWKWARD_HOME = "Flat 3, Block=B"  # space, comma and equals sign all need escaping in line protocol
AWKWARD_DEVICE = 'bed "left"'


async def test_written_readings_come_back_oldest_first_with_aware_utc_times(store: TimeSeriesStore) -> None:
    readings = heart_rates(AWKWARD_HOME, AWKWARD_DEVICE, 5)
    await store.write(list(reversed(readings)))

    got = await store.query(AWKWARD_HOME, Signal.HEART_RATE, T0, T0 + timedelta(hours=1))

    assert got == readings
    assert all(r.ts.tzinfo == UTC for r in got)
    assert store.pending() == 0


async def test_query_range_is_half_open_and_per_home(store: TimeSeriesStore) -> None:
    await store.write(heart_rates("h1", "d", 10) + heart_rates("h2", "d", 10, first=100.0))

    got = await store.query("h1", Signal.HEART_RATE, T0 + timedelta(seconds=2), T0 + timedelta(seconds=5))

    assert [(r.home, r.value) for r in got] == [("h1", 62.0), ("h1", 63.0), ("h1", 64.0)]


async def test_query_without_signal_returns_every_signal_in_time_order(store: TimeSeriesStore) -> None:
    sos = Reading("h", "button", Signal.SOS, 1.0, T0 + timedelta(seconds=1, microseconds=500))
    power = Reading("h", "plug", Signal.POWER, 1234.5, T0 + timedelta(seconds=3))
    await store.write([power, sos, *heart_rates("h", "watch", 3)])

    got = await store.query("h", None, T0, T0 + timedelta(minutes=1))

    assert [(r.signal, r.ts) for r in got] == [
        (Signal.HEART_RATE, T0),
        (Signal.HEART_RATE, T0 + timedelta(seconds=1)),
        (Signal.SOS, T0 + timedelta(seconds=1, microseconds=500)),
        (Signal.HEART_RATE, T0 + timedelta(seconds=2)),
        (Signal.POWER, T0 + timedelta(seconds=3)),
    ]
    assert got[2] == sos
    assert got[4].unit == "W"
    assert got[2].unit == ""


async def test_times_in_other_zones_are_stored_as_the_same_instant(store: TimeSeriesStore) -> None:
    beijing = timezone(timedelta(hours=8))
    local = T0.astimezone(beijing)
    await store.write([Reading("h", "d", Signal.BODY_TEMP, 36.6, local)])

    got = await store.query("h", Signal.BODY_TEMP, T0, T0 + timedelta(seconds=1))

    assert [(r.ts, r.ts.tzinfo, r.value) for r in got] == [(T0, UTC, 36.6)]


async def test_writing_the_same_readings_twice_does_not_duplicate_them(store: TimeSeriesStore) -> None:
    readings = heart_rates("h", "d", 4)
    await store.write(readings)
    await store.write(readings)

    assert await store.query("h", Signal.HEART_RATE, T0, T0 + timedelta(minutes=1)) == readings


async def test_latest_gives_the_newest_reading_per_device_and_signal(store: TimeSeriesStore) -> None:
    await store.write(
        heart_rates("h1", "watch", 5)
        + heart_rates("h1", "band", 2, first=80.0)
        + heart_rates("h2", "watch", 3, first=90.0)
        + [Reading("h1", "watch", Signal.BATTERY, 55.0, T0)]
    )

    mine = await store.latest("h1")
    everyone = await store.latest()

    assert {(r.device, r.signal, r.value, r.ts) for r in mine} == {
        ("watch", Signal.HEART_RATE, 64.0, T0 + timedelta(seconds=4)),
        ("band", Signal.HEART_RATE, 81.0, T0 + timedelta(seconds=1)),
        ("watch", Signal.BATTERY, 55.0, T0),
    }
    assert {(r.home, r.device, r.signal, r.value) for r in everyone} == {
        ("h1", "watch", Signal.HEART_RATE, 64.0),
        ("h1", "band", Signal.HEART_RATE, 81.0),
        ("h1", "watch", Signal.BATTERY, 55.0),
        ("h2", "watch", Signal.HEART_RATE, 92.0),
    }
    assert await store.latest("nobody") == []


async def test_a_large_write_is_split_into_batches_and_nothing_is_lost(store: TimeSeriesStore) -> None:
    readings = [
        Reading(f"h{i % 3}", f"d{i % 7}", Signal.POWER, float(i), T0 + timedelta(milliseconds=i))
        for i in range(12_000)
    ]
    await store.write(readings)

    got = await store.query("h1", Signal.POWER, T0, T0 + timedelta(minutes=1))

    assert got == [r for r in readings if r.home == "h1"]


async def test_query_homes_gives_each_home_what_its_own_query_gives(store: TimeSeriesStore) -> None:
    # More homes than one query of any store takes (InfluxDB 50, SQLite 500), an awkward name among them,
    # and a home whose name is the start of another's (a prefix must not match).
    homes = [f"h{i}" for i in range(520)] + [AWKWARD_HOME, "h1x"]
    written = []
    for i, home in enumerate(homes):
        written += heart_rates(home, AWKWARD_DEVICE if i % 2 else "watch", 3, first=60.0 + i % 40)
        if i % 7 == 0:
            written.append(
                Reading(home, "button", Signal.SOS, 1.0, T0 + timedelta(seconds=1, microseconds=5))
            )
    await store.write(written)
    asked = [h for h in homes if h != "h1x"] + ["nobody"]
    start, end = T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)

    got = await store.query_homes(asked, start, end)

    expected: dict[str, list[Reading]] = {}
    for r in sorted(written, key=lambda r: (r.ts, r.signal, r.device)):
        if r.home in asked and start <= r.ts < end:
            expected.setdefault(r.home, []).append(r)
    assert got == expected
    assert "h1x" not in got and "nobody" not in got and len(got) == len(asked) - 1
    for home in ("h0", "h7", "h519", AWKWARD_HOME):
        assert got[home] == await store.query(home, None, start, end)
    assert [(r.signal, r.ts) for r in got["h7"]] == [
        (Signal.HEART_RATE, T0 + timedelta(seconds=1)),
        (Signal.SOS, T0 + timedelta(seconds=1, microseconds=5)),
    ]
