"""Ask the elder first over the GSM modem: a spoken call that collects a key (modem on a pseudo-terminal,
real register, frozen clock: nothing here waits out the ten minutes of the check)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.alerts.service import AlertService
from hub.alerts.settings import AlertsConfig
from tests.alerts.fake_modem import FakeModem
from tests.alerts.site import VISITOR
from tests.alerts.test_elder_check import ELDER, details, raise_checked, state
from tests.alerts.world import World

PROMPT = "平安请按1"


@asynccontextmanager
async def hub_with(
    tmp_path: Path, modem: FakeModem, family: str = "simcom", ring_timeout_s: float = 45
) -> AsyncIterator[tuple[World, AlertService]]:
    """The alert service with the modem as its only channel; the world's escalator is the service's."""
    w = World(tmp_path)
    gsm = {
        "url": modem.path,
        "voice": family,
        "command_timeout_s": 5,
        "key_timeout_s": 30,
        "ring_timeout_s": ring_timeout_s,
    }
    config = w.config.model_copy(update={"gsm": w.config.gsm.model_validate(gsm)})
    async with AlertService(config, w.sessions, w.clock) as service:
        w.escalator = service.escalator
        yield w, service


async def drive(service: AlertService, done: Callable[[], bool], what: str) -> None:
    """Run the delivery worker until `done()` (the modem's call runs alongside, in its own task)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30  # generous: a loaded machine; never an assertion about speed
    while loop.time() < deadline:
        await service.worker.run_once()
        if done():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"gave up waiting for {what}")


def asked(w: World, alert_id: int) -> str:
    """How the timeline says the elder is being asked."""
    return next(d for e, d in details(w, alert_id) if e == "elder_check")


def texted(modem: FakeModem) -> set[str]:
    """The numbers that got an SMS (in national form)."""
    return {number[-11:] for number, _ in modem.sent}


def paged(modem: FakeModem) -> set[str]:
    """Everybody the modem reached, by SMS or by a call, other than the elder."""
    return (texted(modem) | {n[-11:] for n in modem.calls}) - {ELDER}


@pytest.mark.parametrize("family", ["simcom", "quectel"])
async def test_pressing_1_on_the_modems_call_resolves_and_nobody_is_paged(
    tmp_path: Path, family: str
) -> None:
    modem = FakeModem(voice=family, key="1")
    try:
        async with hub_with(tmp_path, modem, family) as (w, service):
            alert_id = raise_checked(w)
            assert asked(w, alert_id).startswith("先询问老人：电话并短信联系张秀英")
            await drive(
                service, lambda: state(w, alert_id) == "resolved", "the elder's key to resolve the alert"
            )
            await drive(service, lambda: "ATH" in modem.commands, "the call to be hung up")
        assert modem.calls == [ELDER]
        assert PROMPT in modem.spoken[0] and "已记录您平安" in modem.spoken[-1]  # the elder hears the thanks
        assert ("resolved", "张秀英：老人自报平安（经语音按键(GSM)）") in details(w, alert_id)
        assert paged(modem) == set()  # the check SMS went to the elder only; no visitor, no relatives
    finally:
        modem.close()


@pytest.mark.parametrize(
    ("callee", "key", "why"),
    [
        ("answer", "2", "非1"),
        ("busy", None, "电话未接通"),
        ("no answer", None, "电话未接通"),  # the network's NO ANSWER
        ("ring", None, "电话未接通"),  # rings on past the hub's ring timeout (the call list says so)
    ],
)
async def test_another_key_a_busy_line_or_no_answer_pages_the_visitor_at_once(
    tmp_path: Path, callee: str, key: str | None, why: str
) -> None:
    modem = FakeModem(voice="simcom", callee=callee, key=key)
    try:
        async with hub_with(tmp_path, modem, ring_timeout_s=1.5 if callee == "ring" else 45) as (w, service):
            alert_id = raise_checked(w)
            # The clock does not move: the page comes from the call's outcome, not from the check's timer.
            await drive(service, lambda: VISITOR in texted(modem), "the visitor's SMS")
        assert state(w, alert_id) == "notifying"
        failed = [d for e, d in details(w, alert_id) if e == "elder_check_failed"]
        assert len(failed) == 1 and why in failed[0]
        assert modem.calls == [ELDER]  # the visitor is paged by SMS (the urgent policy), nobody rang twice
    finally:
        modem.close()


async def test_a_modem_without_dtmf_detection_asks_by_sms_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    modem = FakeModem(voice=None)  # answers AT+DDET=? with ERROR
    caplog.set_level(logging.INFO)
    try:
        async with hub_with(tmp_path, modem) as (w, service):
            alert_id = raise_checked(w)
            await drive(service, lambda: ELDER in texted(modem), "the check SMS")
            assert any("只发短信" in gap.problem for gap in service.gaps)  # on the board (coverage)
        assert modem.calls == [] and asked(w, alert_id).startswith("先询问老人：短信联系张秀英")
        assert any("仅短信回复1" in r.getMessage() for r in caplog.records)
        assert any("如您平安请回复1" in text for _, text in modem.sent)
    finally:
        modem.close()


async def test_an_sms_arriving_during_the_call_is_still_read(tmp_path: Path) -> None:
    modem = FakeModem(voice="simcom", key=None)  # the elder picks up but presses nothing …
    try:
        async with hub_with(tmp_path, modem) as (w, service):
            alert_id = raise_checked(w)
            await drive(service, lambda: bool(modem.spoken), "the prompt to be spoken")
            modem.deliver("+86" + ELDER, "1")  # … and answers the SMS instead, while the call is up
            await drive(
                service, lambda: state(w, alert_id) == "resolved", "the SMS reply to resolve the alert"
            )
            assert "ATH" not in modem.commands  # still on the call when the SMS was read
        assert ("resolved", "张秀英：老人自报平安（经短信(GSM)）") in details(w, alert_id)
        assert paged(modem) == set()
    finally:
        modem.close()


def test_an_unknown_modem_family_is_refused_naming_the_key() -> None:
    with pytest.raises(ValidationError) as err:
        AlertsConfig.model_validate({"gsm": {"url": "/dev/ttyUSB2", "voice": "huawei"}})
    assert "gsm.voice" in str(err.value) and "simcom" in str(err.value)
