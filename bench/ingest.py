"""How fast the hub drains a backlog: decode → store (InfluxDB) → rules until the last message is durable.

Method (independent of how fast a publisher can go):
  1. prime the hub's persistent session on a private Mosquitto (with the hub's queue limits);
  2. queue N real-format QoS 1 messages for many homes in Mosquitto while the hub is away;
  3. start the hub (in a child process, so its peak RSS is its own) and time until the last message
     is durable (InfluxDB 204 or spooled, register committed, PUBACK sent).
Reports msg/s, lag p50/p99 (receipt → durable) and peak RSS; the median of --runs runs.
`--instances N` (N > 1) runs N partitioned hub instances on a private PostgreSQL register instead, one
partition each (`cluster.partitions = N`, `prefer = [i]`), so the split is fixed before the backlog is queued:
each instance is started once to create (and subscribe) its partition's session, the backlog is queued
while they are away, then all N are started together. The drain rate is every message over (last durable
anywhere − first receipt anywhere); per-instance figures are printed too. An instance that has drained its
partition stays up until every instance has: stopped, it would release its partition, and a peer still
draining would take it over and restart its own pipeline for the new term (a stall of about 2 s that, until
2026-12-01, fell inside about half of the measured runs).
`--broker nats-cluster` queues the backlog in a private three-node NATS cluster instead (JetStream, MQTT
3.1.1, streams and consumers replicated to all three nodes); the hub gets the list of all three.

    .venv/bin/python bench/ingest.py --messages 100000 --runs 3 [--broker mosquitto|nats-cluster] [--instances 2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub import native  # noqa: E402
from hub.cluster import partition_of  # noqa: E402
from tests.hubproc import HubProcess, cli, sos_site, write_config  # noqa: E402
from tests.services.influxdb import InfluxServer  # noqa: E402
from tests.services.mosquitto import free_port, start_mosquitto  # noqa: E402
from tests.services.nats import NatsCluster  # noqa: E402
from tests.services.postgres import fresh_database  # noqa: E402

# The partitioned instances' lease and heartbeat time: long enough that the heartbeats the bench writes for
# every instance before it starts them are still live when each makes its first plan (so none takes
# another's partition for want of seeing it).
BENCH_LEASE_S = 60
# A drain that makes no progress for this long has lost its subscriptions: fail instead of waiting 30 min.
STALL_S = 120


@dataclass
class BenchBroker:
    """Where the backlog waits: its URLs, the MQTT version spoken to it, and how to stop it."""

    urls: list[str]
    protocol: str
    stop: Callable[[], None]


def start_broker(kind: str, workdir: Path) -> BenchBroker:
    """A private Mosquitto (with the hub's queue limits), or a three-node NATS cluster (MQTT 3.1.1 only)."""
    if kind == "nats-cluster":
        cluster = NatsCluster(workdir / "nats").__enter__()
        return BenchBroker(cluster.urls, "3.1.1", cluster.stop)
    mosquitto = start_mosquitto(workdir / "mosquitto")

    def stop() -> None:
        mosquitto.process.terminate()
        mosquitto.process.wait(10)

    return BenchBroker([mosquitto.url], "5", stop)


def messages(n: int, homes: int, sos_rate: float, seed: int = 7) -> list[tuple[str, bytes]]:
    """`n` messages: motion 55 %, water meter counters 35 %, SOS presses at `sos_rate` (each followed by its
    empty-action echo, as Zigbee2MQTT sends it), the SOS buttons' check-ins (battery, link quality) the rest.
    Real SOS presses are far rarer than the 0.1 % default.

    (Until 2026-12-01 `sos_rate` was not used: every backlog held 1 % presses and 9 % echoes, whatever the
    figures said; docs/scaling.md §1.)
    """
    if not 0 <= sos_rate <= 0.05:
        raise ValueError(f"sos_rate must be between 0 and 0.05, got {sos_rate}")
    rng = random.Random(seed)
    counters = [0] * homes
    out: list[tuple[str, bytes]] = []
    while len(out) < n:
        h = rng.randrange(homes)
        r = rng.random()
        if r < 0.55:
            body = {
                "occupancy": rng.random() < 0.5,
                "illuminance": rng.randrange(500),
                "battery": 97,
                "linkquality": rng.randrange(255),
            }
            out.append((f"zigbee2mqtt/h{h:04d}_motion", json.dumps(body).encode()))
        elif r < 0.90:
            counters[h] += rng.randrange(1, 12)
            body2 = {"Time": "2026-11-28T07:01:00", "COUNTER": {"C1": counters[h]}}
            out.append((f"tele/h{h:04d}_water/SENSOR", json.dumps(body2).encode()))
        elif r < 0.90 + sos_rate:
            out.append(
                (f"zigbee2mqtt/h{h:04d}_sos", b'{"action":"emergency","battery":null,"linkquality":90}')
            )
            out.append((f"zigbee2mqtt/h{h:04d}_sos", b'{"action":""}'))
        else:
            body3 = {"battery": 97, "linkquality": rng.randrange(255)}
            out.append((f"zigbee2mqtt/h{h:04d}_sos", json.dumps(body3).encode()))
    return out[:n]


async def queue_backlog(url: str, batch: list[tuple[str, bytes]], protocol: str = "5") -> None:
    """Publish with QoS 1 and wait until the broker has acknowledged every message."""
    import gmqtt
    from gmqtt.mqtt.constants import MQTTv50, MQTTv311

    from hub.sources.mqtt import parse_broker_url

    host, port, _tls = parse_broker_url(url)
    pub = gmqtt.Client(f"bench-pub-{uuid.uuid4().hex[:6]}")
    await pub.connect(host, port, version=MQTTv50 if protocol == "5" else MQTTv311)
    for i, (topic, payload) in enumerate(batch):
        pub.publish(topic, payload, qos=1)
        if i % 2000 == 0:
            await asyncio.sleep(0)
    # gmqtt offers no event for 'every publish acknowledged'; poll its in-flight store.
    while pub._persistent_storage.get_all():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    await pub.disconnect()


async def prime(config: Path) -> None:
    """Create the hub's persistent session (with its subscriptions) and leave."""
    from hub.config import load_config
    from hub.devices.registry import DeviceRegistry
    from hub.sources.mqtt import MqttSource

    cfg = load_config(config)
    async with MqttSource(
        cfg.mqtt.broker_urls,
        DeviceRegistry.default().subscriptions(),
        client_id=cfg.mqtt.client_id,
        mqtt5=cfg.mqtt.protocol == "5",
    ) as source:
        await asyncio.wait_for(source.subscribed.wait(), 60)


def child(config: Path, expected: int, hold: bool = False) -> None:
    """Run the hub in this process until `expected` messages are durable; print figures as JSON.

    With `hold`, print them as soon as the messages are durable, then keep the hub running until
    standard input is closed.
    """
    from hub.app import RunningHub, run_hub
    from hub.config import load_config
    from hub.metrics import REGISTRY
    from hub.runtime import run
    from hub.sources.delivery import Delivery

    cfg = load_config(config)
    if os.environ.get("BENCH_NULLSTORE"):
        import hub.app

        class Null:
            async def __aenter__(self):
                return self

            async def __aexit__(self, *a):
                return None

            async def write(self, r):
                return None

            async def latest(self, home=None):
                return []

            async def query_homes(self, homes, start, end):
                return {}

            def pending(self):
                return 0

        hub.app.build_store = lambda c: Null()
    lags: list[float] = []
    first_receipt: list[float] = []
    first_cpu: list[float] = []  # CPU time of the process (all threads) when the first batch was durable
    done = 0
    finished = asyncio.Event()

    def observe(batch: list[Delivery]) -> None:
        nonlocal done
        now = time.time()
        if not first_receipt:
            first_receipt.append(min(d.message.received_at.timestamp() for d in batch))
            first_cpu.append(time.process_time())
            if os.environ.get("BENCH_DEBUG"):
                with open(os.environ["BENCH_DEBUG"] + f".{os.getpid()}", "a") as fh:
                    fh.write(
                        f"first batch: frozen {gc.get_freeze_count()}, tracked {len(gc.get_objects())}\n"
                    )
        lags.extend(now - d.message.received_at.timestamp() for d in batch)
        if os.environ.get("BENCH_DEBUG"):
            with open(os.environ["BENCH_DEBUG"] + f".{os.getpid()}", "a") as fh:
                fh.write(
                    f"{now:.3f} batch {len(batch)} lag {now - batch[0].message.received_at.timestamp():.3f}\n"
                )
        done += len(batch)
        if done >= expected:
            finished.set()

    # seconds in the collector, start of the current collection, seconds in it while draining
    gc_time = [0.0, 0.0, 0.0]
    gc_drain_gens = [0, 0, 0]  # collections of each generation while draining

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            spent = time.perf_counter() - gc_time[1]
            gc_time[0] += spent
            if first_receipt:
                gc_time[2] += spent
                gc_drain_gens[info["generation"]] += 1
                if os.environ.get("BENCH_DEBUG"):
                    with open(os.environ["BENCH_DEBUG"] + f".{os.getpid()}", "a") as fh:
                        fh.write(
                            f"{time.time():.3f} gc {info['generation']} threshold {gc.get_threshold()} "
                            f"{spent * 1000:.1f} ms, collected {info['collected']}\n"
                        )

    gc.callbacks.append(on_gc)

    async def stalled() -> None:
        seen = -1
        while seen != done:
            seen = done
            await asyncio.sleep(STALL_S)

    async def main() -> dict[str, float]:
        started: asyncio.Future[RunningHub] = asyncio.get_running_loop().create_future()
        t0 = time.perf_counter()
        task = asyncio.create_task(run_hub(cfg, started=started, on_batch_durable=observe))
        watch = asyncio.create_task(stalled())
        await asyncio.wait(
            {task, watch, asyncio.ensure_future(finished.wait())}, return_when=asyncio.FIRST_COMPLETED
        )
        watch.cancel()
        if watch.done() and not watch.cancelled():
            raise SystemExit(f"no progress for {STALL_S} s: {done} of {expected} durable")
        elapsed = time.perf_counter() - t0
        last_durable = time.time()
        drain = last_durable - first_receipt[0]
        if task.done():
            task.result()
        cpu = time.process_time()
        lags.sort()
        figures = {
            "messages": done,
            "seconds": elapsed,
            "msg_per_s": done / drain,
            "with_startup_msg_per_s": done / elapsed,
            "lag_p50_ms": 1000 * lags[len(lags) // 2],
            "lag_p99_ms": 1000 * lags[int(len(lags) * 0.99)],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cpu_s": cpu,
            # CPU per message while draining (from the first durable batch on): less noisy than the rate on
            # a shared machine.
            "drain_cpu_us_per_msg": 1e6 * (cpu - first_cpu[0]) / max(1, done),
            "gc_s": gc_time[0],
            "gc_drain_s": gc_time[2],
            "gc_drain_collections": list(gc_drain_gens),
            # How long routine ingest waited for urgent alerts on their way out (hub.ingest.gate).
            "routine_held_s": REGISTRY.get_sample_value("hub_routine_held_seconds_total") or 0.0,
            "first_receipt": first_receipt[0],
            "last_durable": last_durable,
        }
        if hold:
            # One of several partitioned instances: report, then stay up (owning the partition, its
            # lease renewed) until the parent says every instance has drained. An instance that stopped
            # here would release its partition, and a peer still draining would take it over and restart
            # its own pipeline for the new term in the middle of the measurement.
            print(json.dumps(figures), flush=True)
            released = asyncio.ensure_future(asyncio.to_thread(sys.stdin.read))
            await asyncio.wait({task, released}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                task.result()  # the hub failed while holding: the parent hears of it
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return figures

    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        with cProfile.Profile() as prof:
            result = run(main())
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(35)
        print(json.dumps(result))
        return
    print(json.dumps(run(main())))


def _spy_prefix(tag: str = "") -> list[str]:
    """py-spy in front of the child when SPY is set: raw folded stacks in the file SPY names (+ `tag`)."""
    if not os.environ.get("SPY"):
        return []
    spy = str(Path(sys.executable).with_name("py-spy"))
    gil = ["--gil"] if os.environ.get("SPY_GIL") else []  # only the thread holding the GIL: the Python CPU
    return [spy, "record", "-o", os.environ["SPY"] + tag, "-f", "raw", "-r", "200", *gil, "--"]


def _figures(stdout: str) -> dict[str, float]:
    """The child's figures: its last JSON line (a profiler wrapping it may print after it)."""
    return dict(json.loads([ln for ln in stdout.splitlines() if ln.startswith("{")][-1]))


def one_run(
    n: int,
    homes: int,
    store: str,
    sos_rate: float,
    workdir: Path,
    broker_kind: str = "mosquitto",
    instances: int = 1,
) -> dict[str, Any]:
    """One drain of a fresh backlog by one hub (SQLite register) or `instances` partitioned ones."""
    broker = start_broker(broker_kind, workdir)
    influx = InfluxServer(workdir / "influx") if store == "influxdb" else None
    try:
        if influx is not None:
            influx.start()
        store_cfg = (
            {"kind": "influxdb", "url": influx.url, "database": "bench"} if influx else {"kind": "sqlite"}
        )
        backlog = messages(n, homes, sos_rate)
        if instances > 1:
            with fresh_database() as register_url:
                return _partitioned_run(backlog, homes, store_cfg, broker, register_url, instances, workdir)
        config = write_config(
            workdir / "hub.toml",
            data_dir=workdir / "data",
            broker_url=broker.urls,
            protocol=broker.protocol,
            http_port=free_port(),
            client_id="bench-hub",
            store=store_cfg,
        )
        site = workdir / "site.yaml"
        site.write_text(sos_site(homes), encoding="utf-8")
        cli(config, "load", str(site))
        asyncio.run(prime(config))
        # Queued on the last node while the hub starts on the first: a cluster takes it anywhere.
        asyncio.run(queue_backlog(broker.urls[-1], backlog, broker.protocol))
        out = subprocess.run(
            [*_spy_prefix(), sys.executable, __file__, "--child", str(config), "--messages", str(n)],
            check=True,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if os.environ.get("BENCH_PROFILE") or os.environ.get("BENCH_DEBUG"):
            print(out.stderr[-12000:], file=sys.stderr)
        return _figures(out.stdout)
    finally:
        broker.stop()
        if influx is not None:
            influx.stop()


_HOME = re.compile(r"/h(\d+)_")


def partition_counts(backlog: list[tuple[str, bytes]], partitions: int) -> list[int]:
    """How many of the backlog's messages fall into each partition (by their home, as the hub places it)."""
    counts = [0] * partitions
    for topic, _ in backlog:
        found = _HOME.search(topic)
        assert found is not None, topic
        counts[partition_of(f"H{int(found.group(1)):04d}", partitions)] += 1
    return counts


def _heartbeat_all(register_url: str, names: list[str]) -> None:
    """Say every instance is live (each preferring its own partition) before any of them plans."""
    from hub.register.db import make_engine
    from hub.register.lease import Leases

    engine = make_engine(register_url)
    try:
        for i, name in enumerate(names):
            Leases(engine, name, BENCH_LEASE_S).heartbeat([i])
    finally:
        engine.dispose()


def _partitioned_run(
    backlog: list[tuple[str, bytes]],
    homes: int,
    store_cfg: dict[str, Any],
    broker: BenchBroker,
    register_url: str,
    instances: int,
    workdir: Path,
) -> dict[str, Any]:
    """`instances` hubs on one PostgreSQL register, partition i owned by instance i; aggregate figures."""
    names = [f"bench-{i}" for i in range(instances)]
    # Instances on one register share its data key, not a data folder.
    env = {**os.environ, "HUB_DATA_KEY": b64encode(os.urandom(32)).decode()}
    configs = [
        write_config(
            workdir / f"hub-{i}.toml",
            data_dir=workdir / f"data-{i}",
            broker_url=broker.urls,
            protocol=broker.protocol,
            http_port=free_port(),
            client_id="bench-hub",
            store=store_cfg,
            extra=(
                f'[register]\nurl = "{register_url}"\n'
                f'[cluster]\ninstance = "{name}"\npartitions = {instances}\nprefer = [{i}]\n'
                f"lease_s = {BENCH_LEASE_S}\nrenew_s = 1\n"
            ),
        )
        for i, name in enumerate(names)
    ]
    site = workdir / "site.yaml"
    site.write_text(sos_site(homes), encoding="utf-8")
    cli(configs[0], "load", str(site), env=env)
    # 1. Each instance once, until it owns its partition with its session up (subscribed to that
    #    partition's devices), then a clean stop: the sessions stay in the broker.
    _heartbeat_all(register_url, names)
    primers = [
        HubProcess(config, _http_port(config), workdir / f"prime-{i}.log", env=env)
        for i, config in enumerate(configs)
    ]
    try:
        for hub in primers:
            hub.start()
        for i, hub in enumerate(primers):
            _until_owned(hub, [i])
        # The SUBSCRIBEs follow the CONNACK: give the broker (a cluster creates consumers) time for them.
        time.sleep(1 if broker.protocol == "5" else 5)
    finally:
        for hub in primers:
            hub.stop()
    # 2. The backlog, while every instance is away.
    asyncio.run(queue_backlog(broker.urls[-1], backlog, broker.protocol))
    expected = partition_counts(backlog, instances)
    # 3. All together; each knows how many messages its partition holds.
    _heartbeat_all(register_url, names)
    logs = [workdir / f"instance-{i}.log" for i in range(instances)]
    log_files = [log.open("w", encoding="utf-8") for log in logs]
    children = [
        subprocess.Popen(
            [
                *_spy_prefix(f"-{i}"),
                sys.executable,
                __file__,
                "--child",
                str(config),
                "--messages",
                str(expected[i]),
                "--hold",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            env=env,
        )
        for i, (config, log_file) in enumerate(zip(configs, log_files, strict=True))
    ]
    results: list[dict[str, Any]] = []
    try:
        # Each instance reports when its partition is durable and stays up until all have (`--hold`).
        for i, proc in enumerate(children):
            results.append(_held_figures(proc, logs[i], f"instance {i}"))
        for proc in children:
            assert proc.stdin is not None
            proc.stdin.close()
        for i, proc in enumerate(children):
            if proc.wait(120) != 0:
                raise RuntimeError(f"instance {i} failed to stop ({proc.returncode}): {_tail(logs[i])}")
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            assert proc.stdout is not None
            proc.stdout.close()
        for log_file in log_files:
            log_file.close()
    first = min(r["first_receipt"] for r in results)
    last = max(r["last_durable"] for r in results)
    total = sum(r["messages"] for r in results)
    return {
        "messages": total,
        "seconds": max(r["seconds"] for r in results),
        "msg_per_s": total / (last - first),
        "with_startup_msg_per_s": total / max(r["seconds"] for r in results),
        "lag_p50_ms": statistics.median(r["lag_p50_ms"] for r in results),
        "lag_p99_ms": max(r["lag_p99_ms"] for r in results),
        "peak_rss_mb": sum(r["peak_rss_mb"] for r in results),
        "cpu_s": sum(r["cpu_s"] for r in results),
        "gc_s": sum(r["gc_s"] for r in results),
        "drain_cpu_us_per_msg": sum(r["drain_cpu_us_per_msg"] * r["messages"] for r in results) / total,
        "instances": results,
    }


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


def _held_figures(proc: subprocess.Popen[str], log: Path, what: str) -> dict[str, Any]:
    """The figures a `--hold` child prints when its messages are durable (it keeps running after)."""
    assert proc.stdout is not None
    for line in proc.stdout:  # a profiler in front of the child may print its own lines first
        if line.startswith("{"):
            return dict(json.loads(line))
    proc.wait(30)
    raise RuntimeError(f"{what} failed ({proc.returncode}): {_tail(log)}")


def _http_port(config: Path) -> int:
    found = re.search(r"^port = (\d+)$", config.read_text(encoding="utf-8"), re.M)
    assert found is not None
    return int(found.group(1))


def _until_owned(hub: HubProcess, partitions: list[int], limit: float = 120) -> None:
    """Until `hub` says it owns exactly `partitions` with its MQTT session up and every check passing."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if hub.proc is not None and hub.proc.poll() is not None:
            raise RuntimeError(f"{hub.log.name}: exited; {hub.log.read_text()[-3000:]}")
        answer = hub.healthz()
        if (
            answer is not None
            and answer[0] == 200
            and answer[1].get("cluster", {}).get("partitions") == partitions
            and answer[1].get("mqtt_connected")
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{hub.log.name}: does not own {partitions}; {hub.log.read_text()[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--homes", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--store", choices=["influxdb", "sqlite"], default="influxdb")
    parser.add_argument(
        "--sos-rate", type=float, default=0.001, help="share of messages that are SOS presses"
    )
    parser.add_argument(
        "--broker",
        choices=["mosquitto", "nats-cluster"],
        default="mosquitto",
        help="where the backlog waits: one Mosquitto, or a three-node NATS JetStream cluster",
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="partitioned hub instances sharing the backlog (>1: a private PostgreSQL register)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--hold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child), args.messages, args.hold)
        return
    if args.broker == "nats-cluster" and args.instances > 1:
        # Found 2026-12-01: such a run refused most subscriptions and stalled for 120 s, even at 100 homes.
        parser.error(
            "--broker nats-cluster 只能用于单实例 runs one instance only: a partitioned instance subscribes "
            "per device, and NATS caps `max_ack_pending` summed over one session's subscriptions at 65535 "
            "(1000 each here: 65 filters, about 20 homes a partition); partitioned instances need Mosquitto "
            "or EMQX (docs/deploy.md §1)"
        )
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            r = one_run(
                args.messages, args.homes, args.store, args.sos_rate, Path(tmp), args.broker, args.instances
            )
        results.append(r)
        for k, part in enumerate(r.get("instances", [])):
            print(
                f"  instance {k}: {part['messages']:,} messages, {part['msg_per_s']:,.0f} msg/s, "
                f"CPU {part['cpu_s']:.1f} s, lag p99 {part['lag_p99_ms']:.0f} ms, GC while draining "
                f"{part['gc_drain_s']:.2f} s (collections by generation {part['gc_drain_collections']}), "
                f"routine held for urgent alerts {part['routine_held_s']:.2f} s",
                flush=True,
            )
        print(
            f"run {i + 1}: {r['msg_per_s']:,.0f} msg/s from first receipt to last durable "
            f"({r['with_startup_msg_per_s']:,.0f} msg/s counting the hub's start-up), lag p50 {r['lag_p50_ms']:.0f} ms, "
            f"p99 {r['lag_p99_ms']:.0f} ms, peak RSS {r['peak_rss_mb']:.0f} MB, CPU {r['cpu_s']:.1f} s "
            f"({r['drain_cpu_us_per_msg']:.0f} us a message while draining), GC {r['gc_s']:.1f} s",
            flush=True,
        )
    med = {
        k: statistics.median(r[k] for r in results)
        for k, v in results[0].items()
        if isinstance(v, int | float)
    }
    print(
        f"median of {args.runs} ({args.messages:,} messages, {args.homes} homes, store={args.store}, "
        f"broker={args.broker}, instances={args.instances}, "
        f"SOS rate {args.sos_rate:.1%}): "
        f"{med['msg_per_s']:,.0f} msg/s ({med['with_startup_msg_per_s']:,.0f} with start-up), lag p50 {med['lag_p50_ms']:.0f} ms, p99 {med['lag_p99_ms']:.0f} ms, "
        f"peak RSS {med['peak_rss_mb']:.0f} MB, {med['drain_cpu_us_per_msg']:.0f} us CPU a message while draining; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {native.describe()}"
    )


if __name__ == "__main__":
    main()
