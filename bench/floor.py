"""The floor under the hub's drain rate: Python processes doing only what Node-RED's reference flow does.

Issue 13 asks for a backlog drain at 1.5× Node-RED's. This says how much of the gap is the language and how
much is the hub's own work, measured in the same run on the same machine:

- `intake`: the hub's MQTT intake (`hub.sources.mqtt.MqttSource`: its PUBLISH parsing, one `RawMessage` and
  `Delivery` a message) and a PUBACK on receipt — nothing else;
- `flow`: the same, plus what bench/nodered/flows.json does with each message: JSON, per-home state, one
  InfluxDB point a message (several fields), written in batches of 5,000 without waiting;
- `nodered`: Node-RED 4 on the reference flow (`bench/sidebyside.py`'s round).

Each mode drains the same backlog (`bench/ingest.py`'s messages) on fresh private Mosquitto and InfluxDB.
`intake` and `flow` run `--instances` processes, homes split by partition as the hub's instances split
them, each with a persistent session of per-device filters like a partition's. Rates are counted as
Node-RED's flow counts them: every message over (last receipt anywhere − first receipt anywhere). The hub
itself (`bench/ingest.py`) counts to the last *durable* message and does far more: normalised readings,
rules, the register, alerts.

    .venv/bin/python bench/floor.py --rounds 3 --messages 100000 [--instances 2] [--modes intake,flow,nodered]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import messages, partition_counts, queue_backlog  # noqa: E402
from bench.sidebyside import fresh_services, install, nodered_round, round_arguments  # noqa: E402
from hub.cluster import partition_of  # noqa: E402

MODES = ("intake", "flow", "nodered")
BATCH = 5000  # points per InfluxDB write, as the reference flow's default (--nodered-batch)
DATABASE = "floor"


def partition_filters(homes: int, part: int, partitions: int) -> list[str]:
    """The per-device topic filters of one partition's homes (three devices a home)."""
    out: list[str] = []
    for h in range(homes):
        home = f"h{h:04d}"
        if partition_of(f"H{h:04d}", partitions) == part:  # the register's home code, as the hub places it
            out += [f"zigbee2mqtt/{home}_motion", f"zigbee2mqtt/{home}_sos", f"tele/{home}_water/SENSOR"]
    return out


async def _prime(url: str, client_id: str, filters: list[str]) -> None:
    """Create the persistent session with its subscriptions, then leave."""
    from hub.sources.mqtt import MqttSource

    async with MqttSource(url, filters, client_id=client_id) as source:
        await asyncio.wait_for(source.subscribed.wait(), 60)


class _Flow:
    """The reference flow's function node, in Python: per-home state and one point a message."""

    def __init__(self) -> None:
        self.homes: dict[str, dict[str, float]] = {}
        self.points: list[str] = []

    def take(self, topic: str, payload: bytes, now: float) -> None:
        """Update the home's state and add the message's point (if it carries a field)."""
        device = topic.split("/")[1]
        home = device.split("_")[0]
        state = self.homes.get(home)
        if state is None:
            state = self.homes[home] = {"last": 0.0, "motion": 0.0, "water": 0.0, "sos": 0.0}
        state["last"] = now
        body = json.loads(payload)
        fields = []
        if "occupancy" in body:
            fields.append(f"occupancy={1 if body['occupancy'] else 0}")
            if body["occupancy"]:
                state["motion"] = now
        if "illuminance" in body:
            fields.append(f"illuminance={body['illuminance']}")
        counter = body.get("COUNTER")
        if counter and "C1" in counter:
            fields.append(f"water_total={counter['C1']}")
            state["water"] = counter["C1"]
        if body.get("action") == "emergency":
            fields.append("sos=1")
            state["sos"] = now
        if fields:
            self.points.append(f"readings,device={device},home={home} {','.join(fields)} {int(now * 1000)}")


