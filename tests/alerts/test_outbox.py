"""The outbox queues each idempotency key once, however the messages arrive (one by one or a step at a time)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from hub.alerts.outbox import PENDING, Entry, enqueue, enqueue_all
from hub.alerts.tables import OutboxMessage
from tests.alerts.site import make_alert_site
from tests.alerts.world import T0


def _entry(key: str, text: str, phone: str = "13900000001") -> Entry:
    return Entry(
        None, key, "act", "visitor", "王探访", phone, "sms", text, T0, template="sos", params={"n": "1"}
    )


def test_a_batch_adds_each_new_key_once_and_leaves_a_queued_one_alone(tmp_path: Path) -> None:
    sessions = make_alert_site(tmp_path)
    with sessions.begin() as session:
        assert enqueue(
            session,
            alert_id=None,
            key="k-old",
            purpose="act",
            role="visitor",
            name="王探访",
            address="13900000001",
            route="sms",
            text="已排队",
            at=T0,
        )
    with sessions.begin() as session:
        added = enqueue_all(
            session,
            [
                _entry("k-new", "第一条"),
                _entry("k-new", "同一键的第二条", "13900000002"),  # the same key again in one step
                _entry("k-old", "再发一次"),  # queued in an earlier transaction
                _entry("k-other", "另一条", "13900000003"),
            ],
        )
    assert added == 2
    with sessions() as session:
        rows = {r.idempotency_key: r for r in session.scalars(select(OutboxMessage))}
    assert {k: (r.text, r.address, r.status) for k, r in rows.items()} == {
        "k-old": ("已排队", "13900000001", PENDING),
        "k-new": ("第一条", "13900000001", PENDING),
        "k-other": ("另一条", "13900000003", PENDING),
    }
    assert rows["k-new"].template == "sos" and rows["k-new"].params == '{"n": "1"}'
