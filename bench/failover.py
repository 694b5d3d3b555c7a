"""How long the city is unwatched when the active hub dies, and what is lost: hot standby by the lease.

Method, per run (a fresh PostgreSQL database each time, one private Mosquitto for all runs):
  1. two real hub processes on one register (tests/ha: same MQTT client id, instances hub-a and hub-b),
     hub-a active, hub-b standby; every notification goes to a local webhook;
  2. SOS presses flow at --rate per second, one per home, each with a few motion messages around it;
  3. after --warmup seconds hub-a gets SIGKILL; the presses go on;
  4. measured from the kill: when hub-b's /healthz says "active" (role change), and when the first SOS
     pressed after the kill reached the webhook (first notification by the new active);
  5. once every press was accepted by the broker: SOS lost (a pressed home without an SOS alert) and
     notifications delivered twice (the same idempotency key more than once; allowed only for one in flight
     at the kill) and notifications without an outbox row (must be none).
Prints each run and the median of --runs.

    .venv/bin/python bench/failover.py --runs 5
    .venv/bin/python bench/failover.py --runs 5 --broker nats-cluster
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.ha.conftest import SosPublisher, local_webhook, make_pair, outbox  # noqa: E402
from tests.hubproc import visitor_phone  # noqa: E402
from tests.services.mosquitto import Broker, start_mosquitto  # noqa: E402
from tests.services.nats import NatsCluster  # noqa: E402
from tests.services.postgres import fresh_database  # noqa: E402


async def one_run(
    broker: Broker | list[str], workdir: Path, homes: int, rate: float, warmup: float
) -> dict[str, float]:
    """One kill; the figures of it. `broker`: a Mosquitto, or the nodes of a NATS cluster (hub A starts on
    the first, hub B on the second, the presses go to the third)."""
    async with local_webhook() as hook:
        with fresh_database() as register_url:
            pair = make_pair(workdir, broker, register_url, hook, homes)
            try:
                pair.a.start()
                await asyncio.to_thread(pair.a.wait_role, "active")
                await asyncio.to_thread(pair.a.wait_ready)
                pair.b.start()
                await asyncio.to_thread(pair.b.wait_role, "standby")
                pressed_at: dict[int, float] = {}
                killed = 0.0
                async with SosPublisher(broker if isinstance(broker, Broker) else broker[-1]) as pub:
                    start = time.monotonic()
                    for home in range(homes):
                        now = time.monotonic()
                        if not killed and now - start >= warmup:
                            pair.a.kill()
                            killed = time.monotonic()
                            role_task = asyncio.create_task(asyncio.to_thread(pair.b.wait_role, "active", 60))
                        pub.press(home, homes)
                        pressed_at[home] = time.monotonic()
                        await asyncio.sleep(max(0.0, start + (home + 1) / rate - time.monotonic()))
                    if not killed:
                        raise SystemExit("--warmup is longer than the presses last; raise --homes")
                    # Polled from the kill on, every 50 ms: an upper bound within that.
                    role_s = await role_task
                    if not await pub.all_accepted():
                        raise SystemExit("the broker did not accept every press")
                after_kill = {visitor_phone(h): t for h, t in pressed_at.items() if t > killed}
                deadline = time.monotonic() + 120
                alerted: set[str] = set()
                while time.monotonic() < deadline:
                    try:
                        alerts = await asyncio.to_thread(pair.b.get, "/api/v1/alerts?limit=10000")
                    except OSError:  # between the standby's small server and the active's full one
                        await asyncio.sleep(0.2)
                        continue
                    alerted = {a["home"] for a in alerts if a["kind"] == "sos"}
                    notified = {r["recipient"] for r in hook.received}
                    if len(alerted) == homes and set(after_kill) <= notified:
                        break
                    await asyncio.sleep(0.5)
                first = min(
                    (r["arrived"] for r in hook.received if r["recipient"] in after_kill),
                    default=float("nan"),
                )
                # Count once the new active has sent (and marked) everything it had to send by now.
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    rows = {r.key: r for r in await asyncio.to_thread(outbox, register_url)}
                    sent_rows = {k for k, r in rows.items() if r.status == "sent"}
                    if set(hook.keys()) <= sent_rows:
                        break
                    await asyncio.sleep(0.5)
                keys = Counter(hook.keys())
                return {
                    "role_s": role_s,
                    "first_sos_s": first - killed,
                    "lost": homes - len(alerted),
                    "twice": sum(1 for n in keys.values() if n > 1),
                    "unrecorded": len(set(keys) - sent_rows),
                }
            finally:
                pair.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--homes", type=int, default=200, help="one SOS press per home")
    parser.add_argument("--rate", type=float, default=25.0, help="SOS presses per second")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of presses before the kill")
    parser.add_argument("--keep", type=Path, help="keep the runs' folders (hub logs) here")
    parser.add_argument(
        "--broker",
        choices=["mosquitto", "nats-cluster"],
        default="mosquitto",
        help="one Mosquitto, or a three-node NATS JetStream cluster (MQTT 3.1.1)",
    )
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="failover-") as scratch:
        tmp = str(args.keep or scratch)
        broker: Broker | list[str]
        if args.broker == "nats-cluster":
            cluster = NatsCluster(Path(tmp) / "nats").__enter__()
            broker, stop = cluster.urls, cluster.stop
        else:
            mosquitto = start_mosquitto(Path(tmp) / "mosquitto")
            broker = mosquitto

            def stop() -> None:
                mosquitto.process.terminate()
                mosquitto.process.wait(10)

        try:
            for run in range(args.runs):
                workdir = Path(tmp) / f"run{run}"
                workdir.mkdir(parents=True)
                r = await one_run(broker, workdir, args.homes, args.rate, args.warmup)
                results.append(r)
                print(
                    f"run {run + 1}: standby active after {r['role_s']:.2f} s, first SOS after the kill "
                    f"notified after {r['first_sos_s']:.2f} s; SOS lost {r['lost']:.0f}, "
                    f"notifications twice (same key) {r['twice']:.0f}, without an outbox row {r['unrecorded']:.0f}",
                    flush=True,
                )
        finally:
            stop()
    print(
        f"median of {len(results)}: takeover (SIGKILL → standby active) "
        f"{statistics.median(r['role_s'] for r in results):.2f} s, SIGKILL → first SOS after the kill notified "
        f"{statistics.median(r['first_sos_s'] for r in results):.2f} s; SOS lost in all runs: "
        f"{sum(r['lost'] for r in results):.0f}; notifications twice (same idempotency key): "
        f"{sum(r['twice'] for r in results):.0f}; sent without an outbox row: "
        f"{sum(r['unrecorded'] for r in results):.0f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
