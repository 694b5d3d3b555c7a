"""The HTTP API of a real hub (in-process) on real Mosquitto and SQLite, called over HTTP like a client would."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import gmqtt
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.app import RunningHub, run_hub
from hub.config import parse_config
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.models import RawMessage, Signal
from hub.register.models import Device
from hub.register.tokens import issue_token
from hub.web.api import MAX_INGEST_BYTES
from hub.web.auth import add_user, issue_api_token
from tests.services.mosquitto import Broker, free_port
from tests.site_fixture import make_site

T = TypeVar("T")

# A safety net for polling only: nothing asserts how long anything took.
DEADLINE_S = 20.0


@dataclass
class Hub:
    """A running hub and what a test needs to talk to it."""

    running: RunningHub
    http: aiohttp.ClientSession
    sessions: sessionmaker[Session]
    broker: Broker
    auth: dict[str, str]  # an admin API client's Authorization header

    @property
    def url(self) -> str:
        return self.running.http_url

    async def get(self, path: str) -> Any:
        async with self.http.get(self.url + path, headers=self.auth) as resp:
            assert resp.status == 200, (path, resp.status, await resp.text())
            return await resp.json()

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish with QoS 1 and return once the broker has acknowledged it."""
        pub = gmqtt.Client(f"api-test-pub-{uuid.uuid4().hex[:8]}")
        await pub.connect(self.broker.host, self.broker.port)
        try:
            pub.publish(topic, payload, qos=1)
            await until(lambda: _nothing_unacked(pub), bool, "the broker to acknowledge the publish")
        finally:
            await pub.disconnect()

    def token_for(self, device_code: str) -> str:
        with self.sessions.begin() as session:
            return issue_token(session, device_code)

    async def ingest(self, body: bytes | str, token: str | None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        async with self.http.post(self.url + "/api/v1/ingest", data=body, headers=headers) as resp:
            return resp.status, await resp.json()


async def _nothing_unacked(client: gmqtt.Client) -> bool:
    return not client._persistent_storage.get_all()


async def until(fetch: Callable[[], Awaitable[T]], ok: Callable[[T], bool], what: str) -> T:
    """Call `fetch` until `ok(result)`; fail naming `what` and the last result if it never happens."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        value = await fetch()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def hub(quiet_mosquitto: Broker, tmp_path: Path) -> AsyncIterator[Hub]:
    """The hub with the test site loaded, on a Mosquitto of this module, HTTP on a free port."""
    async for h in _start_hub(quiet_mosquitto, tmp_path):
        yield h


async def _start_hub(
    quiet_mosquitto: Broker, tmp_path: Path, prepare: Callable[[Session], None] | None = None
) -> AsyncIterator[Hub]:
    sessions = make_site(tmp_path)
    if prepare is not None:
        with sessions.begin() as session:
            prepare(session)
    config = parse_config(
        {
            "data_dir": str(tmp_path),
            "mqtt": {"url": quiet_mosquitto.url, "client_id": f"api-test-hub-{uuid.uuid4().hex[:8]}"},
            "http": {"port": free_port()},
        },
        env={},
    )
    started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(run_hub(config, started=started))
    waiters: list[asyncio.Future[Any]] = [started, task]
    done, _ = await asyncio.wait(waiters, timeout=DEADLINE_S, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # the hub failed to start: show why
    assert started in done, "the hub did not start"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=DEADLINE_S)) as http:
            with sessions.begin() as session:
                add_user(session, "区管理员", "admin", now=datetime.now(UTC))
                token = issue_api_token(session, "区管理员", now=datetime.now(UTC))
            h = Hub(started.result(), http, sessions, quiet_mosquitto, {"Authorization": f"Bearer {token}"})
            await until(lambda: h.get("/healthz"), lambda b: b["mqtt_connected"], "the MQTT connection")
            yield h
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def _messages_total(metrics_text: str, source: str) -> float:
    match = re.search(rf'^hub_messages_total\{{source="{source}"\}} (\S+)$', metrics_text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _home(homes: list[dict[str, Any]], code: str) -> dict[str, Any]:
    return next(h for h in homes if h["code"] == code)


def _latest(homes: list[dict[str, Any]], code: str, signal: str) -> list[dict[str, Any]]:
    return [r for r in _home(homes, code)["latest"] if r["signal"] == signal]


SOS = json.dumps({"action": "emergency", "linkquality": 90}).encode()


# -- health, metrics, page ------------------------------------------------------------------------------


async def test_healthz_reports_ok_and_mqtt_connected(hub: Hub) -> None:
    async with hub.http.get(hub.url + "/healthz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["status"] == "ok"
    assert body["mqtt_connected"] is True
    assert body["error"] is None


async def test_metrics_count_processed_messages(hub: Hub) -> None:
    async def metrics() -> str:
        async with hub.http.get(hub.url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/plain"
            return await resp.text()

    before = _messages_total(await metrics(), "mqtt")
    await hub.publish("zigbee2mqtt/h001_motion", json.dumps({"occupancy": True}).encode())
    text = await until(metrics, lambda t: _messages_total(t, "mqtt") > before, "hub_messages_total to grow")
    assert "# TYPE hub_messages_total counter" in text


async def test_index_page_is_served(hub: Hub) -> None:
    async with hub.http.get(hub.url + "/") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        assert "居家" in await resp.text()


# -- alerts and homes ------------------------------------------------------------------------------------


async def test_sos_over_mqtt_becomes_an_active_alert_and_a_latest_reading(hub: Hub) -> None:
    await hub.publish("zigbee2mqtt/h001_sos", SOS)

    def has_sos(alerts: list[dict[str, Any]]) -> bool:
        # Open, and at once notifying: escalation starts in the alert's own transaction.
        return any(
            a["home"] == "H001" and a["kind"] == "sos" and a["state"] in ("open", "notifying") for a in alerts
        )

    alerts = await until(lambda: hub.get("/api/v1/alerts"), has_sos, "the SOS alert")
    alert = next(a for a in alerts if a["home"] == "H001" and a["kind"] == "sos")
    assert {"id", "home", "kind", "state", "opened_at"} <= set(alert)
    assert isinstance(alert["id"], int)
    assert datetime.fromisoformat(alert["opened_at"]).tzinfo is not None
    assert [a["home"] for a in alerts] == ["H001"]  # nothing was raised for H002

    active = await hub.get("/api/v1/alerts?active=1")
    assert [a["id"] for a in active] == [alert["id"]]

    homes = await hub.get("/api/v1/homes")
    assert [h["code"] for h in homes] == ["H001", "H002"]
    assert _home(homes, "H001")["elders"] == [{"name": "张秀英", "tier": "key"}]
    assert _home(homes, "H002")["elders"] == [{"name": "王建国", "tier": "general"}]
    sos = _latest(homes, "H001", "sos")
    assert len(sos) == 1 and sos[0]["device"] == "H001-sos" and sos[0]["value"] == 1
    assert _home(homes, "H002")["latest"] == []


async def test_empty_register_views_before_any_message(hub: Hub) -> None:
    assert await hub.get("/api/v1/alerts") == []
    assert await hub.get("/api/v1/alerts?active=1") == []
    assert await hub.get("/api/v1/quarantine") == []
    # One process on SQLite: one partition, no lease, every home in it.
    partitions = await hub.get("/api/v1/partitions")
    assert (partitions["count"], partitions["instances"]) == (1, [])
    [only] = partitions["partitions"]
    assert (only["partition"], only["owner"], only["held"], only["homes"]) == (0, "", False, 2)


# -- quarantine ------------------------------------------------------------------------------------------


async def test_garbage_over_mqtt_is_listed_in_quarantine_with_reason(hub: Hub) -> None:
    await hub.publish("zigbee2mqtt/h001_sos", b"{this is not json")
    rows = await until(lambda: hub.get("/api/v1/quarantine"), bool, "the quarantine entry")
    assert len(rows) == 1
    row = rows[0]
    assert row["topic"] == "zigbee2mqtt/h001_sos"
    assert row["source"] == "mqtt"
    assert row["payload"] == "{this is not json"
    assert row["reason"]
    assert await hub.get("/api/v1/alerts") == []  # garbage raises no alert


@pytest.mark.parametrize("path", ["/api/v1/quarantine?limit=abc", "/api/v1/alerts?limit=abc"])
async def test_non_numeric_limit_is_a_bad_request(hub: Hub, path: str) -> None:
    async with hub.http.get(hub.url + path, headers=hub.auth) as resp:
        assert resp.status == 400
        assert "limit" in await resp.text()


# -- HTTP ingest -----------------------------------------------------------------------------------------


def test_native_decoder_accepts_the_http_channel() -> None:
    """The ingest handler hands the body to the pipeline as ``eldercare/<external id>/http``."""
    registry = DeviceRegistry.default()
    binding = Binding("H001", "H001-health", "native", "h001_health", "health_monitor")
    body = [
        {"signal": "heart_rate", "value": 72, "ts": "2026-11-28T06:00:00+00:00"},
        {"signal": "spo2", "value": 97},
    ]
    received = datetime(2026, 11, 28, 6, 5, tzinfo=UTC)
    raw = RawMessage("http", "eldercare/h001_health/http", json.dumps(body).encode(), received)
    route = registry.route(raw.topic)
    assert route is not None
    readings = registry.decode(raw, route, binding)
    assert [(r.signal, r.value, r.ts) for r in readings] == [
        (Signal.HEART_RATE, 72.0, datetime(2026, 11, 28, 6, 0, tzinfo=UTC)),
        (Signal.SPO2, 97.0, received),
    ]


async def test_ingest_with_device_token_is_accepted_and_visible(hub: Hub) -> None:
    token = hub.token_for("H001-health")
    # A monitor's own time a few minutes back (a device time days old would be replaced by receipt time).
    measured = (datetime.now(UTC) - timedelta(minutes=3)).replace(microsecond=0)
    reading = {"signal": "heart_rate", "value": 72, "ts": measured.isoformat()}
    status, body = await hub.ingest(json.dumps(reading), token)
    assert status == 202, body
    # 202 means durable: the reading is visible at once, no polling needed.
    heart = _latest(await hub.get("/api/v1/homes"), "H001", "heart_rate")
    assert [(r["device"], r["value"], r["ts"]) for r in heart] == [("H001-health", 72, measured.isoformat())]

    readings = [
        {"signal": "bp_systolic", "value": 135, "ts": "2026-11-28T06:01:00+00:00"},
        {"signal": "bp_diastolic", "value": 85, "ts": "2026-11-28T06:01:00+00:00"},
    ]
    status, body = await hub.ingest(json.dumps(readings), token)
    assert status == 202, body
    homes = await hub.get("/api/v1/homes")
    assert [r["value"] for r in _latest(homes, "H001", "bp_systolic")] == [135]
    assert [r["value"] for r in _latest(homes, "H001", "bp_diastolic")] == [85]
    assert await hub.get("/api/v1/quarantine") == []


async def test_ingest_without_or_with_wrong_token_is_unauthorised(hub: Hub) -> None:
    hub.token_for("H001-health")
    reading = json.dumps({"signal": "heart_rate", "value": 72})
    for token in (None, "", "not-the-token"):
        status, body = await hub.ingest(reading, token)
        assert status == 401, (token, body)
        assert body["error"]
    homes = await hub.get("/api/v1/homes")
    assert _latest(homes, "H001", "heart_rate") == []  # nothing got in


async def test_replaced_token_stops_working(hub: Hub) -> None:
    old = hub.token_for("H001-health")
    new = hub.token_for("H001-health")
    assert old != new
    reading = json.dumps({"signal": "heart_rate", "value": 70})
    status, _ = await hub.ingest(reading, old)
    assert status == 401


async def test_ingest_body_that_is_not_json_is_quarantined_and_refused(hub: Hub) -> None:
    token = hub.token_for("H001-health")
    status, body = await hub.ingest("heart_rate=72", token)
    assert status == 400
    assert "隔离" in body["error"]
    rows = await hub.get("/api/v1/quarantine")
    assert len(rows) == 1
    assert rows[0]["source"] == "http"
    assert rows[0]["payload"] == "heart_rate=72"
    assert "json" in rows[0]["reason"].lower()


async def test_ingest_signal_the_model_does_not_send_is_refused(hub: Hub) -> None:
    token = hub.token_for("H001-health")
    status, body = await hub.ingest(json.dumps({"signal": "water_total", "value": 5}), token)
    assert status == 400
    assert "water_total" in body["error"]


async def test_ingest_token_of_non_native_device_is_refused(hub: Hub) -> None:
    token = hub.token_for("H001-sos")
    status, body = await hub.ingest(json.dumps({"signal": "sos", "value": 1}), token)
    assert status == 400
    assert "H001-sos" in body["error"]
    assert await hub.get("/api/v1/alerts") == []  # no SOS was raised through the back door


async def test_ingest_body_too_large_is_refused(hub: Hub) -> None:
    token = hub.token_for("H001-health")
    status, _ = await hub.ingest(b"[" + b" " * MAX_INGEST_BYTES + b"]", token)
    assert status == 413


async def _chunks(body: bytes, size: int = 16 * 1024) -> AsyncIterator[bytes]:
    """`body` in pieces with a pause between them, as a slow client or proxy delivers it (chunked)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]
        await asyncio.sleep(0.005)


