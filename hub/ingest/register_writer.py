"""The register side of a durable batch: quarantined messages, alert candidates and counter state,
written in one transaction (runs in a worker thread; SQLAlchemy sessions are synchronous here)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.store import AlertChange, apply_candidates
from hub.ingest.quarantine import quarantine_row
from hub.models import AlertCandidate, RawMessage
from hub.register.db import retryable
from hub.register.errors import RegisterError
from hub.register.models import CounterState, Home, QuarantinedMessage

LOGGER = logging.getLogger(__name__)
# A batch PostgreSQL rolled back as a deadlock victim is run again this many times before the hub stops.
RETRIES = 3

CounterKey = tuple[str, str]  # (device code, signal)
CounterValue = tuple[float, float]  # (last raw value, offset)


class RegisterWriter:
    """Writes what one batch derived into the register, atomically."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        on_alert_changes: Callable[[Session, list[AlertChange]], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._home_ids: dict[str, int] = {}
        # Runs inside the batch's transaction, so work derived from an alert change (starting its
        # escalation, queueing notifications) is durable exactly when the alert is.
        self._on_alert_changes = on_alert_changes

    def load_counters(self) -> dict[CounterKey, CounterValue]:
        """Counter state persisted by earlier runs, to restore the tracker after a restart."""
        with self._sessions() as session:
            rows = session.scalars(select(CounterState)).all()
            return {(r.device_code, r.signal): (r.last_raw, r.offset) for r in rows}

    def commit(
        self,
        quarantine: Sequence[tuple[RawMessage, str]],
        candidates: Sequence[AlertCandidate],
        counters: Mapping[CounterKey, CounterValue],
        now: datetime,
    ) -> list[AlertChange]:
        """Persist everything in one transaction; return the alert changes for notification.

        A transaction PostgreSQL chose as the victim of a deadlock (the alert worker locks an escalation,
        then its alert; a repeated press here the alert, then its escalation) was rolled back whole: it is
        run again, up to `RETRIES` times, rather than stopping the hub.
        """
        for attempt in range(RETRIES + 1):
            try:
                return self._commit_once(quarantine, candidates, counters, now)
            except RegisterError as exc:
                if attempt == RETRIES or not retryable(exc.__cause__):
                    raise
                LOGGER.warning("登记库事务因死锁被回滚，重试 (deadlock victim, retrying): %s", exc.__cause__)
        raise AssertionError("unreachable")

    def _commit_once(
        self,
        quarantine: Sequence[tuple[RawMessage, str]],
        candidates: Sequence[AlertCandidate],
        counters: Mapping[CounterKey, CounterValue],
        now: datetime,
    ) -> list[AlertChange]:
        try:
            with self._sessions.begin() as session:
                if quarantine:
                    session.execute(
                        insert(QuarantinedMessage), [quarantine_row(m, reason) for m, reason in quarantine]
                    )
                changes: list[AlertChange] = []
                if candidates:
                    home_ids = self._homes(session, {c.home for c in candidates})
                    changes = apply_candidates(session, home_ids, group_repeats(candidates))
                    if self._on_alert_changes is not None and changes:
                        self._on_alert_changes(session, changes)
                if counters:
                    _upsert_counters(session, counters, now)
                return changes
        except SQLAlchemyError as exc:
            raise RegisterError(f"could not persist a batch in the register: {exc}") from exc

    def _homes(self, session: Session, codes: set[str]) -> Mapping[str, int]:
        missing = codes - self._home_ids.keys()
        if missing:
            rows = session.execute(select(Home.code, Home.id).where(Home.code.in_(missing))).all()
            self._home_ids.update({code: hid for code, hid in rows})
        return self._home_ids


def group_repeats(candidates: Sequence[AlertCandidate]) -> list[list[AlertCandidate]]:
    """Candidates of one batch grouped by dedup key, in order; a cancel ends its key's group.

    One register round trip per active alert and batch instead of one per message.
    """
    groups: list[list[AlertCandidate]] = []
    open_group: dict[str, list[AlertCandidate]] = {}
    for cand in candidates:
        if cand.cancel:
            groups.append([cand])
            open_group.pop(cand.dedup_key, None)
            continue
        group = open_group.get(cand.dedup_key)
        if group is None:
            group = open_group[cand.dedup_key] = [cand]
            groups.append(group)
        else:
            group.append(cand)
    return groups


def _upsert_counters(session: Session, counters: Mapping[CounterKey, CounterValue], now: datetime) -> None:
    rows: list[dict[str, Any]] = [
        {"device_code": dev, "signal": sig, "last_raw": raw, "offset": off, "updated_at": now}
        for (dev, sig), (raw, off) in counters.items()
    ]
    dialect = session.get_bind().dialect.name
    # Both SQLite and PostgreSQL speak INSERT … ON CONFLICT; one statement per batch, not a SELECT per row.
    ins = postgresql.insert(CounterState) if dialect == "postgresql" else sqlite.insert(CounterState)
    stmt = ins.on_conflict_do_update(
        index_elements=["device_code", "signal"],
        set_={
            "last_raw": ins.excluded.last_raw,
            "offset": ins.excluded.offset,
            "updated_at": ins.excluded.updated_at,
        },
    )
    session.execute(stmt, rows)
