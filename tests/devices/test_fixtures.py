"""Every recorded payload decodes to exactly the readings (or the error) its fixture promises."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from hub.devices.errors import DeviceError
from hub.models import SIGNAL_UNITS, Signal
from tests.devices.fixture_cases import DEVICE, HOME, RECEIVED_AT, FixtureCase, decode_case, load_cases

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fixture_case(case: FixtureCase) -> None:
    if case.expect_error is not None:
        with pytest.raises(DeviceError, match=re.escape(case.expect_error)):
            decode_case(case)
        return
    assert case.expect is not None
    got = decode_case(case)
    actual = sorted((r.signal.value, r.value) for r in got)
    expected = sorted((e["signal"], float(e["value"])) for e in case.expect)
    assert [s for s, _ in actual] == [s for s, _ in expected]
    assert [v for _, v in actual] == pytest.approx([v for _, v in expected], rel=1e-9, abs=1e-9)
    expected_ts = {
        e["signal"]: datetime.fromisoformat(e.get("ts", RECEIVED_AT.isoformat())) for e in case.expect
    }
    for reading in got:
        assert isinstance(reading.signal, Signal)
        assert (reading.home, reading.device) == (HOME, DEVICE)
        assert reading.unit == SIGNAL_UNITS[reading.signal]
        assert type(reading.value) is float
        assert reading.ts.utcoffset() == timedelta(0)
        assert reading.ts == expected_ts[reading.signal.value]
