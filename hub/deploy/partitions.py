"""The partitions of a cluster of hub instances as people see them (the CLI's ``partitions list`` and the
board's 分区 section): owner, fencing epoch, lease time left, assignment, homes (docs/scaling.md §5)."""

from __future__ import annotations

from hub.cluster import RELEASED
from hub.register.lease import PartitionRow


def describe(row: PartitionRow) -> dict[str, object]:
    """One partition as JSON (the CLI's --json and GET /api/v1/partitions)."""
    return {
        "partition": row.partition,
        "owner": row.owner if row.held else "",
        "last_owner": row.owner,
        "epoch": row.epoch,
        "lease_remaining_s": None if row.remaining_s is None else round(row.remaining_s, 2),
        "held": row.held,
        "assigned_to": "" if row.move_to in (None, RELEASED) else row.move_to,
        "releasing": row.move_to == RELEASED,
        "homes": row.homes,
    }
