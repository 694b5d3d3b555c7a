"""Persisting alert candidates: open a new alert, or count a repeat on the active one, with a timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hub.alerts.errors import AlertError
from hub.alerts.model import AlertState
from hub.models import AlertCandidate
from hub.register.models import Alert, AlertEvent

# Seconds within which the same alert raised again is the same press, not a new one: a radio burst, a retry.
SAME_PRESS_S = 2.0


@dataclass(frozen=True, slots=True)
class AlertChange:
    """What applying a candidate did, for notifications after the transaction commits."""

    alert_id: int
    home: str
    kind: str
    severity: str
    opened: bool  # True: a new alert; False: a repeat or cancel on an existing one
    cancelled: bool
    count: int
    explanation: str


def apply_candidates(
    session: Session, home_ids: Mapping[str, int], groups: Sequence[Sequence[AlertCandidate]]
) -> list[AlertChange]:
    """Open alerts or count repeats for groups of same-key candidates, inside the caller's transaction.

    Each group holds candidates of one dedup key in order (see `group_repeats`); a cancel is a group of one.
    A cancel with no active alert is still recorded (as a closed, cancelled alert) so it is never lost.
    Core statements, one SELECT for the whole batch: the ORM unit of work cost more than the rest of ingest.
    """
    keys = {g[0].dedup_key for g in groups}
    active: dict[str, dict[str, Any]] = {
        row.active_key: {"id": row.id, "count": row.count, "severity": row.severity, "last": row.last_seen_at}
        for row in session.execute(
            select(Alert.id, Alert.active_key, Alert.count, Alert.severity, Alert.last_seen_at).where(
                Alert.active_key.in_(keys)
            )
        )
    }
    events: list[dict[str, Any]] = []
    changes: list[AlertChange] = []
    for group in groups:
        cand = group[0]
        key = cand.dedup_key
        state = active.get(key)
        if cand.cancel:
            if state is None:
                state = _insert(session, home_ids, cand, AlertState.CANCELLED, count=0, closed=True)
            else:
                session.execute(
                    update(Alert)
                    .where(Alert.id == state["id"])
                    .values(
                        state=AlertState.CANCELLED,
                        active_key=None,
                        closed_at=cand.at,
                        last_seen_at=max(state["last"], cand.at),
                    )
                )
                del active[key]
            events.append(
                {"alert_id": state["id"], "at": cand.at, "event": "cancelled", "detail": cand.explanation}
            )
            changes.append(
                AlertChange(
                    state["id"],
                    cand.home,
                    cand.kind,
                    state["severity"],
                    False,
                    True,
                    state["count"],
                    cand.explanation,
                )
            )
            continue
        opened = state is None
        if state is None:
            state = active[key] = _insert(session, home_ids, cand, AlertState.OPEN, count=1, closed=False)
            events.append(
                {"alert_id": state["id"], "at": cand.at, "event": "opened", "detail": cand.explanation}
            )
            more = same_press_merged(group[1:], cand.at)
        else:
            more = same_press_merged(group, state["last"])
            if not more:  # only the repeats of a press already counted: nothing to tell anyone
                latest = max(c.at for c in group)
                if latest > state["last"]:
                    state["last"] = latest
                    session.execute(update(Alert).where(Alert.id == state["id"]).values(last_seen_at=latest))
                continue
        if more:
            state["count"] += len(more)
            state["last"] = max(state["last"], *(c.at for c in more))
            session.execute(
                update(Alert)
                .where(Alert.id == state["id"])
                .values(count=state["count"], last_seen_at=state["last"])
            )
            batch = "" if len(more) == 1 else f"（本批 {len(more)} 次）"
            events.append(
                {
                    "alert_id": state["id"],
                    "at": more[-1].at,
                    "event": "repeated",
                    "detail": f"累计第 {state['count']} 次{batch}",
                }
            )
        changes.append(
            AlertChange(
                state["id"],
                cand.home,
                cand.kind,
                state["severity"],
                opened,
                False,
                state["count"],
                cand.explanation,
            )
        )
    if events:
        session.execute(insert(AlertEvent), events)
    return changes


def same_press_merged(candidates: Sequence[AlertCandidate], last: datetime) -> list[AlertCandidate]:
    """The candidates that are new presses: one within `SAME_PRESS_S` of the press before it is that press again.

    A 433 MHz button sends its code 4–20 times per press, and a Zigbee or MQTT retry can repeat a message; the
    elder pressed once, and "第5次按下" would send people a wrong picture (and re-notify them).
    """
    presses: list[AlertCandidate] = []
    for cand in candidates:
        if (cand.at - last).total_seconds() > SAME_PRESS_S:
            presses.append(cand)
        last = max(last, cand.at)
    return presses


def _insert(
    session: Session,
    home_ids: Mapping[str, int],
    cand: AlertCandidate,
    state: AlertState,
    *,
    count: int,
    closed: bool,
) -> dict[str, Any]:
    try:
        home_id = home_ids[cand.home]
    except KeyError as exc:
        raise AlertError(f"home {cand.home!r} is not in the register") from exc
    alert_id = session.execute(
        insert(Alert).returning(Alert.id),
        {
            "home_id": home_id,
            "kind": cand.kind,
            "severity": str(cand.severity),
            "alert_class": cand.alert_class,
            "check_first": cand.check_first,
            "state": state,
            "active_key": None if closed else cand.dedup_key,
            "device_code": cand.device,
            "explanation": cand.explanation,
            "count": count,
            "opened_at": cand.at,
            "last_seen_at": cand.at,
            "closed_at": cand.at if closed else None,
        },
    ).scalar_one()
    return {"id": alert_id, "count": count, "severity": str(cand.severity), "last": cand.at}


def alert_to_dict(alert: Alert, home_code: str) -> dict[str, Any]:
    """The API/CLI shape of an alert."""
    return {
        "id": alert.id,
        "home": home_code,
        "kind": alert.kind,
        "severity": alert.severity,
        "class": alert.alert_class,
        "state": alert.state,
        "count": alert.count,
        "device": alert.device_code,
        "explanation": alert.explanation,
        "opened_at": alert.opened_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
    }


def list_alerts(session: Session, *, active_only: bool = False, limit: int = 500) -> list[dict[str, Any]]:
    """Newest alerts first, as dicts."""
    from hub.register.models import Home

    stmt = select(Alert, Home.code).join(Home, Alert.home_id == Home.id)
    if active_only:
        stmt = stmt.where(Alert.active_key.is_not(None))
    stmt = stmt.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)
    return [alert_to_dict(a, code) for a, code in session.execute(stmt).all()]
