"""How fast `eldercare-hub replay` runs a recording: generated traffic, replayed in-process, msg/s and peak RSS.

Method:
  1. generate about N messages in real formats (`tests/rules/traffic.py`: Zigbee2MQTT, Tasmota, heartbeats,
     incidents and device faults) for `--homes` homes over as many days as it takes, write them as JSONL;
  2. in a child process (so its peak RSS is the replay's own), load the site and time the replay from
     reading the file to the summary, as the command does (in memory; `--store` adds a SQLite store);
  3. with `--vs-ingest`, run `bench/ingest.py --runs 1` in the same run and print the ratio: a what-if replay
     does less work than live ingest, so it must not be slower.

    .venv/bin/python bench/replay.py --messages 300000 --vs-ingest
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LINES_PER_HOME_DAY = 440  # what tests/rules/traffic.py produces, about
MIN_DAYS = 21  # the generator places incidents from the 16th day on; learning starts after 14


def write_recording(n: int, homes: int, seed: int, folder: Path) -> tuple[Path, Path, str]:
    """The site file and a JSONL recording of about `n` lines; (site, recording, replay until)."""
    from hub.sim.site import dump_site_yaml
    from tests.rules.traffic import generate

    days = max(MIN_DAYS, math.ceil(n / (homes * LINES_PER_HOME_DAY)))
    traffic = generate(homes=homes, days=days, seed=seed)
    traffic.lines = traffic.lines[:n]
    site = folder / "site.yaml"
    site.write_text(dump_site_yaml(traffic.site), encoding="utf-8")
    recording = folder / "recording.jsonl"
    recording.write_text(traffic.jsonl(), encoding="utf-8")
    until = traffic.lines[-1].ts + timedelta(seconds=1)
    return site, recording, until.isoformat()


def child(site: Path, recording: Path, until: str, store: Path | None) -> None:
    """Replay `recording` in this process; print lines, seconds, msg/s, alerts and peak RSS as JSON."""
    from datetime import datetime

    from hub.models import AlertCandidate
    from hub.rules.replay import load_site_register, read_lines, replay_with_engine

    with tempfile.TemporaryDirectory(prefix="bench-replay-register-") as tmp:
        register = load_site_register(site, Path(tmp))
    alerts: list[AlertCandidate] = []
    started, cpu = time.perf_counter(), time.process_time()
    summary = asyncio.run(
        replay_with_engine(
            read_lines(recording),
            register,
            emit=alerts.append,
            until=datetime.fromisoformat(until),
            store=store,
        )
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        json.dumps(
            {
                "lines": summary.lines,
                "seconds": seconds,
                "msg_per_s": summary.lines / seconds,
                "cpu_s": cpu,  # on a shared machine, wall time / CPU time tells how busy it was
                "alerts": len(alerts),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def ingest_rate(messages: int) -> float:
    """The live drain rate of `bench/ingest.py --runs 1` (msg/s, first receipt to last durable)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ingest.py"), "--runs", "1", "--messages", str(messages)],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=ROOT,
    ).stdout
    found = re.search(r"run 1: ([\d,]+) msg/s", out)
    if found is None:
        raise SystemExit(f"bench/ingest.py printed no rate:\n{out}")
    return float(found.group(1).replace(",", ""))


def main() -> None:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=300_000)
    parser.add_argument("--homes", type=int, default=None, help="default: enough for N messages in 21 days")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--store", action="store_true", help="replay with --store (a SQLite store on disk)")
    parser.add_argument(
        "--vs-ingest", action="store_true", help="also run bench/ingest.py --runs 1 and print the ratio"
    )
    parser.add_argument("--ingest-messages", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-store", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        site, recording, until = args.child
        child(Path(site), Path(recording), until, Path(args.child_store) if args.child_store else None)
        return
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        folder = Path(tmp)
        homes = args.homes or max(15, round(args.messages / (MIN_DAYS * LINES_PER_HOME_DAY)))
        site, recording, until = write_recording(args.messages, homes, args.seed, folder)
        extra = ["--child-store", str(folder / "store.sqlite")] if args.store else []
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(site), str(recording), until, *extra],
            check=True,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
    where = "SQLite store" if args.store else "in memory"
    print(
        f"replay ({where}): {r['lines']:,} messages, {homes} homes in {r['seconds']:.1f} s: "
        f"{r['msg_per_s']:,.0f} msg/s ({r['cpu_s']:.1f} s of CPU: {r['lines'] / r['cpu_s']:,.0f} msg per CPU second), "
        f"{r['alerts']} alerts, peak RSS {r['peak_rss_mb']:.0f} MB",
        flush=True,
    )
    if args.vs_ingest:
        live = ingest_rate(args.ingest_messages)
        print(
            f"live drain (bench/ingest.py --runs 1, {args.ingest_messages:,} messages): {live:,.0f} msg/s; "
            f"replay / live = {r['msg_per_s'] / live:.2f}"
        )


if __name__ == "__main__":
    main()
