"""Leases in the register: which hub instance is active, judged by the database's clock alone.

One row per partition (`cluster_leases`): the owner, a fencing token (`epoch`, raised at every change of
owner) and when the lease runs out. Each operation is one SQL statement using PostgreSQL's ``now()``, so the
hosts' clocks never decide who is active. A lease is taken only once it has run out (or never existed); its
holder renews it well before then; an instance that cannot renew stops its active work before the lease can
run out (hub.standby), so two instances are never active for the same partition at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Engine, Integer, String, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from hub.cluster import partition_of
from hub.register.db import safe_url
from hub.register.errors import RegisterError
from hub.register.models import Base, Home, UTCDateTime

# A lease statement that takes longer than this is abandoned (the caller treats it as a failed renewal).
STATEMENT_TIMEOUT_MS = 2000


class LeaseLost(RegisterError):
    """This instance no longer holds the lease it acts under: it must stop its active work."""


class ClusterLease(Base):
    """The lease of one partition: held by `owner` until `expires_at` (database time)."""

    __tablename__ = "cluster_leases"

    partition: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    owner: Mapped[str] = mapped_column(String(128))
    epoch: Mapped[int] = mapped_column(BigInteger)  # fencing token: +1 at every change of owner
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # `eldercare-hub partitions move N --to X` → "X"; `… release N` → "*"; None: placed by the planner.
    move_to: Mapped[str | None] = mapped_column(String(128), nullable=True)


class ClusterInstance(Base):
    """A live hub instance: renewed with its leases, so that the others know how many share the partitions."""

    __tablename__ = "cluster_instances"

    instance: Mapped[str] = mapped_column(String(128), primary_key=True)
    prefer: Mapped[str] = mapped_column(String(1024))  # its `cluster.prefer`, comma-separated
    seen_until: Mapped[datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True, slots=True)
class LeaseState:
    """A lease as the database sees it now."""

    partition: int
    owner: str
    epoch: int
    remaining_s: float  # until it runs out; negative once it has
    move_to: str | None = None  # an assignment by `partitions move` ("*": `partitions release`)

    @property
    def expired(self) -> bool:
        """True once the lease has run out (anyone may take it)."""
        return self.remaining_s <= 0


_ACQUIRE = text(
    """
    INSERT INTO cluster_leases (partition, owner, epoch, expires_at)
    VALUES (:partition, :owner, 1, now() + make_interval(secs => :lease_s))
    ON CONFLICT (partition) DO UPDATE
       SET owner = EXCLUDED.owner,
           epoch = cluster_leases.epoch + 1,
           expires_at = EXCLUDED.expires_at,
           move_to = CASE WHEN cluster_leases.move_to = '*' THEN NULL ELSE cluster_leases.move_to END
     WHERE cluster_leases.expires_at <= now()
    RETURNING epoch
    """
)
_RENEW = text(
    """
    UPDATE cluster_leases SET expires_at = now() + make_interval(secs => :lease_s)
     WHERE partition = :partition AND owner = :owner AND epoch = :epoch AND expires_at > now()
    RETURNING epoch
    """
)
_RELEASE = text(
    """
    UPDATE cluster_leases SET expires_at = now()
     WHERE partition = :partition AND owner = :owner AND epoch = :epoch
    """
)
# FOR SHARE: the row stays locked until the checking transaction ends, so a release or takeover of the
# lease (an UPDATE of the row) waits for a step already under way instead of running beside it.
_HELD = text(
    """
    SELECT 1 FROM cluster_leases
     WHERE partition = :partition AND owner = :owner AND epoch = :epoch AND expires_at > now()
       FOR SHARE
    """
)
_STATE = text(
    """
    SELECT partition, owner, epoch, EXTRACT(EPOCH FROM expires_at - now())::float8 AS remaining_s, move_to
      FROM cluster_leases ORDER BY partition
    """
)
_HEARTBEAT = text(
    """
    INSERT INTO cluster_instances (instance, prefer, seen_until)
    VALUES (:instance, :prefer, now() + make_interval(secs => :lease_s))
    ON CONFLICT (instance) DO UPDATE SET prefer = EXCLUDED.prefer, seen_until = EXCLUDED.seen_until
    RETURNING 1
    """
)
_LIVE = text("SELECT instance, prefer FROM cluster_instances WHERE seen_until > now() ORDER BY instance")
_GONE = text("UPDATE cluster_instances SET seen_until = now() WHERE instance = :instance")
# A partition nobody has held yet gets an expired row, so that an assignment has somewhere to live.
_ASSIGN = text(
    """
    INSERT INTO cluster_leases (partition, owner, epoch, expires_at, move_to)
    VALUES (:partition, '', 0, now(), :move_to)
    ON CONFLICT (partition) DO UPDATE SET move_to = EXCLUDED.move_to
    """
)


def check_held(session: Session, partition: int, owner: str, epoch: int) -> None:
    """The fencing-token check inside a transaction of the active work: raise `LeaseLost` unless `owner`
    still holds the lease of `partition` with `epoch` (by the database's clock).

    An active that was paused past its lease (a frozen VM) may run a step before it notices; with this check
    first in the step's transaction, that step does nothing. The lease row stays share-locked until the
    transaction ends: a partition given up (`partitions move`) is released only after the step in flight
    committed, so the next owner never repeats it.
    """
    try:
        held = session.execute(_HELD, {"partition": partition, "owner": owner, "epoch": epoch}).first()
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot check the lease: {exc}") from exc
    if held is None:
        raise LeaseLost(f"实例 {owner} 已不持有分区 {partition} 的租约 (epoch {epoch})，停止主用工作")


class Leases:
    """Take, renew, release and read leases for `instance` (blocking calls: run them in a thread).

    Use an engine of its own (`make_engine`), so that a lease statement never waits behind the hub's
    batches for a pooled connection.
    """

    def __init__(self, engine: Engine, instance: str, lease_s: float) -> None:
        if engine.dialect.name != "postgresql":
            raise RegisterError(f"leases need a PostgreSQL register, not {safe_url(engine.url)}")
        self.engine = engine
        self.instance = instance
        self.lease_s = lease_s

    def _one(self, statement: object, **params: object) -> int | None:
        try:
            with self.engine.begin() as conn:
                conn.execute(text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
                row = conn.execute(statement, params).first()  # type: ignore[call-overload]
        except SQLAlchemyError as exc:
            raise RegisterError(f"lease statement failed at {safe_url(self.engine.url)}: {exc}") from exc
        return None if row is None else int(row[0])

    def acquire(self, partition: int) -> int | None:
        """Take the lease of `partition` if it is free or has run out: its new epoch, or None if held."""
        return self._one(_ACQUIRE, partition=partition, owner=self.instance, lease_s=self.lease_s)

    def renew(self, partition: int, epoch: int) -> bool:
        """Extend the lease held with `epoch` by `lease_s` from now; False if it ran out or changed hands."""
        renewed = self._one(
            _RENEW, partition=partition, owner=self.instance, epoch=epoch, lease_s=self.lease_s
        )
        return renewed is not None

    def release(self, partition: int, epoch: int) -> None:
        """Give the lease up at once (a clean stop: the standby need not wait for it to run out)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(_RELEASE, {"partition": partition, "owner": self.instance, "epoch": epoch})
        except SQLAlchemyError as exc:
            raise RegisterError(f"lease release failed at {safe_url(self.engine.url)}: {exc}") from exc

    def states(self) -> list[LeaseState]:
        """Every lease, by partition."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(_STATE).all()
        except SQLAlchemyError as exc:
            raise RegisterError(f"cannot read the leases at {safe_url(self.engine.url)}: {exc}") from exc
        return [LeaseState(int(r[0]), str(r[1]), int(r[2]), float(r[3]), r[4]) for r in rows]

    def heartbeat(self, prefer: list[int]) -> None:
        """Say this instance is alive for another `lease_s` (and which partitions it prefers)."""
        self._one(_HEARTBEAT, instance=self.instance, prefer=",".join(map(str, prefer)), lease_s=self.lease_s)

    def goodbye(self) -> None:
        """A clean stop: this instance no longer counts as live (the others' fair share grows at once)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(_GONE, {"instance": self.instance})
        except SQLAlchemyError as exc:
            raise RegisterError(f"cannot end the heartbeat at {safe_url(self.engine.url)}: {exc}") from exc

    def live(self) -> dict[str, list[int]]:
        """Every live instance and the partitions it prefers."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(_LIVE).all()
        except SQLAlchemyError as exc:
            raise RegisterError(f"cannot read the instances at {safe_url(self.engine.url)}: {exc}") from exc
        return {str(r[0]): [int(p) for p in str(r[1]).split(",") if p] for r in rows}


def assign(session: Session, partition: int, move_to: str | None) -> None:
    """Record an assignment of `partition` (`partitions move`/`release`): its owner gives it up after its
    last durable batch and the named instance (or, for RELEASED, another) takes it."""
    try:
        session.execute(_ASSIGN, {"partition": partition, "move_to": move_to})
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot assign partition {partition}: {exc}") from exc


def live_instances(session: Session) -> list[str]:
    """The instances whose heartbeat has not run out."""
    try:
        return [str(r[0]) for r in session.execute(_LIVE).all()]
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot read the instances: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PartitionRow:
    """One partition as the board and `eldercare-hub partitions list` show it."""

    partition: int
    owner: str  # "" when nobody has held it yet
    epoch: int
    remaining_s: float | None  # None when it has no lease row
    move_to: str | None
    homes: int

    @property
    def held(self) -> bool:
        """True while its owner's lease runs."""
        return self.remaining_s is not None and self.remaining_s > 0 and bool(self.owner)


def home_codes(session: Session) -> list[tuple[int, str]]:
    """(id, code) of every home in the register."""
    try:
        return [(int(i), str(c)) for i, c in session.execute(select(Home.id, Home.code)).all()]
    except SQLAlchemyError as exc:
        raise RegisterError(f"cannot read the homes: {exc}") from exc


def partition_rows(session: Session, partitions: int) -> list[PartitionRow]:
    """Every partition 0…`partitions`-1: its lease (if any) and how many homes fall into it."""
    counts = [0] * partitions
    for _, code in home_codes(session):
        counts[partition_of(code, partitions)] += 1
    leases: dict[int, LeaseState] = {}
    if session.get_bind().dialect.name == "postgresql":  # SQLite: one process, no leases
        try:
            rows = session.execute(_STATE).all()
        except SQLAlchemyError as exc:
            raise RegisterError(f"cannot read the leases: {exc}") from exc
        leases = {int(r[0]): LeaseState(int(r[0]), str(r[1]), int(r[2]), float(r[3]), r[4]) for r in rows}
    out = []
    for p in range(partitions):
        lease = leases.get(p)
        out.append(
            PartitionRow(
                p,
                lease.owner if lease else "",
                lease.epoch if lease else 0,
                lease.remaining_s if lease else None,
                lease.move_to if lease else None,
                counts[p],
            )
        )
    return out
