"""What every fault test shares: a real hub in a child process, real-format traffic, and the tally.

The traffic is what the homes of `tests.hubproc.sos_site` send: one SOS press per home and everyday motion
reports whose illuminance is a per-device sequence number, so that every acknowledged reading can be found
again in the store. `Tally` counts what the broker accepted (PUBACK at the publisher) against what came out:
alerts in the register, notification requests at the local SMS provider (or the GSM modem it falls back
to), and readings in the time-series store.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gmqtt

from tests.alerts.fake_modem import FakeModem
from tests.alerts.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio
from tests.hubproc import HubProcess, cli, sos_site, visitor_phone
from tests.services.mosquitto import Broker, free_port

HOMES = 30
DEADLINE_S = 90.0  # a safety net for polling only; nothing asserts how long recovery took


@dataclass
class FaultHub:
    """A hub child process on its own data dir, config and HTTP port, wired to a local Twilio."""

    tmp: Path
    broker: Broker
    twilio: FakeTwilio
    store: dict[str, str] = field(default_factory=lambda: {"kind": "sqlite"})
    register_url: str = ""
    data_dir: Path | None = None
    modem: FakeModem | None = None
    alerts_extra: dict[str, Any] = field(default_factory=dict)
    restarts: int = 0  # how often the supervisor had to start the hub again

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir or self.tmp / "data"
        self.http_port = free_port()
        self.config = self.tmp / "hub.toml"
        self.config.write_text(self._toml(), encoding="utf-8")
        env = {"HUB_TWILIO_AUTH_TOKEN": AUTH_TOKEN}
        if self.register_url:
            env["HUB_REGISTER_URL"] = self.register_url
        self.process = HubProcess(self.config, self.http_port, self.tmp / "hub.log", env=env)
        site = self.tmp / "site.yaml"
        site.write_text(sos_site(HOMES), encoding="utf-8")
        self.cli("load", str(site))

    def _toml(self) -> str:
        def table(name: str, values: dict[str, Any]) -> str:
            return f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items())

        alerts = {"public_url": f"http://127.0.0.1:{self.http_port}", "poll_s": 0.2, **self.alerts_extra}
        parts = [
            f"data_dir = {json.dumps(str(self.data_dir))}\n",
            table("mqtt", {"url": self.broker.url, "client_id": f"hub-fault-{uuid.uuid4().hex[:6]}"}),
            table("http", {"host": "127.0.0.1", "port": self.http_port}),
            table("store", self.store),
            table("pipeline", {"flush_interval_s": 0.01}),
            table("alerts", alerts),
            table(
                "alerts.twilio",
                {"account_sid": ACCOUNT_SID, "from_number": FROM_NUMBER, "api_base": self.twilio.url},
            ),
        ]
        if self.modem is not None:
            parts.append(table("alerts.gsm", {"url": self.modem.path, "command_timeout_s": 2.0}))
        return "".join(parts)

    def cli(self, *args: str) -> str:
        """Run an `eldercare-hub` command on this hub's config (and register)."""
        return cli(self.config, *args, env=self.process.env)

    async def start(self) -> None:
        """Start the hub and wait until it is connected to the broker."""
        self.process.start()
        await asyncio.to_thread(self.process.wait_ready)

    async def supervise(self, restart_s: float = 0.5) -> None:
        """Start the hub again whenever it exits, as systemd's ``Restart=always`` does in production
        (deploy/systemd/eldercare-hub.service; `restart_s` stands for its RestartSec). Run as a task."""
        while True:
            await asyncio.sleep(restart_s)
            if self.exited() is not None:
                self.restarts += 1
                self.process.start()

    def exited(self) -> int | None:
        """The hub's exit code, or None while it runs."""
        return None if self.process.proc is None else self.process.proc.poll()

    def log(self) -> str:
        """Everything the hub has logged so far."""
        return self.process.log.read_text(encoding="utf-8", errors="replace")

    async def alerts(self) -> list[dict[str, Any]]:
        """Every alert, through the API."""
        return list(await asyncio.to_thread(self.process.get, "/api/v1/alerts?limit=5000"))

    async def stop(self) -> None:
        """SIGTERM the hub (SIGKILL if it does not go)."""
        await asyncio.to_thread(self.process.stop)


