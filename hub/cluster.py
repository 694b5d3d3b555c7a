"""Who is active: the role of this hub process in a cluster of hubs sharing one PostgreSQL register.

A value type at the bottom of the layers: the wiring (`hub.app`) sets it as leases are won and lost, the web
layer shows it in /healthz, and /metrics carries it as gauges. With the SQLite register there is one process
and it is always active.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from hub import metrics

ACTIVE = "active"
STANDBY = "standby"


def default_instance() -> str:
    """This process's name in the cluster when `cluster.instance` is not set: host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class ClusterRole:
    """This instance's role; `set_active`/`set_standby` keep the /metrics gauges in step."""

    instance: str
    role: str = STANDBY
    epoch: int | None = None  # the fencing token of the lease held, while active
    partitions: list[int] = field(default_factory=list)
    clustered: bool = True  # False: SQLite register, a single process that is always active
    last_error: str = ""  # why the last lease attempt failed ("" once one succeeded)

    def __post_init__(self) -> None:
        self._publish()

    def set_active(self, epoch: int | None, partitions: list[int]) -> None:
        """This instance now holds the lease(s) of `partitions` with fencing token `epoch`."""
        self.role, self.epoch, self.partitions, self.last_error = ACTIVE, epoch, list(partitions), ""
        self._publish()

    def set_standby(self) -> None:
        """This instance holds no lease: it serves nothing but /healthz and /metrics, ready to take over."""
        self.role, self.epoch, self.partitions = STANDBY, None, []
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
