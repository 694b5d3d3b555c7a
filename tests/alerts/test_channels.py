"""Each channel against a real peer: a local Twilio, a modem on a pseudo-terminal, robots checking signatures."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from twilio.request_validator import RequestValidator

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.dingtalk import DingTalkRobot
from hub.alerts.channels.gsm import GsmModem, split_parts
from hub.alerts.channels.log import LogNotifier
from hub.alerts.channels.twilio import TwilioChannels
from hub.alerts.channels.webhook import JsonWebhook
from hub.alerts.channels.wecom import WeComRobot
from hub.alerts.settings import GsmConfig, RobotConfig, TwilioConfig
from tests.alerts.fake_modem import FakeModem
from tests.alerts.fakes import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeRobot, FakeTwilio

CHINESE = "【居家监护】张秀英紧急呼叫告警 11月28日14:05：按下紧急呼叫按钮，地址渝北区紫薇社区3栋401。危及生命请先拨120。回复1 A7接单"


def note(text: str = CHINESE, recipient: str = "13900000001") -> Notification:
    return Notification(7, recipient, text, "a7-r0-s0-sms-13900000001", outbox_id=11)


# -- the log ------------------------------------------------------------------------------------------


async def test_the_log_channel_writes_every_notification_with_the_phone_numbers_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = LogNotifier()
    text = CHINESE + " 联系人李明 13812345678"
    with caplog.at_level(logging.WARNING, logger="hub.alerts.notify"):
        await log.notify(note(text, recipient="13900000001"))

    [line] = [r.getMessage() for r in caplog.records if r.name == "hub.alerts.notify"]
    assert "13900000001" not in line and "13812345678" not in line
    assert "139****0001" in line and "138****5678" in line
    assert "通知 7 → " in line and "张秀英紧急呼叫告警" in line and "回复1 A7接单" in line
    assert log.sent[-1].recipient == "13900000001"  # the channel itself keeps what it was given


# -- Twilio ------------------------------------------------------------------------------------------


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilio, TwilioChannels]]:
    async with FakeTwilio() as fake:
        cfg = TwilioConfig(
            account_sid=ACCOUNT_SID, from_number=FROM_NUMBER, api_base=fake.url, auth_token=AUTH_TOKEN
        )
        async with TwilioChannels(cfg, "https://hub.example.cn") as channels:
            yield fake, channels


async def test_twilio_sms_posts_the_wire_format_and_returns_the_sid(
    twilio: tuple[FakeTwilio, TwilioChannels],
) -> None:
    fake, channels = twilio
    sid = await channels.sms.notify(note())
    [form] = fake.sms()
    assert sid.startswith("SM")
    assert form["To"] == "+8613900000001" and form["From"] == FROM_NUMBER and form["Body"] == CHINESE
    assert form["StatusCallback"] == "https://hub.example.cn/api/v1/alerts/twilio/status?outbox=11"


async def test_twilio_call_speaks_chinese_and_gathers_one_digit(
    twilio: tuple[FakeTwilio, TwilioChannels],
) -> None:
    fake, channels = twilio
    await channels.voice.notify(note("居家监护紧急通知。张秀英，紧急呼叫告警。"))
    [form] = fake.calls()
    twiml = form["Twiml"]
    assert '<Say language="zh-CN">居家监护紧急通知。张秀英' in twiml
    assert '<Gather numDigits="1"' in twiml
    assert 'action="https://hub.example.cn/api/v1/alerts/twilio/voice?outbox=11"' in twiml


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(500, 20500, True), (429, 20429, True), (400, 21211, False), (400, 21610, False)],
)
async def test_twilio_errors_are_classified(
    twilio: tuple[FakeTwilio, TwilioChannels], status: int, code: int, retryable: bool
) -> None:
    fake, channels = twilio
    fake.fail_with = (status, code)
    with pytest.raises(NotifyError) as err:
        await channels.sms.notify(note())
    assert err.value.retryable is retryable and str(code) in str(err.value)


async def test_twilio_unreachable_is_retryable() -> None:
    cfg = TwilioConfig(
        account_sid=ACCOUNT_SID, from_number=FROM_NUMBER, api_base="http://127.0.0.1:9", auth_token=AUTH_TOKEN
    )
    async with TwilioChannels(cfg, "") as channels:
        with pytest.raises(NotifyError) as err:
            await channels.sms.notify(note())
    assert err.value.retryable


def test_twilio_channels_load_the_api_before_the_first_send() -> None:
    """The library imports its message and call modules on first use (tens of ms): entering the channels,
    at start or takeover, must do it, so that the first SOS afterwards does not wait for it. A fresh
    interpreter, because any earlier test here has imported them already; the provider is unreachable,
    so entering must send nothing."""
    script = f"""
import asyncio, sys
from hub.alerts.channels.twilio import TwilioChannels
from hub.alerts.settings import TwilioConfig
wanted = ("twilio.rest.api.v2010.account.message", "twilio.rest.api.v2010.account.call")
cfg = TwilioConfig(account_sid={ACCOUNT_SID!r}, from_number={FROM_NUMBER!r}, api_base="http://127.0.0.1:9",
                   auth_token={AUTH_TOKEN!r})
