"""SOS publish → first outgoing notification request received by a local Twilio, under background load.

Method:
  1. a private Mosquitto, a local Twilio-compatible server in this process, and the real hub as a child
     process (`eldercare-hub run`, SQLite register and store, Twilio SMS/voice configured to the local
     server);
  2. another process publishes real-format QoS 1 motion and water-meter messages at --rate msg/s;
  3. meanwhile this process publishes one SOS press per home, --interval apart, each to a fresh home, and
     times from just before the PUBLISH leaves to the arrival of the first Twilio request for that home.
Reports p50/p99 per run and the median of --runs runs, and how much of it passed before the hub received the
SOS (publish → the alert's opening time, which is the hub's receipt time; wall clocks of one machine). Both timestamps are this process's perf_counter.
With --background RATE the runs alternate between no background at all and RATE msg/s, and the two medians
are compared (the SOS lane's target: p99 with background at half the drain capacity <= 1.5 x p99 without).

    .venv/bin/python bench/latency.py --runs 3 --samples 60 --rate 5000
    .venv/bin/python bench/latency.py --runs 3 --samples 60 --background 4000 [--planner]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.alerts.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio  # noqa: E402
from tests.hubproc import cli, sos_site, visitor_phone  # noqa: E402
from tests.services.mosquitto import free_port, start_mosquitto, wait_port  # noqa: E402


def write_config(
    path: Path, data_dir: Path, broker_url: str, http_port: int, twilio_url: str, care_delay_s: float
) -> None:
    """Hub config: real broker, SQLite, Twilio pointed at the local server; the care planner's first run
    (the heaviest: every elder's visit and review tasks) falls `care_delay_s` after start."""
    path.write_text(
        f'data_dir = "{data_dir}"\n'
        f'[mqtt]\nurl = "{broker_url}"\nclient_id = "latency-hub"\n'
        f'[http]\nhost = "127.0.0.1"\nport = {http_port}\n'
        f"[care]\nfirst_run_delay_s = {care_delay_s}\n"
        "[alerts]\n"
        f'public_url = "http://127.0.0.1:{http_port}"\n'
        f'[alerts.twilio]\naccount_sid = "{ACCOUNT_SID}"\nfrom_number = "{FROM_NUMBER}"\napi_base = "{twilio_url}"\n',
        encoding="utf-8",
    )


async def load(host: str, port: int, rate: int, seconds: float, homes: int) -> None:
    """Publish motion/water messages at `rate` msg/s (QoS 1) for `seconds`; print the achieved rate."""
    import gmqtt

    rng = random.Random(3)
    counters = [0] * homes
    pub = gmqtt.Client(f"latency-load-{uuid.uuid4().hex[:6]}")
    await pub.connect(host, port)
    tick = 0.01
    per_tick = max(1, int(rate * tick))
    sent = 0
    start = time.perf_counter()
    next_t = start
    while time.perf_counter() - start < seconds:
        for _ in range(per_tick):
            h = rng.randrange(homes)
            if rng.random() < 0.6:
                body = {"occupancy": rng.random() < 0.5, "illuminance": rng.randrange(500), "linkquality": 80}
                pub.publish(f"zigbee2mqtt/h{h:04d}_motion", json.dumps(body).encode(), qos=1)
            else:
                counters[h] += rng.randrange(1, 9)
                body2 = {"Time": "2026-11-28T07:01:00", "COUNTER": {"C1": counters[h]}}
                pub.publish(f"tele/h{h:04d}_water/SENSOR", json.dumps(body2).encode(), qos=1)
            sent += 1
        next_t += tick
        await asyncio.sleep(max(0.0, next_t - time.perf_counter()))
    elapsed = time.perf_counter() - start
    await pub.disconnect()
    print(json.dumps({"sent": sent, "rate": sent / elapsed}), flush=True)


async def measure(
    host: str,
    port: int,
    twilio: FakeTwilio,
    samples: int,
    interval: float,
    first_home: int,
    warm: bool,
) -> tuple[list[float], dict[str, float]]:
    """Publish SOS presses; return each one's latency to the first Twilio request, in ms, and the wall
    clock time each home's press was published (to split the latency at the hub's receipt). With `warm`,
    one untimed press (home `first_home` - 1) goes first: the first alert after start-up takes the cold
    paths (first alert, first outbox row, first Twilio connection), which no load changes."""
    import gmqtt

    pub = gmqtt.Client(f"latency-sos-{uuid.uuid4().hex[:6]}")
    await pub.connect(host, port)
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    try:
        for k in range(-1 if warm else 0, samples):
            home = first_home + k
            to = "+86" + visitor_phone(home)
            seen = len(twilio.received)
            t0 = time.perf_counter()
            sent_at[f"H{home:04d}"] = time.time()
            pub.publish(f"zigbee2mqtt/h{home:04d}_sos", b'{"action":"emergency","linkquality":90}', qos=1)
            deadline = t0 + 10.0
            arrival = None
            while arrival is None and time.perf_counter() < deadline:
                for r in twilio.received[seen:]:
                    if r.form.get("To") == to:
                        arrival = r.at
                        break
                else:
                    twilio.arrived.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(twilio.arrived.wait(), 0.5)
            if arrival is None:
                raise SystemExit(f"no notification for home {home} within 10 s")
            if k >= 0:
                latencies.append((arrival - t0) * 1000)
            else:
                sent_at.pop(f"H{home:04d}")
            await asyncio.sleep(interval)
    finally:
        await pub.disconnect()
    return latencies, sent_at


def receipt_lags(register: Path, sent_at: dict[str, float]) -> list[float]:
    """Publish → the hub's receipt of each SOS (the alert opens at the receipt time), in ms: the part of the
    latency spent in the broker, on the socket and in the hub's intake, before the pipeline has it."""
    with contextlib.closing(sqlite3.connect(register)) as db:
        rows = db.execute(
            "SELECT h.code, a.opened_at FROM alerts a JOIN homes h ON h.id = a.home_id WHERE a.kind = 'sos'"
        ).fetchall()
    lags = []
    for code, opened in rows:
        if code in sent_at:
            at = datetime.fromisoformat(opened).replace(tzinfo=UTC).timestamp()
            lags.append((at - sent_at[code]) * 1000)
    return lags


def load_average() -> str:
    """The 1, 5 and 15 minute load averages (the machine is shared: say how busy it was)."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


async def one_run(args: argparse.Namespace, workdir: Path, rate: int) -> dict[str, float]:
    """One hub, `args.samples` SOS presses with `rate` msg/s of background (0: none at all)."""
    broker = start_mosquitto(workdir / "mosquitto")
    hub = loader = None
    try:
        async with FakeTwilio() as twilio:
            http_port = free_port()
            config = workdir / "hub.toml"
            # The care planner runs every few minutes in a live hub, its first run (every elder's tasks) the
            # heaviest. By default it falls after the run, so runs compare alike; --planner puts it mid-way
            # through the presses (start-up takes a few seconds) to see what it does to an SOS.
            care_delay = 3 + args.warmup + args.samples * args.interval / 2 if args.planner else 3600.0
            write_config(config, workdir / "data", broker.url, http_port, twilio.url, care_delay)
            (workdir / "site.yaml").write_text(sos_site(args.homes), encoding="utf-8")
            env = {**os.environ, "HUB_TWILIO_AUTH_TOKEN": AUTH_TOKEN}
            await asyncio.to_thread(cli, config, "load", str(workdir / "site.yaml"))
            hub = subprocess.Popen(  # noqa: ASYNC220  (started once, not in a hot path)
                [sys.executable, "-m", "hub.cli", "--config", str(config), "run"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=open(workdir / "hub.log", "w"),  # noqa: SIM115, ASYNC230
            )
            await asyncio.to_thread(wait_port, http_port, 60)
            seconds = args.warmup + (args.samples + 1) * (args.interval + 0.05) + 5
            if rate > 0:
                loader = subprocess.Popen(  # noqa: ASYNC220
                    [
                        sys.executable,
                        __file__,
                        "--load",
                        broker.host,
                        str(broker.port),
                        str(rate),
                        str(seconds),
                        str(args.homes),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            await asyncio.sleep(args.warmup)  # the load reaches its steady state
            lat, sent_at = await measure(
                broker.host,
                broker.port,
                twilio,
                args.samples,
                args.interval,
                args.homes // 2,
                not args.cold,
            )
            receipt = receipt_lags(workdir / "data" / "register.sqlite", sent_at)
            achieved = 0.0
            if loader is not None:
                out, _ = await asyncio.to_thread(loader.communicate, timeout=seconds + 60)
                achieved = json.loads(out.strip().splitlines()[-1])["rate"]
            return {
                "p50_ms": pct(lat, 50),
                "p99_ms": pct(lat, 99),
                "max_ms": max(lat),
                "max_at": float(lat.index(max(lat))),  # which press was slowest (0 = the first after warm-up)
                "load_msg_s": achieved,
                "receipt_p50_ms": pct(receipt, 50),
                "receipt_p99_ms": pct(receipt, 99),
            }
    finally:
        for proc in (loader, hub):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        broker.process.terminate()
        broker.process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--samples", type=int, default=60, help="SOS presses per run")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between SOS presses")
    parser.add_argument("--rate", type=int, default=5000, help="background msg/s")
    parser.add_argument(
        "--background",
        type=int,
        metavar="RATE",
        help="alternate runs with no background and with RATE msg/s; print both medians and their ratio",
    )
    parser.add_argument("--homes", type=int, default=400)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument(
        "--cold",
        action="store_true",
        help="time the first press after start-up too (by default one untimed press warms the paths)",
    )
    parser.add_argument(
        "--planner",
        action="store_true",
        help="let the care planner's first run (every elder's visit and review tasks) fall mid-way through the presses",
    )
    parser.add_argument("--load", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        host, port, rate, seconds, homes = args.load
        asyncio.run(load(host, int(port), int(rate), float(seconds), int(homes)))
        return
    if args.samples > args.homes // 2:
        parser.error("--samples must be at most --homes / 2 (each SOS goes to a fresh home)")
    rates = [0, args.background] if args.background is not None else [args.rate]
    results: dict[int, list[dict[str, float]]] = {rate: [] for rate in rates}
    for i in range(args.runs):
        for rate in rates:  # alternating, so a machine that slows down mid-run weighs on both alike
            with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
                r = asyncio.run(one_run(args, Path(tmp), rate))
            results[rate].append(r)
            print(
                f"run {i + 1}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms "
                f"(press {r['max_at']:.0f}) "
                f"({args.samples} SOS; background {r['load_msg_s']:,.0f} msg/s); publish → hub receipt "
                f"p50 {r['receipt_p50_ms']:.1f} ms, p99 {r['receipt_p99_ms']:.1f} ms; load {load_average()}",
                flush=True,
            )
    medians = {}
    for rate, runs in results.items():
        med = medians[rate] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(
            f"median of {args.runs}: p50 {med['p50_ms']:.1f} ms, p99 {med['p99_ms']:.1f} ms "
            f"(targets p50 <= 20 ms, p99 <= 100 ms; background {med['load_msg_s']:,.0f} msg/s, {os.cpu_count()} cores); "
            f"publish → hub receipt p50 {med['receipt_p50_ms']:.1f} ms, p99 {med['receipt_p99_ms']:.1f} ms"
        )
    if args.background is not None:
        ratio = medians[args.background]["p99_ms"] / medians[0]["p99_ms"]
        print(
            f"p99 with {args.background:,} msg/s of background / p99 with none: {ratio:.2f} "
            "(target <= 1.5 at half the drain capacity)"
        )


if __name__ == "__main__":
    main()