async def test_ingest_reads_a_large_body_sent_in_chunks_whole(hub: Hub) -> None:
    # ~195 KB: under the limit, but larger than one read of the server's buffer (it was cut at 64 KiB).
    token = hub.token_for("H001-health")
    reading = {"signal": "heart_rate", "value": 71, "ts": "2026-11-28T06:00:00+00:00", "note": "x" * 195_000}
    body = json.dumps(reading).encode()
    assert 190_000 < len(body) < MAX_INGEST_BYTES
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    for _ in range(3):
        async with hub.http.post(hub.url + "/api/v1/ingest", data=_chunks(body), headers=headers) as resp:
            assert resp.status == 202, await resp.text()
    assert await hub.get("/api/v1/quarantine") == []


@pytest.mark.parametrize("chunked", [False, True])
async def test_ingest_body_of_5_mb_is_always_413(hub: Hub, chunked: bool) -> None:
    token = hub.token_for("H001-health")
    body = json.dumps([{"signal": "heart_rate", "value": 70}] * 150_000).encode()
    assert len(body) > 5_000_000
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    for _ in range(3):
        data: Any = _chunks(body, 256 * 1024) if chunked else body
        async with hub.http.post(hub.url + "/api/v1/ingest", data=data, headers=headers) as resp:
            assert resp.status == 413, await resp.text()
            assert str(MAX_INGEST_BYTES) in (await resp.json())["error"]
    assert await hub.get("/api/v1/quarantine") == []  # refused, not half-read and quarantined


