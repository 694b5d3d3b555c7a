"""CounterTracker: cumulative meter series never go backwards and never invent consumption."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from hub.devices.counters import CounterTracker
from hub.models import Reading, Signal

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def water(value: float, minute: int = 0, device: str = "meter-1") -> Reading:
    return Reading("home-1", device, Signal.WATER_TOTAL, value, T0 + timedelta(minutes=minute))


def series(tracker: CounterTracker, raws: list[float], device: str = "meter-1") -> list[float]:
    return [tracker.normalise(water(raw, i, device)).value for i, raw in enumerate(raws)]


def test_increasing_counter_passes_through_unchanged() -> None:
    assert series(CounterTracker(), [100.0, 110.0, 110.0, 130.0]) == [100.0, 110.0, 110.0, 130.0]


def test_reset_to_zero_after_power_cut_keeps_counting_from_the_last_total() -> None:
    # Tasmota lost its count: 500 → 0, then 20 litres more were used.
    out = series(CounterTracker(), [480.0, 500.0, 0.0, 20.0, 35.0])
    assert out == [480.0, 500.0, 500.0, 520.0, 535.0]


def test_fall_back_to_an_older_saved_value_counts_nothing_twice() -> None:
    # Tasmota restores the counter it last saved to flash (4900) after a power cut at 5000.
    out = series(CounterTracker(), [4800.0, 5000.0, 4900.0, 4950.0])
    assert out == [4800.0, 5000.0, 5000.0, 5050.0]


def test_consumption_between_readings_is_never_negative_or_huge() -> None:
    raws = [10.0, 50.0, 3.0, 40.0, 39.0, 45.0, 0.0, 0.0, 7.0, 4_294_967_290.0, 5.0, 60.0]
    out = series(CounterTracker(), raws)
    steps = [b - a for a, b in itertools.pairwise(out)]
    assert all(step >= 0 for step in steps)
    # no step larger than the largest raw increase actually seen (the 32-bit jump is a real increase here)
    assert max(steps) <= max(b - a for a, b in itertools.pairwise(raws))


def test_rollover_of_32_bit_counter_is_treated_as_a_reset() -> None:
    out = series(CounterTracker(), [4_294_967_000.0, 4_294_967_290.0, 10.0])
    assert out[-1] == 4_294_967_290.0 + 10.0


def test_devices_and_signals_are_tracked_separately() -> None:
    tracker = CounterTracker()
    series(tracker, [100.0, 200.0], device="a")
    assert series(tracker, [5.0], device="b") == [5.0]
    energy = Reading("home-1", "a", Signal.ENERGY_TOTAL, 1.0, T0)
    assert tracker.normalise(energy).value == 1.0


def test_other_signals_pass_through() -> None:
    reading = Reading("home-1", "a", Signal.HEART_RATE, 72.0, T0)
    assert CounterTracker().normalise(reading) is reading


def test_restore_from_snapshot_continues_the_series_across_a_restart() -> None:
    before = CounterTracker()
    series(before, [100.0, 300.0, 0.0, 50.0])  # total 350, offset 300
    snapshot = before.snapshot()
    assert snapshot == {("meter-1", Signal.WATER_TOTAL): (50.0, 300.0)}

    after = CounterTracker()
    after.restore(snapshot)
    # first reading after the restart: meter kept counting
    assert after.normalise(water(60.0, 10)).value == 360.0
    # and a second restart in which the meter itself also reset while the hub was down
    again = CounterTracker()
    again.restore({("meter-1", "water_total"): (60.0, 300.0)})  # as stored in the database
    assert again.normalise(water(4.0, 20)).value == 364.0


def test_snapshot_is_a_copy() -> None:
    tracker = CounterTracker()
    tracker.normalise(water(10.0))
    snapshot = tracker.snapshot()
    snapshot.clear()
    assert tracker.snapshot() != {}


def test_bad_reset_fraction_is_refused() -> None:
    with pytest.raises(ValueError, match="reset_fraction"):
        CounterTracker(reset_fraction=2.0)