async def drain_child(
    url: str, client_id: str, filters: list[str], expected: int, mode: str, influx: str
) -> dict[str, float]:
    """Drain this partition's `expected` messages; first/last receipt (monotonic clock) and CPU a message."""
    import aiohttp

    from hub.sources.mqtt import MqttSource

    flow = _Flow() if mode == "flow" else None
    writes: list[asyncio.Task[None]] = []
    count, first, last, cpu = 0, 0.0, 0.0, 0.0
    async with aiohttp.ClientSession() as http:

        async def write(lines: list[str]) -> None:
            body = "\n".join(lines).encode()
            async with http.post(f"{influx}/write?db={DATABASE}&precision=ms", data=body) as response:
                if response.status != 204:
                    raise SystemExit(f"InfluxDB refused a write: {response.status} {await response.text()}")

        async with MqttSource(url, filters, client_id=client_id) as source:
            async for delivery in source:
                if count == 0:
                    first, cpu = time.perf_counter(), time.process_time()
                count += 1
                if flow is not None:
                    flow.take(delivery.message.topic, delivery.message.payload, time.time())
                    if len(flow.points) >= BATCH or count == expected:
                        writes.append(asyncio.create_task(write(flow.points)))
                        flow.points = []
                delivery.on_durable()  # acknowledged on receipt, as Node-RED does
                if count == expected:
                    last, cpu = time.perf_counter(), time.process_time() - cpu
                    break
            await asyncio.sleep(0.1)  # the last PUBACKs leave before the disconnect
        await asyncio.gather(*writes)
    return {"count": count, "first": first, "last": last, "cpu_us": 1e6 * cpu / max(1, count)}


def python_round(args: argparse.Namespace, mode: str, workdir: Path) -> dict[str, float]:
    """One drain of the backlog by `--instances` processes in `mode` (intake or flow)."""
    with fresh_services(workdir, DATABASE) as (broker, influx):
        parts = args.instances
        for i in range(parts):
            asyncio.run(_prime(broker.url, f"floor-{i}", partition_filters(args.homes, i, parts)))
        backlog = messages(args.messages, args.homes, args.sos_rate)
        expected = partition_counts(backlog, parts)
        asyncio.run(queue_backlog(broker.url, backlog))
        children = [
            subprocess.Popen(
                [sys.executable, __file__, "--child", str(i), "--url", broker.url, "--influx", influx.url,
                 "--mode", mode, "--expected", str(expected[i]), "--instances", str(parts),
                 "--homes", str(args.homes)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for i in range(parts)
        ]  # fmt: skip
        results = []
        for child in children:
            out, _ = child.communicate(timeout=900)
            if child.returncode != 0:
                raise SystemExit(f"a {mode} process failed (exit {child.returncode})")
            results.append(json.loads(out.strip().splitlines()[-1]))
        total = sum(r["count"] for r in results)
        span = max(r["last"] for r in results) - min(r["first"] for r in results)
        return {"msg_per_s": total / span, "cpu_us": statistics.mean(r["cpu_us"] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    round_arguments(parser)
    parser.add_argument("--instances", type=int, default=os.cpu_count() or 1, help="processes (intake, flow)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of {', '.join(MODES)}")
    # One drain process (started by python_round).
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--influx", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--expected", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        from hub.runtime import run

        filters = partition_filters(args.homes, args.child, args.instances)
        coro = drain_child(args.url, f"floor-{args.child}", filters, args.expected, args.mode, args.influx)
        print(json.dumps(run(coro)))
        return
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        parser.error(f"--modes takes {', '.join(MODES)}; got {args.modes!r}")
    red = install(args.cache) if "nodered" in modes else None
    rates: dict[str, list[float]] = {m: [] for m in modes}
    for i in range(args.rounds):
        line = []
        for mode in modes:
            with tempfile.TemporaryDirectory(prefix=f"bench-floor-{mode}-") as tmp:
                result: dict[str, Any]
                if mode == "nodered":
                    assert red is not None
                    result = nodered_round(args, red, Path(tmp))
                    line.append(f"Node-RED {result['msg_per_s']:,.0f} msg/s")
                else:
                    result = python_round(args, mode, Path(tmp))
                    line.append(
                        f"{mode} {result['msg_per_s']:,.0f} msg/s ({result['cpu_us']:.1f} us CPU a message)"
                    )
            rates[mode].append(result["msg_per_s"])
        print(f"round {i + 1}: " + ", ".join(line) + f" (load {os.getloadavg()[0]:.2f})", flush=True)
    medians = {m: statistics.median(r) for m, r in rates.items()}
    summary = ", ".join(f"{m} {v:,.0f} msg/s" for m, v in medians.items())
    print(
        f"median of {args.rounds} rounds ({args.messages:,} messages, {args.instances} process(es)): {summary}"
    )
    if "nodered" in medians:
        for mode in ("intake", "flow"):
            if mode in medians:
                print(f"  {mode} / Node-RED: {medians[mode] / medians['nodered']:.2f}")


if __name__ == "__main__":
    main()
