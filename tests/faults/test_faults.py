"""Faults survived: the real hub (a child process) on real services, one service broken per test while SOS
presses and everyday readings flow.

Each test asserts what a duty manager needs: every SOS that the broker accepted (PUBACK at the publisher)
became an alert and a notification request at the local SMS provider (or the channel it falls back to), and
every reading the broker accepted is in the time-series store once the fault is over. Each prints its row of
the faults table (``FAULTS-TABLE | fault | SOS sent | alerts | notifications | readings sent | lost |``).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.alerts.fake_modem import FakeModem
from tests.alerts.fakes import FakeTwilio
from tests.faults.harness import (
    HOMES,
    FaultHub,
    Traffic,
    assert_nothing_lost,
    influx_readings,
    outcome,
    sqlite_readings,
)
from tests.services.influxdb import InfluxServer
from tests.services.mosquitto import Broker, start_mosquitto
from tests.services.pg_cluster import PgCluster

pytestmark = pytest.mark.slow

HALF = HOMES // 2
READINGS_PER_HOME = 10  # per phase: a motion report every minute for 10 minutes


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A Mosquitto of the test's own that saves its sessions and queues on a clean stop, like production."""
    running = start_mosquitto(tmp_path / "broker", persistence=True)
    yield running
    running.process.terminate()
    running.process.wait(10)


async def _phase(traffic: Traffic, homes: range) -> None:
    """SOS presses from `homes` in the middle of everyday traffic from every home."""
    await traffic.connect()
    for i in homes:
        traffic.sos(i)
    await traffic.burst(range(HOMES), READINGS_PER_HOME)
    await traffic.close()


async def test_broker_restart(tmp_path: Path, broker: Broker, twilio: FakeTwilio) -> None:
    """Mosquitto stops (cleanly, saving its queues) while the hub works through a burst, and comes back on
    the same port; the hub reconnects to its persistent session and takes the rest."""
    hub = FaultHub(tmp_path, broker, twilio)
    traffic = Traffic(broker)
    await hub.start()
    try:
        await _phase(traffic, range(HALF))
        broker.process.terminate()
        broker.process.wait(10)
        await asyncio.sleep(1.0)  # the hub sees the broker gone and starts reconnecting
        restarted = start_mosquitto(tmp_path / "broker", broker.port, persistence=True)
        broker.process = restarted.process  # the fixture stops this one
        await _phase(traffic, range(HALF, HOMES))
        result = await outcome(
            "broker restart", hub, traffic, lambda: sqlite_readings(hub.data_dir), twilio=twilio
        )
        assert hub.exited() is None, "the hub stopped instead of reconnecting"
    finally:
        await hub.stop()
    assert_nothing_lost(result)


async def test_influxdb_down_for_ten_minutes(
    tmp_path: Path, broker: Broker, twilio: FakeTwilio, influxdb: InfluxServer
) -> None:
    """InfluxDB stops while traffic flows and starts again later; the readings of the outage are spooled
    on disk and replayed. Simulated: ten minutes of the site's traffic (a motion report per home per
    minute) is published during an outage of a few seconds of wall time; the spool replay has no notion
    of elapsed time except its retry backoff, which reaches its 5 s cap within that outage."""
    database = f"faults_{uuid.uuid4().hex[:8]}"
    hub = FaultHub(
        tmp_path, broker, twilio, store={"kind": "influxdb", "url": influxdb.url, "database": database}
    )
    traffic = Traffic(broker)
    await hub.start()
    try:
        await traffic.connect()
        await traffic.burst(range(HOMES), 2)
        await traffic.close()
        influxdb.stop()
        await _phase(traffic, range(HALF))
        await _phase(traffic, range(HALF, HOMES))
        await asyncio.sleep(6.0)  # the replay backs off to its cap while InfluxDB is away
        influxdb.start()
        result = await outcome(
            "InfluxDB stopped (10 min of traffic)",
            hub,
            traffic,
            lambda: influx_readings(influxdb.url, database),
            twilio=twilio,
        )
        assert hub.exited() is None
        assert "InfluxDB unavailable" in hub.log()
    finally:
        await hub.stop()
    assert_nothing_lost(result)


