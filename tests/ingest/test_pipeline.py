"""The pipeline end to end on real SQLite: decode → store + alerts/quarantine → acknowledged after durable."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from hub.alerts.store import AlertChange
from hub.app import BindingCache
from hub.clock import FrozenClock
from hub.devices.registry import DeviceRegistry
from hub.ingest.pipeline import Pipeline
from hub.ingest.register_writer import RegisterWriter
from hub.models import RawMessage, Signal
from hub.register.models import Alert, AlertEvent, QuarantinedMessage
from hub.sources.delivery import Delivery
from hub.store import SqliteStore
from tests.site_fixture import SITE_YAML, make_site

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


class Harness:
    """A pipeline over a real SQLite register and store, fed deliveries by hand."""

    def __init__(self, tmp: Path, register_url: str | None = None, site_yaml: str = SITE_YAML) -> None:
        self.sessions = make_site(tmp, register_url, site_yaml)
        self.clock = FrozenClock(T0)
        self.store = SqliteStore(tmp / "ts.sqlite")
        self.committed: list[AlertChange] = []
        bindings = BindingCache(self.sessions)
        bindings.reload()
        self.register = RegisterWriter(self.sessions)
        self.pipeline = Pipeline(
            registry=DeviceRegistry.default(),
            bindings=bindings.get,
            store=self.store,
            register=self.register,
            clock=self.clock,
            on_alerts_committed=self.committed.extend,
        )
        self.acked: list[str] = []
        self.reasons: list[str] = []

    def send(self, topic: str, payload: object, at: datetime | None = None) -> Delivery:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        raw = RawMessage("mqtt", topic, data, at or self.clock.now())
        d = Delivery(raw, on_durable=lambda: self.acked.append(topic), on_quarantined=self.reasons.append)
        self.pipeline.accept(d)
        return d

    def alerts(self) -> list[Alert]:
        with self.sessions() as s:
            return list(s.scalars(select(Alert).order_by(Alert.id)).all())


async def test_sos_opens_one_alert_and_counts_repeats(tmp_path: Path, register_url: str) -> None:
    h = Harness(tmp_path, register_url)  # on SQLite and on PostgreSQL
    async with h.store:
        h.send("zigbee2mqtt/h001_sos", {"action": "emergency", "battery": None, "linkquality": 90})
        h.send("zigbee2mqtt/h001_sos", {"action": ""})  # the echo is not a second press
        await h.pipeline.flush()
        h.send("zigbee2mqtt/h001_sos", {"action": "emergency", "linkquality": 88}, T0 + timedelta(minutes=1))
        await h.pipeline.flush()
    alerts = h.alerts()
    assert [(a.kind, a.state, a.count, a.severity) for a in alerts] == [("sos", "open", 2, "critical")]
    with h.sessions() as s:
        events = s.scalars(select(AlertEvent.event).order_by(AlertEvent.id)).all()
    assert events == ["opened", "repeated"]
    assert len(h.acked) == 3
    # Told after commit: one opening, then one repeat (the escalation worker is woken by these).
    assert [(c.opened, c.count) for c in h.committed] == [(True, 1), (False, 2)]
    assert all("紧急呼叫" in c.explanation for c in h.committed)


async def test_ack_only_after_durable(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    seen_at_ack: list[int] = []

    async with h.store:
        raw = RawMessage("mqtt", "zigbee2mqtt/h002_sos", b'{"action":"emergency"}', T0)

        def on_durable() -> None:
            # At the moment of acknowledgement the alert must already be committed.
            with h.sessions() as s:
                seen_at_ack.append(int(s.scalar(select(func.count(Alert.id))) or 0))

        h.pipeline.accept(Delivery(raw, on_durable=on_durable))
        assert seen_at_ack == []  # not acknowledged on receipt
        await h.pipeline.flush()
    assert seen_at_ack == [1]


async def test_bad_and_unknown_messages_are_quarantined_with_reason(
    tmp_path: Path, register_url: str
) -> None:
    h = Harness(tmp_path, register_url)
    async with h.store:
        h.send("zigbee2mqtt/h001_sos", b"{not json")
        h.send("zigbee2mqtt/stranger_device", {"action": "emergency"})
        h.send("zigbee2mqtt/bridge/state", {"state": "online"})  # not a device: ignored, not quarantined
        h.send("zigbee2mqtt/h001_motion", {"occupancy": True, "linkquality": 40})
        await h.pipeline.flush()
    with h.sessions() as s:
        rows = s.scalars(select(QuarantinedMessage).order_by(QuarantinedMessage.id)).all()
        quarantined = [(q.topic, q.payload, q.reason) for q in rows]
    assert [q[0] for q in quarantined] == ["zigbee2mqtt/h001_sos", "zigbee2mqtt/stranger_device"]
    assert quarantined[0][1] == b"{not json"
    assert "stranger_device" in quarantined[1][2]
    assert len(h.reasons) == 2
    assert len(h.acked) == 4  # quarantined messages are kept, so they are acknowledged too
    async with h.store:
        motion = await h.store.query("H001", Signal.MOTION, T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert [r.value for r in motion] == [1.0]


async def test_meter_reset_never_reads_as_negative_or_huge_use(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    counts = [1000, 1010, 1025, 3, 10]  # the counter restarts from 0 after a power cut
    async with h.store:
        for i, c in enumerate(counts):
            at = T0 + timedelta(minutes=5 * i)
            h.send("tele/h001_water/SENSOR", {"Time": "2026-11-28T14:00:00", "COUNTER": {"C1": c}}, at)
            await h.pipeline.flush()
        totals = await h.store.query(
            "H001", Signal.WATER_TOTAL, T0 - timedelta(hours=1), T0 + timedelta(hours=1)
        )
    values = [r.value for r in totals]
    steps = [b - a for a, b in itertools.pairwise(values)]
    assert all(0 <= s <= 20 for s in steps), values
    assert sum(steps) == 10 + 15 + 3 + 7  # the litres that really flowed, counting from 0 after the reset


async def test_counter_state_survives_a_restart(tmp_path: Path, register_url: str) -> None:
    h = Harness(tmp_path, register_url)
    async with h.store:
        h.send("tele/h001_water/SENSOR", {"COUNTER": {"C1": 500}})
        await h.pipeline.flush()
        h.send("tele/h001_water/SENSOR", {"COUNTER": {"C1": 2}}, T0 + timedelta(minutes=5))  # reset
        await h.pipeline.flush()
    # A new pipeline (a restarted hub) over the same register and store.
    h2 = Harness.__new__(Harness)
    h2.__dict__.update(h.__dict__)
    h2.pipeline = Pipeline(
        registry=DeviceRegistry.default(),
        bindings=h.pipeline._bindings,
        store=h.store,
        register=RegisterWriter(h.sessions),
        clock=h.clock,
    )
    await h2.pipeline.restore()
    async with h.store:
        h2.send("tele/h001_water/SENSOR", {"COUNTER": {"C1": 6}}, T0 + timedelta(minutes=10))
        await h2.pipeline.flush()
        totals = await h.store.query(
            "H001", Signal.WATER_TOTAL, T0 - timedelta(hours=1), T0 + timedelta(hours=1)
        )
    assert totals[-1].value - totals[0].value == 2 + 4


async def test_cancel_after_press_closes_the_alert_and_a_new_press_opens_another(
    tmp_path: Path, register_url: str
) -> None:
    h = Harness(tmp_path, register_url)
    async with h.store:
        h.send("eldercare/h001_health/heart_rate", b"72")  # unrelated reading in the same batch
        h.send("zigbee2mqtt/h002_sos", {"action": "emergency"})
        h.send("zigbee2mqtt/h002_sos", {"action": "emergency"}, T0 + timedelta(seconds=5))  # pressed again
        await h.pipeline.flush()
    # A cancel (the elder's SOS value 0) and new presses, straight into the register writer.
    from hub.ingest.register_writer import group_repeats
    from hub.models import AlertCandidate, Severity

    cancel = AlertCandidate(
        "H002", "sos", Severity.CRITICAL, T0 + timedelta(minutes=2), "H002-sos", "老人已取消", cancel=True
    )
    again = AlertCandidate(
        "H002", "sos", Severity.CRITICAL, T0 + timedelta(minutes=3), "H002-sos", "再次按下"
    )
    again_later = AlertCandidate(
        "H002", "sos", Severity.CRITICAL, T0 + timedelta(minutes=3, seconds=10), "H002-sos", "再次按下"
    )
    assert [len(g) for g in group_repeats([cancel, again, again_later])] == [1, 2]
    changes = h.register.commit([], [cancel, again, again_later], {}, T0)
    assert [(c.cancelled, c.opened, c.count) for c in changes] == [(True, False, 2), (False, True, 2)]
    states = [(a.state, a.count, a.active_key) for a in h.alerts()]
    assert states == [("cancelled", 2, None), ("open", 2, "H002/sos")]


async def test_an_sos_from_a_device_with_a_wrong_clock_opens_at_receipt_time(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    claims = {
        "h001_sos": datetime(1970, 1, 1, tzinfo=UTC),  # a clock never set
        "h002_sos": datetime(2100, 1, 1, tzinfo=UTC),
    }
    async with h.store:
        for device, claimed in claims.items():
            h.send(f"zigbee2mqtt/{device}", {"action": "emergency", "last_seen": claimed.isoformat()})
        await h.pipeline.flush()
        latest = await h.store.latest("H002")
    alerts = h.alerts()
    assert [a.opened_at for a in alerts] == [T0, T0]
    for alert in alerts:
        assert "11-28 14:00:00" in alert.explanation  # T0 in Asia/Shanghai, not the device's 01-01 08:00:00
        assert "设备时钟异常" in alert.explanation
    assert latest and all(r.ts <= T0 for r in latest)


async def test_impossible_value_is_quarantined_and_the_sos_it_came_with_still_alerts(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    async with h.store:
        h.send("zigbee2mqtt/h001_sos", {"action": "emergency", "battery": 250})
        await h.pipeline.flush()
        battery = await h.store.query(
            "H001", Signal.BATTERY, T0 - timedelta(hours=1), T0 + timedelta(hours=1)
        )
    assert [(a.kind, a.state) for a in h.alerts()] == [("sos", "open")]
    assert battery == []  # the impossible value reached neither the store nor the rules
    with h.sessions() as s:
        [row] = s.scalars(select(QuarantinedMessage)).all()
    assert row.topic == "zigbee2mqtt/h001_sos"
    assert "battery=250" in row.reason and "0..100" in row.reason
    assert h.reasons == [row.reason]
    assert h.acked == ["zigbee2mqtt/h001_sos"]


async def test_a_huge_payload_is_quarantined_as_a_prefix_with_its_size_and_hash(tmp_path: Path) -> None:
    import hashlib

    from hub.ingest.quarantine import KEEP_BYTES, list_quarantine

    h = Harness(tmp_path)
    payload = b'{"action": "emergency", "pad": "' + "é".encode() * 2_600_000 + b'"}'
    async with h.store:
        h.send("zigbee2mqtt/stranger_device", payload)
        await h.pipeline.flush()
    with h.sessions() as s:
        [row] = s.scalars(select(QuarantinedMessage)).all()
        assert row.payload == payload[:KEEP_BYTES]
        assert (row.payload_size, row.payload_sha256) == (len(payload), hashlib.sha256(payload).hexdigest())
        [listed] = list_quarantine(s)
    assert "stranger_device" in row.reason
    assert listed["size"] == len(payload) and listed["truncated"] is True
    assert listed["payload"].startswith('{"action": "emergency", "pad": "éé')  # no split character, no b64
    assert len(str(listed["payload"]).encode()) <= 4096


async def test_a_burst_of_repeats_is_one_press_and_a_later_press_counts(tmp_path: Path) -> None:
    # A 433 MHz button sends its code several times per press, a retry repeats a message: the elder pressed
    # once. Only a press more than SAME_PRESS_S after the one before is counted and told again.
    h = Harness(tmp_path)
    async with h.store:
        for ms in (0, 120, 240, 360):
            h.send("zigbee2mqtt/h001_sos", {"action": "emergency"}, T0 + timedelta(milliseconds=ms))
        await h.pipeline.flush()
        for ms in (500, 620):  # the same burst, in the next batch: nothing new to tell
            h.send("zigbee2mqtt/h001_sos", {"action": "emergency"}, T0 + timedelta(milliseconds=ms))
        await h.pipeline.flush()
        h.send("zigbee2mqtt/h001_sos", {"action": "emergency"}, T0 + timedelta(seconds=30))
        await h.pipeline.flush()
    [alert] = h.alerts()
    assert alert.count == 2
    assert [(c.opened, c.count) for c in h.committed] == [(True, 1), (False, 2)]
    with h.sessions() as s:
        events = s.scalars(select(AlertEvent.event).order_by(AlertEvent.id)).all()
    assert events == ["opened", "repeated"]
