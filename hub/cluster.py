"""Who is active: the role of this hub process in a cluster of hubs sharing one PostgreSQL register.

A value type at the bottom of the layers: the cluster orchestration (`hub.standby`) sets it as leases are won and lost, the web
layer shows it in /healthz, and /metrics carries it as gauges. With the SQLite register there is one process
and it is always active.
"""

from __future__ import annotations

import math
import os
import socket
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from hub import metrics

ACTIVE = "active"
STANDBY = "standby"


def partition_of(home_code: str, partitions: int) -> int:
    """The fixed partition of a home: CRC-32 of its code (UTF-8) modulo the number of partitions.

    Stable across processes and Python versions (unlike `hash()`), so every instance, the CLI and the
    board agree on it without asking each other.
    """
    return zlib.crc32(home_code.encode("utf-8")) % partitions


def default_instance() -> str:
    """This process's name in the cluster when `cluster.instance` is not set: host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class ClusterRole:
    """This instance's role; `set_active`/`set_standby` keep the /metrics gauges in step."""

    instance: str
    role: str = STANDBY
    epoch: int | None = None  # the fencing token of the lease held, while active (the lowest partition's)
    partitions: list[int] = field(default_factory=list)
    epochs: dict[int, int] = field(default_factory=dict)  # partition → fencing token, while active
    clustered: bool = True  # False: SQLite register, a single process that is always active
    last_error: str = ""  # why the last lease attempt failed ("" once one succeeded)

    def __post_init__(self) -> None:
        self._publish()

    def set_active(
        self, epoch: int | None, partitions: list[int], epochs: Mapping[int, int] | None = None
    ) -> None:
        """This instance now holds the lease(s) of `partitions` with fencing token `epoch` (one partition)
        or `epochs` (partition → token, several)."""
        self.role, self.epoch, self.partitions, self.last_error = ACTIVE, epoch, sorted(partitions), ""
        self.epochs = (
            dict(epochs) if epochs is not None else ({} if epoch is None else {p: epoch for p in partitions})
        )
        self._publish()

    def set_standby(self) -> None:
        """This instance holds no lease: it serves nothing but /healthz and /metrics, ready to take over."""
        self.role, self.epoch, self.partitions, self.epochs = STANDBY, None, [], {}
        # A standby runs no checks: verdicts left from an active term would page about parts it no longer
        # runs (a standby's own health is its /healthz and hub_cluster_active).
        metrics.HEALTH_CHECK.clear()
        self._publish()

    @property
    def active(self) -> bool:
        """True while this instance does the active work."""
        return self.role == ACTIVE

    def as_dict(self) -> dict[str, object]:
        """The JSON shape in /healthz."""
        return {
            "role": self.role,
            "instance": self.instance,
            "epoch": self.epoch,
            "partitions": self.partitions,
            "clustered": self.clustered,
            "error": self.last_error,
        }

    def _publish(self) -> None:
        metrics.CLUSTER_ACTIVE.labels(self.instance).set(1 if self.active else 0)
        metrics.CLUSTER_PARTITIONS.labels(self.instance).set(len(self.partitions))
        metrics.CLUSTER_EPOCH.labels(self.instance).set(self.epoch or 0)


@dataclass(frozen=True, slots=True)
class HomeScope:
    """The homes a partitioned instance acts for now: their register ids, and whether it also does the
    work of no home (notifications without an alert), which falls to the owner of partition 0."""

    home_ids: frozenset[int]
    system: bool


# -- who should own which partition ------------------------------------------------------------------------

RELEASED = "*"  # `move_to` of a partition its owner was told to give up (`eldercare-hub partitions release`)


@dataclass(frozen=True, slots=True)
class PartitionLease:
    """What the planner needs of one partition's lease row."""

    partition: int
    owner: str
    remaining_s: float  # negative once it has run out
    move_to: str | None = None  # an instance it is assigned to (`partitions move`), RELEASED, or None


@dataclass(frozen=True, slots=True)
class Plan:
    """What an instance should do now: partitions to give up, partitions to try to take."""

    give: tuple[int, ...] = ()
    take: tuple[int, ...] = ()


def fair_share(partitions: int, live: int) -> int:
    """At most this many partitions per instance: ceil(P / live instances)."""
    return math.ceil(partitions / max(1, live))


def plan(
    partitions: int,
    me: str,
    live: Mapping[str, Sequence[int]],
    leases: Collection[PartitionLease],
    lease_s: float,
) -> Plan:
    """Which partitions `me` gives up and which it tries to take (pure; `hub.standby` runs it every renewal).

    `live` maps each live instance (this one included) to its `cluster.prefer` list. A partition assigned by
    `partitions move` to a live instance belongs to it; else the first live instance (by name) that prefers
    it; else anyone, up to the fair share. An instance gives up what belongs to another live instance, what
    it was told to release, and what it holds beyond its fair share; it takes free partitions (no lease, or
    run out) that belong to it, then ownerless ones while under its fair share. One it released on request
    it leaves to others for two lease times.
    """
    by_partition = {lease.partition: lease for lease in leases}
    share = fair_share(partitions, len(live))

    def belongs_to(p: int) -> str | None:
        lease = by_partition.get(p)
        if lease is not None and lease.move_to and lease.move_to in live:
            return lease.move_to
        for name in sorted(live):
            if p in live[name]:
                return name
        return None

    held = [p for p, lease in by_partition.items() if lease.owner == me and lease.remaining_s > 0]
    give = [p for p in held if (by_partition[p].move_to == RELEASED) or (belongs_to(p) not in (None, me))]
    kept = [p for p in held if p not in give]
    spare = sorted((p for p in kept if belongs_to(p) is None), reverse=True)
    while len(kept) > share and spare:
        extra = spare.pop(0)
        kept.remove(extra)
        give.append(extra)
    take: list[int] = []
    ownerless: list[int] = []
    for p in range(partitions):
        lease = by_partition.get(p)
        if lease is not None and lease.remaining_s > 0:
            continue
        if (
            lease is not None
            and lease.move_to == RELEASED
            and lease.owner == me
            and lease.remaining_s > -2 * lease_s
        ):
            continue
        owner = belongs_to(p)
        if owner == me:
            take.append(p)
        elif owner is None:
            ownerless.append(p)
    room = share - len(kept) - len(take)
    take += ownerless[: max(0, room)]
    return Plan(tuple(sorted(give)), tuple(sorted(take)))
