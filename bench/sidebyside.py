"""Node-RED beside the hub, in one run: who drains a backlog of QoS 1 messages faster on this machine.

Node-RED 4 and node-red-contrib-influxdb are installed from the npm registry into a cache directory
(--cache, default ~/.cache/eldercare-hub/nodered; not in the repository). The reference flow is
bench/nodered/flows.json: MQTT in (QoS 1, persistent session, the same Mosquitto settings as the hub's) →
JSON → a function keeping per-home state → batched InfluxDB 1.x writes (one `influxdb batch` write per
--nodered-batch points); Node-RED acknowledges each message on receipt. The function publishes its
first/last receipt times when it has seen every message.

Each round queues the same --messages backlog twice, on fresh private Mosquitto and InfluxDB processes:
first Node-RED drains it, then the hub (`bench/ingest.py`'s machinery: first receipt → last durable;
`--instances N` partitioned hub instances, default one per core). It prints both rates and their ratio per
round, and the median ratio.

    .venv/bin/python bench/sidebyside.py --rounds 3 --messages 100000 [--instances 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import messages, one_run, queue_backlog  # noqa: E402
from hub import native  # noqa: E402
from tests.services.influxdb import InfluxServer  # noqa: E402
from tests.services.mosquitto import Broker, free_port, start_mosquitto  # noqa: E402

FLOWS = Path(__file__).resolve().parent / "nodered" / "flows.json"
PACKAGES = ("node-red@4", "node-red-contrib-influxdb")
CLIENT_ID = "nodered-bench"  # the flow's broker node uses this id with a persistent session
DONE_TOPIC = "bench/nodered/done"


def install(cache: Path) -> Path:
    """Node-RED and the InfluxDB nodes in `cache` (npm, once); the path of Node-RED's red.js."""
    red = cache / "node_modules" / "node-red" / "red.js"
    contrib = cache / "node_modules" / "node-red-contrib-influxdb"
    if red.exists() and contrib.exists():
        return red
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed to install Node-RED (apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "package.json").exists():
        (cache / "package.json").write_text('{"name": "eldercare-bench-nodered", "private": true}\n')
    print(f"installing {' '.join(PACKAGES)} into {cache} …", flush=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", *PACKAGES], cwd=cache, check=True)
    return red


def write_flow(workdir: Path, broker: tuple[str, int], influx_url: str, expected: int, batch: int) -> Path:
    """The reference flow with this round's addresses, and Node-RED settings that load it."""
    influx = urllib.parse.urlsplit(influx_url)
    text = FLOWS.read_text(encoding="utf-8")
    flows = json.loads(text)
    for node in flows:
        for key, value in list(node.items()):
            if not isinstance(value, str):
                continue
            node[key] = (
                value.replace("__HOST__", broker[0])
                .replace("__PORT__", str(broker[1]))
                .replace("__INFLUX_HOST__", influx.hostname or "127.0.0.1")
                .replace("__INFLUX_PORT__", str(influx.port))
                .replace("__EXPECTED__", str(expected))
                .replace("__BATCH__", str(batch))
            )
    flow_file = workdir / "flows.json"
    flow_file.write_text(json.dumps(flows), encoding="utf-8")
    settings = workdir / "settings.js"
    settings.write_text(
        "module.exports = {\n"
        f"  uiPort: {free_port()}, uiHost: '127.0.0.1',\n"
        f"  flowFile: {json.dumps(str(flow_file))},\n"
        "  credentialSecret: false, httpAdminRoot: false,\n"
        "  logging: { console: { level: 'warn', metrics: false, audit: false } },\n"
        "  editorTheme: { projects: { enabled: false } },\n"
        "};\n",
        encoding="utf-8",
    )
    return settings


async def prime(host: str, port: int) -> None:
    """Create Node-RED's persistent session (MQTT 3.1.1, its client id, its subscriptions) and leave."""
    import gmqtt
    from gmqtt.mqtt.constants import MQTTv311

    client = gmqtt.Client(CLIENT_ID, clean_session=False)
    await client.connect(host, port, version=MQTTv311)
    client.subscribe([gmqtt.Subscription("zigbee2mqtt/#", qos=1), gmqtt.Subscription("tele/#", qos=1)])
    await asyncio.sleep(0.3)
    await client.disconnect()


async def drain(
    red: Path, cache: Path, settings: Path, host: str, port: int, limit_s: float
) -> dict[str, float]:
    """Start Node-RED on the queued backlog; its figures once the flow has seen every message."""
    import gmqtt

    done: asyncio.Future[dict[str, float]] = asyncio.get_running_loop().create_future()

    def on_message(client: gmqtt.Client, topic: str, payload: bytes, qos: int, properties: object) -> int:
        if not done.done():
            done.set_result(json.loads(payload))
        return 0

    watcher = gmqtt.Client(f"bench-watch-{os.getpid()}")
    watcher.on_message = on_message
    await watcher.connect(host, port)
    watcher.subscribe(DONE_TOPIC, qos=1)
    await asyncio.sleep(0.2)
    node = shutil.which("node") or "node"
    log = open(settings.parent / "nodered.log", "w")  # noqa: SIM115, ASYNC230
    proc = subprocess.Popen(  # noqa: ASYNC220  (one process per round)
        [node, str(red), "--settings", str(settings), "--userDir", str(cache)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        result = await asyncio.wait_for(done, limit_s)
    except TimeoutError:
        raise SystemExit(
            f"Node-RED did not drain in {limit_s:.0f} s; see {settings.parent / 'nodered.log'}"
        ) from None
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
        log.close()
        await watcher.disconnect()
    seconds = (result["last"] - result["first"]) / 1000
    return {"messages": result["count"], "msg_per_s": result["count"] / seconds}


@contextlib.contextmanager
def fresh_services(workdir: Path, database: str) -> Iterator[tuple[Broker, InfluxServer]]:
    """A private Mosquitto (the hub's queue limits) and InfluxDB with `database` created; stopped after."""
    broker = start_mosquitto(workdir / "mosquitto")
    influx = InfluxServer(workdir / "influx")
    try:
        influx.start()
        query = urllib.parse.urlencode({"q": f"CREATE DATABASE {database}"}).encode()
        with urllib.request.urlopen(f"{influx.url}/query", data=query, timeout=10):
            pass
        yield broker, influx
    finally:
        broker.process.terminate()
        broker.process.wait(10)
        influx.stop()


def round_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of a side-by-side round: how many rounds, and the backlog each drains."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--homes", type=int, default=2000)
    parser.add_argument("--sos-rate", type=float, default=0.001)
    parser.add_argument(
        "--nodered-batch", type=int, default=5000, help="Node-RED's points per InfluxDB write"
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "eldercare-hub" / "nodered")


def nodered_round(args: argparse.Namespace, red: Path, workdir: Path) -> dict[str, float]:
    """One Node-RED drain of the backlog on a fresh broker and InfluxDB."""
    with fresh_services(workdir, "nodered") as (broker, influx):
        settings = write_flow(
            workdir, (broker.host, broker.port), influx.url, args.messages, args.nodered_batch
        )
        asyncio.run(prime(broker.host, broker.port))
        backlog = messages(args.messages, args.homes, args.sos_rate)
        asyncio.run(queue_backlog(broker.url, backlog))
        return asyncio.run(drain(red, args.cache, settings, broker.host, broker.port, 1800))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    round_arguments(parser)
    parser.add_argument(
        "--instances",
        type=int,
        default=os.cpu_count() or 1,
        help="partitioned hub instances (bench/ingest.py --instances); default: one per core",
    )
    args = parser.parse_args()
    red = install(args.cache)
    ratios = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="bench-nodered-") as tmp:
            nr = nodered_round(args, red, Path(tmp))
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            hub = one_run(
                args.messages, args.homes, "influxdb", args.sos_rate, Path(tmp), instances=args.instances
            )
        ratio = hub["msg_per_s"] / nr["msg_per_s"]
        ratios.append(ratio)
        print(
            f"round {i + 1}: Node-RED {nr['msg_per_s']:,.0f} msg/s, hub {hub['msg_per_s']:,.0f} msg/s, "
            f"ratio {ratio:.2f} (load {os.getloadavg()[0]:.2f})",
            flush=True,
        )
    print(
        f"median ratio hub / Node-RED over {args.rounds} rounds: {statistics.median(ratios):.2f} "
        f"({args.messages:,} messages, {args.instances} hub instance(s), {os.cpu_count()} cores, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; target >= 1.5; {native.describe()})"
    )


if __name__ == "__main__":
    main()
