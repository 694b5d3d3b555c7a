"""Escalation policies as data: ordered steps (who, which routes, how long to wait) and a repeat count.

A policy is chosen by the elder's tier, the alert's severity and its class (`choose_policy`). A step's
targets are resolved against the register when the step fires (hub.alerts.recipients); a step with several
targets notifies them in parallel (critical alerts: the designated visitor and the family at once).
When the last round ends with nobody accepting, the policy's `exhausted` step is rung again and again on
its own cadence until someone accepts (an unanswered alert never goes quiet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hub.models import Severity

# Who a step reaches; resolved by hub.alerts.recipients.
TARGETS = ("visitor", "family", "responsible", "street", "district", "maintenance")

# Kinds whose every repeat is a person pressing again: each press notifies again, whatever the alert's
# state (a detector that keeps reporting the same smoke is not a new call for help, a button press is).
PRESS_KINDS = frozenset({"sos"})


@dataclass(frozen=True, slots=True)
class Step:
    """One step: notify `targets` over `routes`, then wait `wait_s` for someone to accept."""

    targets: tuple[str, ...]
    routes: tuple[str, ...]
    wait_s: float

    def __post_init__(self) -> None:
        unknown = set(self.targets) - set(TARGETS)
        if unknown:
            raise ValueError(f"unknown escalation target(s) {sorted(unknown)}; known: {TARGETS}")
        if self.wait_s <= 0:
            raise ValueError(f"a step must wait a positive time, got {self.wait_s}")


@dataclass(frozen=True, slots=True)
class Policy:
    """Ordered steps; after the last, the chain starts again `repeat` more times, then `exhausted` rings.

    `exhausted` is who is rung, over which routes and how often, once every round ran out without an
    acceptance; it repeats until someone accepts (`alerts.exhausted_repeat_s` may change the cadence).
    """

    name: str
    steps: tuple[Step, ...]
    exhausted: Step
    repeat: int = 1
    urgent_guidance: bool = False  # the first message carries 120/110 guidance
    quiet_hours: bool = False  # delivery waits out the configured quiet hours
    fyi_family: bool = True  # relatives not in step 0 get an FYI on open, and one on resolve


POLICIES: dict[str, Policy] = {
    p.name: p
    for p in (
        Policy(
            "critical",
            (
                Step(("visitor", "family"), ("sms", "voice"), 180),
                Step(("responsible",), ("sms", "voice"), 180),
                Step(("street",), ("sms", "voice"), 300),
                Step(("district",), ("sms", "voice", "robot"), 600),
            ),
            Step(("district",), ("sms", "voice", "robot"), 300),
            repeat=2,
            urgent_guidance=True,
        ),
        Policy(
            "urgent-key",
            (
                Step(("visitor",), ("sms",), 300),
                Step(("family",), ("sms",), 300),
                Step(("responsible",), ("sms",), 600),
                Step(("street",), ("sms",), 900),
                Step(("district",), ("sms", "robot"), 1800),
            ),
            Step(("district",), ("sms", "robot"), 900),
            repeat=1,
        ),
        Policy(
            "urgent",
            (
                Step(("visitor",), ("sms",), 600),
                Step(("family",), ("sms",), 600),
                Step(("responsible",), ("sms",), 1200),
                Step(("street",), ("sms",), 1800),
                Step(("district",), ("sms", "robot"), 3600),
            ),
            Step(("district",), ("sms", "robot"), 1800),
            repeat=0,
        ),
        Policy(
            "notice",
            (
                Step(("visitor",), ("sms",), 3600),
                Step(("responsible",), ("sms",), 7200),
            ),
            Step(("district",), ("sms",), 4 * 3600),
            repeat=0,
            fyi_family=False,
        ),
        Policy(
            "device",
            (Step(("maintenance",), ("robot", "sms"), 4 * 3600),),
            Step(("maintenance",), ("robot", "sms"), 4 * 3600),
            repeat=1,
            quiet_hours=True,
            fyi_family=False,
        ),
    )
}


def choose_policy(tier: str, severity: str, alert_class: str) -> Policy:
    """The policy for an elder's tier (key/general), an alert's severity and class (elder/device)."""
    if alert_class == "device":
        return POLICIES["device"]
    if severity == Severity.CRITICAL:
        return POLICIES["critical"]
    if severity == Severity.URGENT:
        return POLICIES["urgent-key" if tier == "key" else "urgent"]
    return POLICIES["notice"]


def first_step(check_first: bool, can_answer: bool, has_phone: bool) -> Literal["elder_check", "page"]:
    """Whether an alert begins by asking the elder ("elder_check") or by paging the chain ("page").

    Only an alert whose rule allows it (`check_first`), for a home whose elder can answer a call and has a
    phone number of their own, asks the elder first; everything else pages at once.
    """
    return "elder_check" if check_first and can_answer and has_phone else "page"
