"""How long the rules restore of a takeover takes for many homes: one query a home against `query_homes`.

A private InfluxDB gets --per readings a home (motion, door, water, battery) within the last 10 hours for
--homes homes; then, --runs times each, alternating:
  * one `store.query` a home over the restore's window (what `restore_engine` did before);
  * `restore_engine` itself on a rules engine watching those homes (no snapshot: the whole window replayed).
Prints each run and the medians.

    .venv/bin/python bench/restore.py --homes 2000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hub.models import Reading, Signal  # noqa: E402
from hub.rules.persistence import restore_engine  # noqa: E402
from hub.store.influx import InfluxStore  # noqa: E402
from tests.rules.helpers import make_engine, reading  # noqa: E402
from tests.services.influxdb import InfluxServer  # noqa: E402

KINDS = (
    ("motion", Signal.MOTION),
    ("door", Signal.CONTACT),
    ("water", Signal.WATER_TOTAL),
    ("sos", Signal.BATTERY),
)


def history(homes: list[str], per: int, now: datetime, seed: int = 1) -> list[Reading]:
    """`per` readings a home at random minutes of the last 10 hours."""
    rnd = random.Random(seed)
    out = []
    for home in homes:
        for k in range(per):
            role, signal = rnd.choice(KINDS)
            value = float(k) if signal is not Signal.MOTION else float(k % 2)
            out.append(reading(home, role, signal, value, now - timedelta(minutes=rnd.randint(1, 600))))
    return out


async def measure(url: str, spool: Path, homes: list[str], per: int, runs: int) -> None:
    """Write the history, then time both ways `runs` times."""
    now = datetime.now(UTC).replace(microsecond=0)
    async with InfluxStore(url, "bench", spool_dir=spool) as store:
        readings = history(homes, per, now)
        for first in range(0, len(readings), 5000):
            await store.write(readings[first : first + 5000])
        end = now + timedelta(seconds=1)
        engine = make_engine("key", codes=tuple(homes), at=now)
        start = end - timedelta(hours=engine.config.rebuild_max_hours)
        per_home: list[float] = []
        batched: list[float] = []
        for run in range(runs):
            began = time.perf_counter()
            n_old = 0
            for home in homes:
                n_old += len(await store.query(home, None, start, end))
            per_home.append(time.perf_counter() - began)
            engine = make_engine("key", codes=tuple(homes), at=now)
            began = time.perf_counter()
            n_new = await restore_engine(engine, {}, store, end)
            batched.append(time.perf_counter() - began)
            print(
                f"run {run + 1}: one query a home {per_home[-1]:.2f} s ({n_old:,} readings); "
                f"restore_engine {batched[-1]:.2f} s ({n_new:,} readings replayed)",
                flush=True,
            )
    print(
        f"median of {runs} ({len(homes):,} homes, {per} readings a home): one query a home "
        f"{statistics.median(per_home):.2f} s, restore_engine {statistics.median(batched):.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--homes", type=int, default=2000)
    parser.add_argument("--per", type=int, default=10, help="readings a home")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    homes = [f"H{i:06d}" for i in range(args.homes)]
    with tempfile.TemporaryDirectory(prefix="bench-restore-") as tmp:
        server = InfluxServer(Path(tmp) / "influx")
        server.start()
        try:
            asyncio.run(measure(server.url, Path(tmp) / "spool", homes, args.per, args.runs))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
