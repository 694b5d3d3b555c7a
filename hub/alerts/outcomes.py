"""The outcomes a resolved alert carries, as a fixed vocabulary, and which of them were false alarms.

Every resolve records one of these codes (the API, board, CLI and visit records map onto them); free text
of older clients is kept as the note and counted as `other` (其他). The false-alarm rate of a rule for a
home is (elder_ok + visit_ok) over every resolved alert of that kind there.
"""

from __future__ import annotations

ELDER_OK = "elder_ok"
VISIT_OK = "visit_ok"
REAL_DANGER = "real_danger"
DEVICE_FAULT = "device_fault"
OTHER = "other"

# Code → Chinese label, in the order the board's resolve dialog offers them.
OUTCOMES: dict[str, str] = {
    ELDER_OK: "老人自报平安",
    VISIT_OK: "探访确认无事",
    REAL_DANGER: "确有险情",
    DEVICE_FAULT: "设备故障",
    OTHER: "其他",
}

# Outcomes meaning the elder was fine: the alert was a false alarm.
FALSE_ALARM = frozenset({ELDER_OK, VISIT_OK})


def outcome_code(text: str) -> str:
    """The code for `text`: a code itself, or its Chinese label; anything else is `other`."""
    value = text.strip()
    if value in OUTCOMES:
        return value
    for code, label in OUTCOMES.items():
        if value == label:
            return code
    return OTHER
