"""A pendant's SOS survives a hub killed between receipt and durable: no "AL" reply, so the pendant re-sends.

The real hub runs as a child process with the watch TCP source. The register is held locked (a writer in
another connection, as a slow disk or a long transaction would) so the SOS is received but cannot become
durable; the hub is SIGKILLed in that state. A simulated pendant behaves as real ones do: an alarm that got
no "AL" back is sent again, after reconnecting when the link drops. After the restart the SOS is an alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from hub.devices.watch import encode_frame
from tests.hubproc import HubProcess, cli, sos_site, write_config
from tests.services.mosquitto import Broker, free_port

PENDANT_ID = "358839237678820"


class Pendant:
    """A 4G SOS pendant: sends its alarm until the platform answers "AL", reconnecting as needed."""

    def __init__(self, port: int, retry_s: float = 1.0) -> None:
        self.port = port
        self.retry_s = retry_s
        self.sent = 0
        self.acked = asyncio.Event()
        now = datetime.now(UTC)
        body = f"{now:%d%m%y},{now:%H%M%S},V,0.0,N,0.0,E,0.00,0.0,0.0,0,80,90,120,0,00010000,0,0"
        self.alarm = encode_frame("3G", PENDANT_ID, f"AL,{body}")

    async def run(self) -> None:
        while not self.acked.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:  # the platform is down: try again shortly
                await asyncio.sleep(0.2)
                continue
            try:
                while not self.acked.is_set():
                    writer.write(self.alarm)
                    await writer.drain()
                    self.sent += 1
                    with contextlib.suppress(TimeoutError):
                        reply = await asyncio.wait_for(reader.readuntil(b"]"), self.retry_s)
                        if reply == encode_frame("3G", PENDANT_ID, "AL"):
                            self.acked.set()
            except (OSError, asyncio.IncompleteReadError):
                pass  # the link dropped (the hub died): reconnect and send again
            finally:
                writer.close()


@pytest.mark.slow
async def test_sos_received_but_not_durable_when_the_hub_dies_is_resent_and_alerts(
    mosquitto: Broker, tmp_path: Path
) -> None:
    http_port, watch_port = free_port(), free_port()
    config = write_config(
        tmp_path / "hub.toml",
        data_dir=tmp_path / "data",
        broker_url=mosquitto.url,
        http_port=http_port,
        client_id=f"hub-watch-{uuid.uuid4().hex[:6]}",
    )
    with config.open("a", encoding="utf-8") as f:
        f.write(f'[watch]\nenabled = true\nhost = "127.0.0.1"\nport = {watch_port}\n')
        f.write("[health]\ncanary_enabled = false\n")  # nothing but the SOS goes through the pipeline
    site = yaml.safe_load(sos_site(1))
    site["homes"][0]["devices"].append(
        {"code": "H0000-pendant", "ecosystem": "watch", "external_id": PENDANT_ID, "model": "4g_watch"}
    )
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site, allow_unicode=True), encoding="utf-8")
    cli(config, "load", str(tmp_path / "site.yaml"))
    hub = HubProcess(config, http_port, tmp_path / "hub.log")
    hub.start()
    pendant = Pendant(watch_port)
    task: asyncio.Task[None] | None = None
    lock = sqlite3.connect(tmp_path / "data" / "register.sqlite", isolation_level=None, timeout=30)
    try:
        await asyncio.to_thread(hub.wait_ready)
        lock.execute("BEGIN IMMEDIATE")  # the register's write lock: nothing the hub derives can commit
        task = asyncio.create_task(pendant.run())
        deadline = time.monotonic() + 30
        while hub.health_pending() < 1 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        assert hub.health_pending() >= 1, "the hub never received the SOS"
        assert not pendant.acked.is_set(), "the hub answered AL before the SOS was durable"
        hub.kill()
        lock.rollback()
        sent_before_restart = pendant.sent

        hub.start()
        await asyncio.to_thread(hub.wait_ready)
        await asyncio.wait_for(pendant.acked.wait(), 60)
        assert pendant.sent > sent_before_restart  # it was the re-sent alarm that got through
        alerts = await asyncio.to_thread(hub.get, "/api/v1/alerts?limit=50")
        sos = [(a["home"], a["kind"]) for a in alerts if a["kind"] == "sos"]
        assert sos == [("H0000", "sos")]
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        lock.close()
        hub.stop()
