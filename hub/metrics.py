"""Prometheus metrics of the hub, served at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES = Counter("hub_messages", "Messages received, by source", ["source"], registry=REGISTRY)
DECODED = Counter("hub_messages_decoded", "Messages decoded into readings", registry=REGISTRY)
IGNORED = Counter(
    "hub_messages_ignored", "Non-device messages (bridge, discovery) ignored", registry=REGISTRY
)
QUARANTINED = Counter(
    "hub_messages_quarantined", "Messages quarantined, by source", ["source"], registry=REGISTRY
)
READINGS = Counter("hub_readings", "Readings written to the time series", registry=REGISTRY)
ALERTS_OPENED = Counter("hub_alerts_opened", "Alerts opened, by kind", ["kind"], registry=REGISTRY)
STORE_WRITE = Histogram(
    "hub_store_write_seconds",
    "Latency of one durable batch (store + register)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
ROUTINE_HELD = Counter(
    "hub_routine_held_seconds",
    "Time routine ingest waited while an urgent alert (SOS, fall, gas…) was on its way out",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("hub_queue_depth", "Messages accepted but not yet durable", registry=REGISTRY)
STORE_PENDING = Gauge(
    "hub_store_pending", "Readings spooled but not yet in the time-series database", registry=REGISTRY
)
HEALTH_CHECK = Gauge(
    "hub_health_check_ok",
    "1 when the named health check passes, 0 when it fails (the reason is in /healthz)",
    ["check"],
    registry=REGISTRY,
)
CLUSTER_ACTIVE = Gauge(
    "hub_cluster_active",
    "1 while this instance holds its lease and does the active work, 0 while it is a standby",
    ["instance"],
    registry=REGISTRY,
)
CLUSTER_PARTITIONS = Gauge(
    "hub_cluster_partitions_owned",
    "Partitions whose lease this instance holds",
    ["instance"],
    registry=REGISTRY,
)
CLUSTER_EPOCH = Gauge(
    "hub_cluster_lease_epoch",
    "Fencing token (epoch) of the lease this instance holds, 0 when it holds none",
    ["instance"],
    registry=REGISTRY,
)


def render() -> bytes:
    """The Prometheus text exposition of every hub metric."""
    return generate_latest(REGISTRY)
