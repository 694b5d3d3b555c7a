"""A register with the alert site and an escalator on a frozen clock, for the escalation tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hub.alerts.escalation import Escalator
from hub.alerts.settings import AlertsConfig
from hub.alerts.tables import OutboxMessage
from hub.clock import FrozenClock
from hub.ingest.register_writer import RegisterWriter
from hub.models import AlertCandidate, Severity
from hub.register.models import AlertEvent
from tests.alerts.site import make_alert_site

T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)  # 14:00 local


class World:
    """A register with the alert site, an escalator on a frozen clock and a writer that uses its hook."""

    def __init__(self, tmp: Path, url: str | None = None, **config: object) -> None:
        self.sessions: sessionmaker[Session] = make_alert_site(tmp, url)
        self.clock = FrozenClock(T0)
        self.config = AlertsConfig.model_validate({"poll_s": 0.01, **config})
        self.escalator = Escalator(self.config, self.clock)
        self.writer = RegisterWriter(self.sessions, on_alert_changes=self.escalator.on_alert_changes)

    def raise_alert(
        self, kind: str = "sos", severity: Severity = Severity.CRITICAL, cls: str = "elder"
    ) -> int:
        cand = AlertCandidate("H001", kind, severity, self.clock.now(), f"H001-{kind}", f"{kind} 报警", cls)
        [change] = self.writer.commit([], [cand], {}, self.clock.now())
        self.fire()  # the worker's first pass, which the commit wakes at once
        return change.alert_id

    def outbox(self, **where: object) -> list[OutboxMessage]:
        with self.sessions() as s:
            stmt = select(OutboxMessage).order_by(OutboxMessage.id)
            for k, v in where.items():
                stmt = stmt.where(getattr(OutboxMessage, k) == v)
            return list(s.scalars(stmt))

    def events(self, alert_id: int) -> list[str]:
        with self.sessions() as s:
            return list(
                s.scalars(
                    select(AlertEvent.event).where(AlertEvent.alert_id == alert_id).order_by(AlertEvent.id)
                )
            )

    def fire(self) -> None:
        with self.sessions.begin() as s:
            self.escalator.fire_due(s, self.clock.now())