async def main():
    before = [m in sys.modules for m in wanted]
    async with TwilioChannels(cfg, ""):
        print(before, [m in sys.modules for m in wanted])
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.split() == ["[False,", "False]", "[True,", "True]"], out.stdout + out.stderr


def test_twilio_signature_matches_the_documented_vector() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    validator = RequestValidator("12345")
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert validator.compute_signature(url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert validator.validate(url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not validator.validate(url, {**params, "Digits": "1"}, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


# -- GSM modem ---------------------------------------------------------------------------------------


@pytest.fixture
def modem() -> Iterator[FakeModem]:
    fake = FakeModem()
    yield fake
    fake.close()


async def test_modem_sends_chinese_as_ucs2_split_at_70(modem: FakeModem) -> None:
    async with GsmModem(GsmConfig(url=modem.path, command_timeout_s=5)) as gsm:
        ref = await gsm.notify(note())
    assert len(CHINESE) > 70
    assert modem.sent == [("13900000001", part) for part in split_parts(CHINESE, 70)]
    assert [len(p) for _, p in modem.sent] == [70, len(CHINESE) - 70]
    assert 'AT+CSCS="UCS2"' in modem.commands and "AT+CSMP=17,167,0,8" in modem.commands
    assert "AT+CMGF=1" in modem.commands and ref == "2"


async def test_modem_sends_ascii_in_text_mode(modem: FakeModem) -> None:
    async with GsmModem(GsmConfig(url=modem.path, command_timeout_s=5)) as gsm:
        await gsm.notify(note("SOS H001 reply 1 A7"))
    assert modem.sent == [("13900000001", "SOS H001 reply 1 A7")]


@pytest.mark.parametrize(("code", "retryable"), [(331, True), (332, True), (310, False), (330, False)])
async def test_modem_cms_errors_are_classified(modem: FakeModem, code: int, retryable: bool) -> None:
    modem.cms_error = code
    async with GsmModem(GsmConfig(url=modem.path, command_timeout_s=5)) as gsm:
        with pytest.raises(NotifyError) as err:
            await gsm.notify(note())
    assert err.value.retryable is retryable and f"+CMS ERROR: {code}" in str(err.value)


async def test_modem_reads_an_incoming_sms(modem: FakeModem) -> None:
    got: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def on_sms(sender: str, body: str) -> None:
        await got.put((sender, body))

    async with GsmModem(GsmConfig(url=modem.path, command_timeout_s=5), on_sms=on_sms):
        modem.deliver("+8613900000001", "1 A7")
        sender, body = await asyncio.wait_for(got.get(), 10)
    assert (sender, body) == ("+8613900000001", "1 A7")
    assert "AT+CMGR=3" in modem.commands and "AT+CMGD=3" in modem.commands and not modem.inbox


# -- robots ------------------------------------------------------------------------------------------


@pytest.fixture
async def robots() -> AsyncIterator[FakeRobot]:
    async with FakeRobot() as fake:
        yield fake


async def test_wecom_robot_mentions_the_mobile(robots: FakeRobot) -> None:
    cfg = RobotConfig(url=f"{robots.url}/cgi-bin/webhook/send", token=robots.wecom_key)
    async with WeComRobot(cfg) as robot:
        await robot.notify(note())
    [(_, body, _)] = robots.received
    assert body == {"msgtype": "text", "text": {"content": CHINESE, "mentioned_mobile_list": ["13900000001"]}}


async def test_wecom_rate_limit_is_retryable(robots: FakeRobot) -> None:
    robots.errcode = 45009
    cfg = RobotConfig(url=f"{robots.url}/cgi-bin/webhook/send", token=robots.wecom_key)
    async with WeComRobot(cfg) as robot:
        with pytest.raises(NotifyError) as err:
            await robot.notify(note())
    assert err.value.retryable


async def test_dingtalk_signature_is_accepted_and_a_wrong_secret_is_not(robots: FakeRobot) -> None:
    good = RobotConfig(
        url=f"{robots.url}/robot/send", token=robots.dingtalk_token, secret=robots.dingtalk_secret
    )
    async with DingTalkRobot(good) as robot:
        await robot.notify(note())
    [(_, body, _)] = robots.received
    assert body["text"] == {"content": CHINESE} and body["at"] == {
        "atMobiles": ["13900000001"],
        "isAtAll": False,
    }
    bad = RobotConfig(url=f"{robots.url}/robot/send", token=robots.dingtalk_token, secret="SECwrong")
    async with DingTalkRobot(bad) as robot:
        with pytest.raises(NotifyError) as err:
            await robot.notify(note())
    assert "310000" in str(err.value) and not err.value.retryable


async def test_webhook_is_hmac_signed(robots: FakeRobot) -> None:
    cfg = RobotConfig(url=f"{robots.url}/hook", secret=robots.webhook_secret)
    async with JsonWebhook(cfg) as hook:
        await hook.notify(note())
    [(_, body, headers)] = robots.received
    assert body["text"] == CHINESE and headers["Idempotency-Key"] == "a7-r0-s0-sms-13900000001"
    wrong = RobotConfig(url=f"{robots.url}/hook", secret="other")
    async with JsonWebhook(wrong) as hook:
        with pytest.raises(NotifyError) as err:
            await hook.notify(note())
    assert "401" in str(err.value) and not err.value.retryable