async def test_postgresql_restart(tmp_path: Path, broker: Broker, twilio: FakeTwilio) -> None:
    """The register's PostgreSQL (a private cluster) stops while traffic flows and starts again a few
    seconds later. The hub fails closed: it acknowledges nothing it could not commit, says why and exits;
    its supervisor (systemd ``Restart=always``, modelled here) starts it again until PostgreSQL is back, and
    the broker redelivers what was not acknowledged."""
    cluster = PgCluster()
    try:
        cluster.start()
        hub = FaultHub(tmp_path, broker, twilio, register_url=cluster.url)
        traffic = Traffic(broker)
        await hub.start()
        supervisor = asyncio.create_task(hub.supervise())
        try:
            await _phase(traffic, range(HALF))
            await asyncio.to_thread(cluster.stop)
            await _phase(traffic, range(HALF, HOMES))
            await asyncio.sleep(3.0)
            await asyncio.to_thread(cluster.start)
            result = await outcome(
                "PostgreSQL restarted", hub, traffic, lambda: sqlite_readings(hub.data_dir), twilio=twilio
            )
            assert hub.restarts >= 1
            assert "错误 error" in hub.log()  # said why it stopped, in one line (no traceback needed)
        finally:
            supervisor.cancel()
            await hub.stop()
    finally:
        cluster.remove()
    assert_nothing_lost(result)


async def test_sms_provider_fails_then_times_out(tmp_path: Path, broker: Broker, twilio: FakeTwilio) -> None:
    """Twilio answers HTTP 500 to every request, then stops answering at all; every SOS still reaches the
    visitor through the GSM modem, the next channel of the chain."""
    modem = FakeModem()
    twilio.fail_with = (500, 20500)
    hub = FaultHub(
        tmp_path,
        broker,
        twilio,
        modem=modem,
        alerts_extra={"max_attempts": 2, "retry_base_s": 0.2, "retry_max_s": 0.5, "send_timeout_s": 1.0},
    )
    traffic = Traffic(broker)
    await hub.start()
    try:
        await _phase(traffic, range(HALF))
        twilio.fail_with, twilio.hang_s = None, 5.0
        await _phase(traffic, range(HALF, HOMES))
        result = await outcome(
            "SMS provider 500, then timeout",
            hub,
            traffic,
            lambda: sqlite_readings(hub.data_dir),
            twilio=None,  # only what the fallback channel delivered counts
            modem=modem,
        )
        assert twilio.received, "Twilio was not tried first"
    finally:
        await hub.stop()
        modem.close()
    assert_nothing_lost(result)


@contextlib.contextmanager
def _small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `where` (needs root)."""
    where.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=False)
    if done.returncode != 0:
        pytest.fail("cannot mount a small tmpfs for the full-disk test (needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill(disk: Path) -> Path:
    """Fill `disk` up to the last byte; returns the filler file."""
    filler = disk / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 512)
    return filler


async def test_data_dir_disk_full(tmp_path: Path, broker: Broker, twilio: FakeTwilio) -> None:
    """The disk of `data_dir` (register and time series, SQLite) fills up while traffic flows. The hub
    fails closed: it acknowledges nothing it could not write, logs the disk error and exits; its
    supervisor (systemd ``Restart=always``, modelled here) starts it again; once space is freed, the broker's
    redelivery brings everything in."""
    with _small_disk(tmp_path / "disk", "32m") as disk:
        hub = FaultHub(tmp_path, broker, twilio, data_dir=disk / "data")
        traffic = Traffic(broker)
        await hub.start()
        supervisor = asyncio.create_task(hub.supervise())
        try:
            await traffic.connect()
            await traffic.burst(range(HOMES), 2)
            await traffic.close()
            filler = await asyncio.to_thread(_fill, disk)
            await _phase(traffic, range(HALF))
            await _phase(traffic, range(HALF, HOMES))
            await asyncio.sleep(3.0)
            assert "database or disk is full" in hub.log()
            # Said once, plainly, by name: not only a database traceback.
            assert "所在磁盘已满" in hub.log() and "disk full at data_dir" in hub.log()
            filler.unlink()
            result = await outcome(
                "data_dir disk full", hub, traffic, lambda: sqlite_readings(hub.data_dir), twilio=twilio
            )
        finally:
            supervisor.cancel()
            await hub.stop()
    assert_nothing_lost(result)