@pytest.mark.parametrize(
    ("value", "why"),
    [(-50, "heart_rate=-50 超出物理范围 out of range 20..300 bpm"), (True, "must be a number")],
)
async def test_ingest_impossible_heart_rate_is_quarantined_with_reason(
    hub: Hub, value: object, why: str
) -> None:
    token = hub.token_for("H001-health")
    status, body = await hub.ingest(json.dumps({"signal": "heart_rate", "value": value}), token)
    assert status == 400, body
    assert why in body["error"]
    [row] = await hub.get("/api/v1/quarantine")
    assert why in row["reason"]
    assert _latest(await hub.get("/api/v1/homes"), "H001", "heart_rate") == []


async def test_a_registered_device_its_model_cannot_decode_raises_a_device_alert_at_start(
    quiet_mosquitto: Broker, tmp_path: Path
) -> None:
    # The loader refuses this now, but a register from before (or edited by hand) may still hold it.
    def break_meter(session: Session) -> None:
        meter = session.scalars(select(Device).where(Device.code == "H001-water")).one()
        meter.settings = {"report_interval_s": 300}

    async for h in _start_hub(quiet_mosquitto, tmp_path, break_meter):
        alerts = await until(partial(h.get, "/api/v1/alerts"), bool, "the configuration alert")
        assert [(a["kind"], a["device"], a["class"]) for a in alerts] == [
            ("device_config", "H001-water", "device")
        ]
        assert "settings.litres_per_pulse" in alerts[0]["explanation"]


