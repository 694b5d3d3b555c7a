"""The alerts as the web shows them: within the caller's jurisdiction, with place, acceptance and chain state.

One query (`scoped_alerts`) serves the alert list (``GET /api/v1/alerts``), an alert's timeline and the live
board over server-sent events, so the three always agree on order and on what each row says.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session

from hub.alerts.escalation import EXHAUSTED
from hub.alerts.store import alert_to_dict
from hub.alerts.tables import Escalation
from hub.care.idcard import mask_phones
from hub.register.models import Alert, Elder, Home
from hub.register.site import local_address


def scoped_alerts(
    session: Session, scope: Any, *, active_only: bool = False, limit: int = 500, alert_id: int | None = None
) -> list[dict[str, Any]]:
    """Alerts within `scope`, each with its home's place, who accepted it and whether its chain ran out.

    Exhausted alerts (nobody accepted after the whole chain) come first, then the other active ones, then
    the closed; newest first within each. The order is the database's, so `limit` never cuts off an
    exhausted or active alert in favour of a newer closed one.
    """
    exhausted = and_(Escalation.status == EXHAUSTED, Alert.active_key.is_not(None))
    rank = case((exhausted, 0), (Alert.active_key.is_not(None), 1), else_=2)
    stmt = (
        select(Alert, Home)
        .join(Home, Alert.home_id == Home.id)
        .outerjoin(Escalation, Escalation.alert_id == Alert.id)
    )
    if active_only:
        stmt = stmt.where(Alert.active_key.is_not(None))
    if alert_id is not None:
        stmt = stmt.where(Alert.id == alert_id)
    if scope.home_ids is not None:
        stmt = stmt.where(Alert.home_id.in_(scope.home_ids))
    if scope.device_only:
        stmt = stmt.where(Alert.alert_class == "device")
    rows = session.execute(stmt.order_by(rank, Alert.opened_at.desc(), Alert.id.desc()).limit(limit)).all()
    ids = [a.id for a, _ in rows]
    escalations = {
        alert_id: (responder, status, note)
        for alert_id, responder, status, note in session.execute(
            select(Escalation.alert_id, Escalation.responder, Escalation.status, Escalation.note).where(
                Escalation.alert_id.in_(ids)
            )
        )
    }
    elders: dict[int, list[str]] = {}
    if not scope.device_only:
        for home_id, code, name in session.execute(
            select(Elder.home_id, Elder.code, Elder.name).where(Elder.home_id.in_({h.id for _, h in rows}))
        ):
            elders.setdefault(home_id, []).append(f"{name}（{code}）")
    out = []
    for alert, home in rows:
        responder, status, note = escalations.get(alert.id, ("", "", ""))
        item = alert_to_dict(alert, home.code)
        item |= {
            "address": home.address,
            "address_local": local_address(home.address, home.district, home.street, home.community),
            "street": home.street,
            "community": home.community,
            # An SMS acceptance from a number without a name records the number: masked like the elder page.
            "accepted_by": mask_phones(responder),
            # The chain ran out without an acceptance: the board shows it red, at the top.
            "exhausted": status == EXHAUSTED and alert.active_key is not None,
            "escalation_note": note if alert.active_key is not None else "",
            "elders": elders.get(home.id, []),
        }
        out.append(item)
    return out