class Traffic:
    """A publisher of real-format traffic that knows which messages the broker accepted."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.sos_accepted: set[int] = set()  # homes whose SOS press the broker acknowledged
        self.readings_accepted: dict[str, set[int]] = {}  # motion device → illuminance sequence numbers
        self._seq: dict[int, int] = {}
        self._client: gmqtt.Client | None = None
        self._unacked: list[tuple[str, Callable[[], None]]] = []

    async def connect(self) -> None:
        """Connect (again, after a broker restart)."""
        self._client = gmqtt.Client(f"fault-pub-{uuid.uuid4().hex[:8]}")
        await self._client.connect(self.broker.host, self.broker.port)

    async def close(self) -> None:
        """Wait for every PUBACK, then disconnect."""
        await self.settle()
        if self._client is not None:
            await self._client.disconnect()
            self._client = None

    def sos(self, home: int) -> None:
        """Home `home` presses its SOS button."""
        self._publish(f"zigbee2mqtt/h{home:04d}_sos", {"action": "emergency", "linkquality": 90})
        self._unacked.append(("", lambda: self.sos_accepted.add(home)))

    def reading(self, home: int) -> None:
        """Home `home`'s motion sensor reports (illuminance = its next sequence number)."""
        seq = self._seq.get(home, 0) + 1
        self._seq[home] = seq
        self._publish(f"zigbee2mqtt/h{home:04d}_motion", {"occupancy": seq % 2 == 0, "illuminance": seq})
        device = f"H{home:04d}-motion"
        self._unacked.append(("", lambda: self.readings_accepted.setdefault(device, set()).add(seq)))

    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        assert self._client is not None, "connect() first"
        self._client.publish(topic, json.dumps(payload).encode(), qos=1)

    async def settle(self) -> None:
        """Wait until the broker acknowledged every publish; count them as accepted."""
        assert self._client is not None
        deadline = time.monotonic() + 30.0
        # gmqtt offers no event for 'every publish acknowledged'; poll its in-flight store.
        while self._client._persistent_storage.get_all():
            if time.monotonic() > deadline:
                raise AssertionError("the broker did not acknowledge every publish")
            await asyncio.sleep(0.02)
        for _, accepted in self._unacked:
            accepted()
        self._unacked.clear()

    async def burst(self, homes: range, readings_per_home: int) -> None:
        """Everyday traffic from `homes`, acknowledged by the broker."""
        for k in range(readings_per_home):
            for i in homes:
                self.reading(i)
            if k % 5 == 4:
                await asyncio.sleep(0)  # let the client's transport drain
        await self.settle()

    @property
    def readings_sent(self) -> int:
        """Readings the broker accepted."""
        return sum(len(s) for s in self.readings_accepted.values())


def sqlite_readings(data_dir: Path) -> dict[str, set[int]]:
    """Illuminance sequence numbers per motion device in the SQLite time-series store."""
    with sqlite3.connect(f"file:{data_dir / 'timeseries.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT device, value FROM readings WHERE signal = 'illuminance'").fetchall()
    out: dict[str, set[int]] = {}
    for device, value in rows:
        out.setdefault(device, set()).add(int(value))
    return out


def influx_readings(url: str, database: str) -> dict[str, set[int]]:
    """Illuminance sequence numbers per motion device in InfluxDB."""
    query = urllib.parse.urlencode({"db": database, "q": 'SELECT "value","device" FROM "illuminance"'})
    with urllib.request.urlopen(f"{url}/query?{query}", timeout=10) as resp:
        body = json.load(resp)
    out: dict[str, set[int]] = {}
    for result in body.get("results", []):
        for series in result.get("series", []):
            for _, value, device in series.get("values") or []:
                out.setdefault(device, set()).add(int(value))
    return out


@dataclass
class Outcome:
    """One row of the faults table."""

    fault: str
    sos_sent: int
    alerts: int
    notifications: int
    readings_sent: int
    readings_lost: int

    def row(self) -> str:
        """A Markdown table row."""
        return (
            f"| {self.fault} | {self.sos_sent} | {self.alerts} | {self.notifications} | "
            f"{self.readings_sent} | {self.readings_lost} |"
        )


def notified_homes(twilio: FakeTwilio | None, modem: FakeModem | None) -> set[int]:
    """Homes whose designated visitor got an SMS at the local Twilio or through the GSM modem."""
    phones: set[str] = set()
    if twilio is not None:
        phones |= {m["To"].removeprefix("+86") for m in twilio.sms()}
    if modem is not None:
        phones |= {number.removeprefix("+86") for number, _ in modem.sent}
    return {i for i in range(HOMES) if visitor_phone(i) in phones}


async def outcome(
    fault: str,
    hub: FaultHub,
    traffic: Traffic,
    stored: Callable[[], dict[str, set[int]]],
    *,
    twilio: FakeTwilio | None,
    modem: FakeModem | None = None,
) -> Outcome:
    """Wait until every accepted SOS has an alert and a notification and every reading is stored (or the
    deadline passes), then tally."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        alerts = {int(a["home"][1:]) for a in await hub.alerts() if a["kind"] == "sos"}
        notified = notified_homes(twilio, modem)
        have = await asyncio.to_thread(stored)
        lost = sum(len(seqs - have.get(device, set())) for device, seqs in traffic.readings_accepted.items())
        done = traffic.sos_accepted <= alerts and traffic.sos_accepted <= notified and lost == 0
        if done or time.monotonic() > deadline:
            result = Outcome(
                fault,
                len(traffic.sos_accepted),
                len(alerts & traffic.sos_accepted),
                len(notified & traffic.sos_accepted),
                traffic.readings_sent,
                lost,
            )
            print(f"\nFAULTS-TABLE {result.row()}")
            return result
        await asyncio.sleep(0.5)


def assert_nothing_lost(result: Outcome) -> None:
    """Every accepted SOS became an alert and a notification; every accepted reading is stored."""
    assert result.sos_sent == HOMES, result
    assert result.alerts == result.sos_sent, result
    assert result.notifications == result.sos_sent, result
    assert result.readings_lost == 0, result