async def test_quarantine_list_is_paged_and_bounded(hub: Hub) -> None:
    big = b"x" * 5_000_000  # a 5 MB payload to a device nobody registered
    await hub.publish("zigbee2mqtt/stranger", big)
    await until(partial(hub.get, "/api/v1/quarantine"), bool, "the quarantine entry")
    token = hub.token_for("H001-health")
    for i in range(3):
        assert (await hub.ingest(f"not json {i}", token))[0] == 400
    async with hub.http.get(hub.url + "/api/v1/quarantine", headers=hub.auth) as resp:
        body = await resp.read()
        assert len(body) < 100_000  # was 5.9 MB
        rows = json.loads(body)
    assert [r["size"] for r in rows] == [10, 10, 10, 5_000_000]
    assert rows[-1]["truncated"] and not rows[0]["truncated"] and rows[0]["payload"] == "not json 2"
    seen: list[int] = []
    before = ""
    while True:
        async with hub.http.get(f"{hub.url}/api/v1/quarantine?limit=3{before}", headers=hub.auth) as resp:
            page = await resp.json()
            seen += [r["id"] for r in page]
            following = resp.headers.get("X-Next-Before")
        if following is None:
            break
        before = f"&before={following}"
    assert seen == [r["id"] for r in rows]
    for odd in ("-4929416348231175024748265472", "0", str(2**63), "x"):  # schemathesis found the first: 500
        async with hub.http.get(f"{hub.url}/api/v1/quarantine?before={odd}", headers=hub.auth) as resp:
            assert resp.status == 400, odd
