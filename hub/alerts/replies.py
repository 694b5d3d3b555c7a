"""Acceptance by SMS or keypress: match a reply to the alert it answers, never to the wrong one.

A reply from an elder whose wellbeing check is pending answers that check (hub.alerts.elder_check).
Otherwise "1" accepts the only alert the sender was asked about; with several, the reply must name the code
("1 A37"). Anything unmatched or ambiguous is answered with a message that says so and changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.alerts import elder_check, lifecycle
from hub.alerts.errors import AlertError
from hub.alerts.messages import accepted_reply, alert_code
from hub.alerts.model import ACTIVE_STATES
from hub.alerts.outbox import facts_for, normalise_phone
from hub.alerts.settings import TightenConfig
from hub.alerts.tables import OutboxMessage
from hub.register.models import Alert

_REPLY = re.compile(
    r"^\s*(?:(?P<a>1)\s*[Aa#]?\s*(?P<code>\d+)?|[Aa#]?\s*(?P<code2>\d+)\s+(?P<b>1))\s*[。.!！]?\s*$"
)

HELP = "回复格式：1 加告警编号（如：1 A37）表示“我去处理”。"


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    """What a reply did: the accepted alert (or None) and the answer to send back."""

    alert_id: int | None
    answer: str


def parse_reply(body: str) -> tuple[bool, int | None]:
    """(is an acceptance, the named alert id or None) for a reply text."""
    m = _REPLY.match(body)
    if m is None:
        return False, None
    code = m.group("code") or m.group("code2")
    return True, int(code) if code else None


def asked_alerts(session: Session, phone: str) -> dict[int, str]:
    """Active alerts whose act messages went to `phone` (any format of the number): id → recipient name."""
    want = normalise_phone(phone)
    rows = session.execute(
        select(OutboxMessage.alert_id, OutboxMessage.address, OutboxMessage.name)
        .join(Alert, Alert.id == OutboxMessage.alert_id)
        .where(OutboxMessage.purpose == "act", Alert.state.in_([str(s) for s in ACTIVE_STATES]))
    ).all()
    return {aid: name for aid, addr, name in rows if aid is not None and normalise_phone(addr) == want}


def handle_reply(
    session: Session,
    phone: str,
    body: str,
    *,
    via: str,
    at: datetime,
    tighten: TightenConfig | None = None,
) -> ReplyOutcome:
    """Apply an SMS/keypress reply from `phone` inside the caller's transaction; return the answer."""
    checks = elder_check.pending_checks(session, phone)
    if checks:  # the elder answering the wellbeing check: "1" = I am fine, anything else = send someone
        settled = elder_check.answer(session, checks, body, via=via, at=at, tighten=tighten)
        return ReplyOutcome(settled.alert_ids[0], settled.answer)
    if not asked_alerts(session, phone):  # not in any chain: perhaps an elder answering a finished check
        late = elder_check.late_answer(session, phone, body, via=via, at=at)
        if late is not None:
            return ReplyOutcome(late.alert_ids[0], late.answer)
    accept, alert_id = parse_reply(body)
    if not accept:
        return ReplyOutcome(None, f"未能识别您的回复“{body.strip()[:20]}”。{HELP}")
    asked = asked_alerts(session, phone)
    if not asked:
        return ReplyOutcome(None, "没有找到需要您处理的告警（可能已处理或已取消），本条回复未生效。")
    if alert_id is None:
        if len(asked) > 1:
            codes = "、".join(alert_code(a) for a in sorted(asked))
            return ReplyOutcome(
                None,
                f"您有{len(asked)}条待处理告警（{codes}），请回复1加编号，如：1 {alert_code(min(asked))}",
            )
        alert_id = next(iter(asked))
    elif alert_id not in asked:
        return ReplyOutcome(None, f"编号{alert_code(alert_id)}不是发给您的待处理告警，本条回复未生效。{HELP}")
    by = asked[alert_id] or phone
    try:
        alert = lifecycle.acknowledge(session, alert_id, by=by, via=via, at=at)
    except AlertError as exc:
        return ReplyOutcome(None, str(exc).split(" (")[0] + "，谢谢。")
    return ReplyOutcome(alert_id, accepted_reply(facts_for(session, alert), by))
