"""CPU a message of each stage of the hub's ingest path, in-process and without I/O.

`bench/ingest.py` gives the drain rate of the whole hub, which moves by 2× between runs on a shared machine;
this gives what each pure stage costs, steady enough to tell whether a change to one of them helped. On
`bench/ingest.py`'s backlog (the same messages, `--homes` homes of tests/hubproc.py's site loaded into a
SQLite register) it times, as CPU time of this process with the start-up heap frozen out of the collector
(as `Pipeline.run` does):

- `message`: building the `RawMessage`s (the MQTT source builds one a message);
- `decode`: route, binding, the device definition's decoder, range check and time policy;
- `rules`: counters and the full rules engine (`RulesEngine.observe`) on every reading;
- `accept`: `Pipeline.accept` of a `Delivery` each — decode, counters, rules and batching together;
- `line protocol`: `encode_readings` with a warm series cache, as the InfluxDB store calls it.

It prints µs a message per stage, the median of `--repeats`. The MQTT intake, the durable writes (InfluxDB
HTTP, register transaction), acknowledgements and the alert worker are not here: `bench/floor.py` measures
the intake, `bench/ingest.py` the rest.

    .venv/bin/python bench/stages.py [--messages 100000] [--homes 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingest import messages  # noqa: E402
from hub import native  # noqa: E402
from hub.app import BindingCache  # noqa: E402
from hub.devices.registry import DeviceRegistry  # noqa: E402
from hub.ingest.pipeline import Pipeline  # noqa: E402
from hub.ingest.register_writer import RegisterWriter  # noqa: E402
from hub.models import RawMessage, Reading  # noqa: E402
from hub.rules.engine import RulesEngine  # noqa: E402
from hub.rules.persistence import load_profiles  # noqa: E402
from hub.rules.replay import sign_capable  # noqa: E402
from hub.rules.settings import RulesConfig  # noqa: E402
from hub.sources.delivery import Delivery  # noqa: E402
from hub.store import SqliteStore  # noqa: E402
from hub.store.lineprotocol import encode_readings  # noqa: E402
from tests.hubproc import sos_site  # noqa: E402
from tests.site_fixture import make_site  # noqa: E402

RECEIVED = datetime(2026, 11, 28, 7, 1, tzinfo=UTC)  # the backlog's Tasmota messages say 07:01 local


def cpu_seconds(work: Callable[[], Any]) -> float:
    """CPU time of `work()`, with what exists before it frozen out of the cyclic collector."""
    gc.collect()
    gc.freeze()
    try:
        started = time.process_time()
        work()
        return time.process_time() - started
    finally:
        gc.unfreeze()


class Stages:
    """The hub's pure ingest stages over one site and one backlog."""

    def __init__(self, backlog: list[tuple[str, bytes]], homes: int, folder: Path) -> None:
        self.backlog = backlog
        self.sessions = make_site(folder, None, sos_site(homes))
        self.bindings = BindingCache(self.sessions)
        self.bindings.reload()
        self.registry = DeviceRegistry.default()
        # Only to build pipelines: `accept` writes nothing.
        self.store = SqliteStore(folder / "series.sqlite")
        self.decoder = self.pipeline(rules=False)
        self.raws = self.build_messages()
        self.readings = [r for batch in self.decode() if batch for r in batch]

    def build_messages(self) -> list[RawMessage]:
        """One `RawMessage` a message, each received a microsecond after the one before (as the source does)."""
        step = timedelta(microseconds=1)
        return [
            RawMessage("mqtt", topic, payload, RECEIVED + i * step, None)
            for i, (topic, payload) in enumerate(self.backlog)
        ]

    def decode(self) -> list[list[Reading] | None]:
        """Every message decoded as the pipeline decodes it (None: not a device topic)."""
        decode = self.decoder._decode  # the pipeline's own step: route, binding, decoder, checks
        return [decode(raw) for raw in self.raws]

    def engine(self) -> RulesEngine:
        """A fresh rules engine with the site's register, as the hub starts it."""
        engine = RulesEngine(RulesConfig(), "Asia/Shanghai", sign_capable=sign_capable(self.registry))
        with self.sessions() as session:
            engine.set_register(self.bindings.get(), load_profiles(session), RECEIVED)
        return engine

    def rules(self, engine: RulesEngine) -> None:
        """Every reading through the rules engine."""
        observe = engine.observe
        for reading in self.readings:
            observe(reading)

    def pipeline(self, rules: bool = True) -> Pipeline:
        """A pipeline with the full rules engine (or only the immediate rules); `accept` does no I/O, so
        nothing is flushed."""
        return Pipeline(
            registry=self.registry,
            bindings=self.bindings.for_pipeline,
            store=self.store,
            register=RegisterWriter(self.sessions),
            clock=_Fixed(),
            rules=self.engine() if rules else None,
            max_pending=len(self.backlog) + 1,
        )

    def accept(self, pipeline: Pipeline, deliveries: list[Delivery]) -> None:
        """Every delivery through `Pipeline.accept`."""
        accept = pipeline.accept
        for delivery in deliveries:
            accept(delivery)


class _Fixed:
    """The clock the pipeline is given: the backlog's receipt time."""

    def now(self) -> datetime:
        return RECEIVED


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--homes", type=int, default=2000)
    parser.add_argument("--sos-rate", type=float, default=0.001)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    n = args.messages
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        stages = Stages(messages(n, args.homes, args.sos_rate), args.homes, Path(tmp))
        times: dict[str, list[float]] = {}
        for _ in range(args.repeats):
            times.setdefault("message", []).append(cpu_seconds(stages.build_messages))
            times.setdefault("decode", []).append(cpu_seconds(stages.decode))
            engine = stages.engine()
            times.setdefault("rules", []).append(cpu_seconds(lambda: stages.rules(engine)))  # noqa: B023
            pipeline = stages.pipeline()
            deliveries = [Delivery(raw) for raw in stages.raws]
            times.setdefault("accept", []).append(
                cpu_seconds(lambda: stages.accept(pipeline, deliveries))  # noqa: B023
            )
            cache: dict[tuple[str, str, str, str], str] = {}
            encode_readings(stages.readings, cache)  # warm: the store's cache lives as long as the hub
            times.setdefault("line protocol", []).append(
                cpu_seconds(lambda: encode_readings(stages.readings, cache))  # noqa: B023
            )
    per_reading = len(stages.readings) / n
    print(
        f"{n:,} messages, {args.homes} homes, {per_reading:.2f} readings a message, median of {args.repeats} "
        f"({native.describe()}):"
    )
    for stage, seconds in times.items():
        print(f"  {stage:14s} {1e6 * statistics.median(seconds) / n:6.2f} us a message")


if __name__ == "__main__":
    main()
