"""Persisting alert candidates: open a new alert, or count a repeat on the active one, with a timeline."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts.errors import AlertError
from hub.alerts.model import AlertCandidate, AlertState
from hub.register.models import Alert, AlertEvent


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


def apply_candidate(
    session: Session, home_ids: Mapping[str, int], cand: AlertCandidate
) -> AlertChange | None:
    """Open or repeat the alert for `cand` inside the caller's transaction.

    A cancel with no active alert is still recorded (as a closed, cancelled alert) so it is never lost.
    """
    try:
        home_id = home_ids[cand.home]
    except KeyError as exc:
        raise AlertError(f"home {cand.home!r} is not in the register") from exc
    alert = session.scalars(select(Alert).where(Alert.active_key == cand.dedup_key)).one_or_none()
    if cand.cancel:
        if alert is None:
            alert = _new_alert(session, home_id, cand)
            alert.count = 0
        alert.state = AlertState.CANCELLED
        alert.active_key = None
        alert.closed_at = cand.at
        alert.last_seen_at = max(alert.last_seen_at, cand.at)
        session.add(AlertEvent(alert=alert, at=cand.at, event="cancelled", detail=cand.explanation))
        session.flush()
        return AlertChange(
            alert.id, cand.home, cand.kind, alert.severity, False, True, alert.count, cand.explanation
        )
    if alert is None:
        alert = _new_alert(session, home_id, cand)
        session.add(AlertEvent(alert=alert, at=cand.at, event="opened", detail=cand.explanation))
        session.flush()
        return AlertChange(alert.id, cand.home, cand.kind, alert.severity, True, False, 1, cand.explanation)
    alert.count += 1
    alert.last_seen_at = max(alert.last_seen_at, cand.at)
    session.add(AlertEvent(alert=alert, at=cand.at, event="repeated", detail=f"第 {alert.count} 次"))
    session.flush()
    return AlertChange(
        alert.id, cand.home, cand.kind, alert.severity, False, False, alert.count, cand.explanation
    )


def _new_alert(session: Session, home_id: int, cand: AlertCandidate) -> Alert:
    alert = Alert(
        home_id=home_id,
        kind=cand.kind,
        severity=str(cand.severity),
        alert_class=cand.alert_class,
        state=AlertState.OPEN,
        active_key=cand.dedup_key,
        device_code=cand.device,
        explanation=cand.explanation,
        count=1,
        opened_at=cand.at,
        last_seen_at=cand.at,
    )
    session.add(alert)
    return alert


def alert_to_dict(alert: Alert, home_code: str) -> dict[str, object]:
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


def list_alerts(session: Session, *, active_only: bool = False, limit: int = 500) -> list[dict[str, object]]:
    """Newest alerts first, as dicts."""
    from hub.register.models import Home

    stmt = select(Alert, Home.code).join(Home, Alert.home_id == Home.id)
    if active_only:
        stmt = stmt.where(Alert.active_key.is_not(None))
    stmt = stmt.order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(limit)
    return [alert_to_dict(a, code) for a, code in session.execute(stmt).all()]
