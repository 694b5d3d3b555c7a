"""How `bench/rules_quality.py` counts: pages, not alerts (issue 11, "How it is judged")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.rules_quality import elder_check_wait_s, score
from hub.models import AlertCandidate, Severity
from hub.sim.site import simulated_site
from tests.rules.traffic import Episode, Fault, Incident, Traffic


def _alert(home: str, kind: str, at_h: float, traffic: Traffic, **kw: object) -> AlertCandidate:
    return AlertCandidate(
        home,
        kind,
        kw.pop("severity", Severity.URGENT),  # type: ignore[arg-type]
        traffic.start + timedelta(hours=at_h),
        "",
        "",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def traffic() -> Traffic:
    t = Traffic(simulated_site(2, 1), [], days=28)
    day = 24.0
    t.incidents.append(
        Incident(
            "H001", "collapse_day", t.start + timedelta(hours=20 * day), t.start + timedelta(hours=21 * day)
        )
    )
    t.faults.append(
        Fault(
            "H002", "dead_battery", t.start + timedelta(hours=16 * day), t.start + timedelta(hours=27 * day)
        )
    )
    t.episodes.append(
        Episode(
            "H001", "outing", t.start + timedelta(hours=17 * day), t.start + timedelta(hours=17 * day + 5)
        )
    )
    t.unable_to_answer = {"H002"}
    return t


def test_a_check_call_the_elder_answers_is_not_a_page_and_an_unanswered_one_pages_after_the_wait(
    traffic: Traffic,
) -> None:
    day = 24.0
    alerts = [
        # The collapse: an elder check nobody answers, so the page goes out after the wait.
        _alert("H001", "inactivity", 20 * day + 2, traffic, check_first=True),
        # After an outing, the elder is fine: a check call, answered; nobody is paged.
        _alert("H001", "quiet_gap", 17 * day + 6, traffic, check_first=True),
        # The same rule where the elder cannot answer the phone: a page, and a false one.
        _alert("H002", "routine_late", 15 * day, traffic, check_first=True),
        # Before learning (day 14) nothing counts as a false page.
        _alert("H001", "inactivity", 5 * day, traffic),
        # Info notices and device alerts are reported apart.
        _alert("H001", "away_overdue", 18 * day, traffic, severity=Severity.INFO, alert_class="notice"),
        _alert("H002", "low_water_day", 18 * day, traffic, severity=Severity.INFO),
    ]
    figures = score(traffic, alerts)
    assert figures["recall"] == {"collapse_day": 1.0}
    wait_h = elder_check_wait_s() / 3600
    assert elder_check_wait_s() == 600
    assert figures["median_delay_h"] == pytest.approx(2 + wait_h)
    assert figures["p95_delay_h"] == pytest.approx(2 + wait_h)
    home_days = 2 * (28 - 14)
    assert figures["false_pages_per_100_home_days"] == pytest.approx(100 * 1 / home_days)
    assert figures["false_pages"] == {"routine_late←none": 1}
    assert figures["checks_per_100_home_days"] == pytest.approx(100 * 2 / home_days)
    assert figures["notices"] == 2
    # A page raised straight away is not delayed by the wait.
    direct = score(traffic, [_alert("H001", "inactivity", 20 * day + 2, traffic)])
    assert direct["median_delay_h"] == pytest.approx(2)


def test_device_faults_reported_as_elder_alerts_and_faults_detected(traffic: Traffic) -> None:
    day = 24.0
    alerts = [
        # The dying sensor's home: an elder alert (a check, even) while the fault lasts is a misreport …
        _alert("H002", "quiet_gap", 17 * day, traffic, check_first=True),
        _alert("H002", "inactivity", 18 * day, traffic),
        # … and the device alert is the fault detected.
        _alert("H002", "battery_low", 16 * day + 1, traffic, severity=Severity.WARNING, alert_class="device"),
    ]
    figures = score(traffic, alerts)
    assert (figures["faults_misreported"], figures["faults"]) == (1, 1)
    assert (figures["faults_detected"], figures["repair_faults"]) == (1, 1)
    assert score(traffic, [])["faults_detected"] == 0
    # A false page after an outing is put down to it.
    after_outing = score(traffic, [_alert("H001", "quiet_gap", 17 * day + 7, traffic)])
    assert after_outing["false_pages"] == {"quiet_gap←outing": 1}


def test_an_alarm_a_day_after_an_sos_the_elder_was_fine_after_is_a_false_page(traffic: Traffic) -> None:
    # The SOS was answered within the hour; the elder was fine after it.
    sos_at = traffic.start + timedelta(days=18)
    traffic.incidents.append(Incident("H001", "sos", sos_at, sos_at + timedelta(hours=1)))
    alerts = [
        _alert("H001", "sos", 18 * 24, traffic, severity=Severity.CRITICAL),
        _alert("H001", "inactivity", 18 * 24 + 20, traffic),  # 20 h later, nothing to do with it
    ]
    figures = score(traffic, alerts)
    assert figures["recall"]["sos"] == 1.0
    assert figures["false_pages"] == {"inactivity←none": 1}
