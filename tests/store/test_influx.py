"""InfluxStore against a real influxd: outages, restarts with a spool, refused batches, database setup."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from hub.models import Reading, Signal
from hub.store import InfluxStore, StoreError
from hub.store.spool import Spool
from tests.services.influxdb import InfluxServer
from tests.store.helpers import T0, heart_rates, wait_until


async def _influxql(url: str, database: str, q: str) -> dict[str, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/query", params={"db": database}, data={"q": q}) as resp,
    ):
        result: dict[str, object] = await resp.json()
        return result


async def test_writes_during_an_outage_are_spooled_then_replayed_in_order(
    influxdb: InfluxServer, influx_database: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    before = heart_rates("h", "watch", 100)
    during = [heart_rates("h", "watch", 100, start=T0 + timedelta(seconds=100 * b)) for b in range(1, 6)]
    async with InfluxStore(
        influxdb.url, influx_database, spool_dir=spool_dir, retry_max=0.5, timeout=2.0
    ) as store:
        await store.write(before)
        await asyncio.to_thread(influxdb.stop)

        for batch in during:
            await store.write(batch)  # returns although InfluxDB is down: the batch is on disk
        # The same point written twice while down: replay must keep the order, so the second value wins.
        overwrite = Reading("h", "watch", Signal.HEART_RATE, 1.0, T0 + timedelta(seconds=150))
        await store.write([overwrite])
        await store.write([Reading("h", "watch", Signal.HEART_RATE, 2.0, overwrite.ts)])

        assert store.pending() == 502
        assert (spool_dir / "pending.spool").stat().st_size > 0

        await asyncio.to_thread(influxdb.start)
        await wait_until(lambda: store.pending() == 0, what="spool replay")

        got = await store.query("h", Signal.HEART_RATE, T0, T0 + timedelta(hours=1))
        expected = before + [r for batch in during for r in batch]
        expected[150] = Reading("h", "watch", Signal.HEART_RATE, 2.0, overwrite.ts)
        assert got == expected
        assert (spool_dir / "pending.spool").stat().st_size == 0


async def test_batches_written_while_the_spool_drains_queue_behind_it(
    influxdb: InfluxServer, influx_database: str, tmp_path: Path
) -> None:
    point = T0 + timedelta(seconds=7)
    async with InfluxStore(
        influxdb.url, influx_database, spool_dir=tmp_path / "spool", retry_min=1.0, retry_max=2.0, timeout=2.0
    ) as store:
        await asyncio.to_thread(influxdb.stop)
        await store.write([Reading("h", "d", Signal.POWER, 1.0, point)])
        await asyncio.to_thread(influxdb.start)
        # The older value may still be in the spool here; the newer one must not overtake it.
        await store.write([Reading("h", "d", Signal.POWER, 2.0, point)])
        await wait_until(lambda: store.pending() == 0, what="spool replay")

        got = await store.query("h", Signal.POWER, T0, T0 + timedelta(minutes=1))
        assert [r.value for r in got] == [2.0]


async def test_a_spool_left_by_a_stopped_store_is_replayed_by_the_next_one(
    influxdb: InfluxServer, influx_database: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    readings = heart_rates("h", "watch", 250)
    async with InfluxStore(influxdb.url, influx_database, spool_dir=spool_dir, timeout=2.0) as first:
        await asyncio.to_thread(influxdb.stop)
        await first.write(readings[:100])
        await first.write(readings[100:])
        assert first.pending() == 250
    assert (spool_dir / "pending.spool").stat().st_size > 0

    await asyncio.to_thread(influxdb.start)
    async with InfluxStore(influxdb.url, influx_database, spool_dir=spool_dir, retry_max=0.5) as second:
        await wait_until(lambda: second.pending() == 0, what="replay of the spool left behind")
        got = await second.query("h", Signal.HEART_RATE, T0, T0 + timedelta(hours=1))

    assert got == readings


async def test_a_store_starts_while_influxdb_is_down_and_catches_up(
    influxdb: InfluxServer, influx_database: str, tmp_path: Path
) -> None:
    readings = heart_rates("h", "watch", 20)
    await asyncio.to_thread(influxdb.stop)
    async with InfluxStore(
        influxdb.url, influx_database, spool_dir=tmp_path / "spool", retry_max=0.5, timeout=2.0
    ) as store:
        await store.write(readings)
        with pytest.raises(StoreError, match="unavailable"):
            await store.query("h", Signal.HEART_RATE, T0, T0 + timedelta(hours=1))
        await asyncio.to_thread(influxdb.start)
        # The database did not exist when the store started: replay's 404 makes the store create it.
        await wait_until(lambda: store.pending() == 0, what="spool replay")
        assert await store.query("h", Signal.HEART_RATE, T0, T0 + timedelta(hours=1)) == readings


async def test_a_refused_batch_raises_and_is_kept_in_the_rejected_file(
    influxdb_url: str, influx_database: str, tmp_path: Path
) -> None:
    spool_dir = tmp_path / "spool"
    async with InfluxStore(influxdb_url, influx_database, spool_dir=spool_dir) as store:
        # Someone else wrote `value` as a string into the same measurement: ours (a float) conflicts.
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{influxdb_url}/write",
                params={"db": influx_database},
                data=f'heart_rate,home=h,device=d value="high" {T0.timestamp():.0f}000000000',
            ) as resp,
        ):
            assert resp.status == 204
        batch = heart_rates("h", "watch", 3)

        with pytest.raises(StoreError, match="field type conflict"):
            await store.write(batch)

        assert store.pending() == 0
        assert store.rejected_path == spool_dir / "rejected.spool"

    rejected = Spool(spool_dir / "rejected.spool")
    rejected.open()
    record = rejected.peek()
    rejected.close()
    assert record is not None
    assert record.count == 3
    lines = record.payload.decode().splitlines()
    assert lines[0].startswith("# rejected by InfluxDB, HTTP 400:")
    assert "field type conflict" in lines[0]
    assert lines[1:] == [
        f"heart_rate,device=watch,home=h,unit=bpm value={60.0 + i} {int(T0.timestamp()) + i}000000000"
        for i in range(3)
    ]


async def test_the_database_is_created_on_enter_and_again_if_dropped(
    influxdb_url: str, influx_database: str, tmp_path: Path
) -> None:
    async with InfluxStore(influxdb_url, influx_database, spool_dir=tmp_path / "spool") as store:
        shown = await _influxql(influxdb_url, influx_database, "SHOW DATABASES")
        assert influx_database in str(shown)

        await _influxql(influxdb_url, influx_database, f'DROP DATABASE "{influx_database}"')
        readings = heart_rates("h", "d", 3)
        await store.write(readings)

        assert store.pending() == 0
        assert await store.query("h", Signal.HEART_RATE, T0, T0 + timedelta(minutes=1)) == readings


async def test_a_reading_line_protocol_cannot_carry_is_refused_with_a_store_error(
    influxdb_url: str, influx_database: str, tmp_path: Path
) -> None:
    async with InfluxStore(influxdb_url, influx_database, spool_dir=tmp_path / "spool") as store:
        with pytest.raises(StoreError, match="non-finite"):
            await store.write([Reading("h", "d", Signal.POWER, float("nan"), T0)])
        assert store.pending() == 0


async def test_two_stores_cannot_share_one_spool_folder(
    influxdb_url: str, influx_database: str, tmp_path: Path
) -> None:
    async with InfluxStore(influxdb_url, influx_database, spool_dir=tmp_path / "spool"):
        with pytest.raises(StoreError, match="another store"):
            async with InfluxStore(influxdb_url, influx_database, spool_dir=tmp_path / "spool"):
                pass
