"""Aliyun and Tencent Cloud SMS and voice through their official SDKs, against local endpoints that check the
request signature with the shared secret as the real services do."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from hub.alerts.channels.aliyun import AliyunChannels
from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.tencent import TencentChannels
from hub.alerts.settings import AlertsConfig, AliyunConfig, TencentConfig
from tests.alerts.cn_fakes import (
    ALIYUN_SECRET,
    TENCENT_SECRET_KEY,
    FakeAliyun,
    FakeTencent,
    aliyun_section,
    tencent_section,
)

PARAMS = {
    "elder": "张秀英",
    "kind": "紧急呼叫",
    "time": "11月28日14:05",
    "address": "重庆市渝北区双龙湖街道紫薇社区紫薇路18号3栋2单元401室（进门左转第二户）",
    "detail": "按下紧急呼叫按钮，详情见 https://hub.example.cn/alerts/7 或 www.example.cn",
    "code": "A7",
    "text": "【居家监护】张秀英紧急呼叫告警",
}


def note(kind: str = "sos", recipient: str = "+86 139-0000-0001") -> Notification:
    return Notification(
        7, recipient, PARAMS["text"], "a7-r0-s0-sms-13900000001", outbox_id=11, kind=kind, params=PARAMS
    )


@pytest.fixture
async def aliyun() -> AsyncIterator[tuple[FakeAliyun, AliyunChannels]]:
    async with FakeAliyun() as fake:
        cfg = AliyunConfig.model_validate(
            {**aliyun_section(fake), "access_key_secret": ALIYUN_SECRET, "callback_token": "t0k"}
        )
        async with AliyunChannels(cfg) as channels:
            yield fake, channels


@pytest.fixture
async def tencent() -> AsyncIterator[tuple[FakeTencent, TencentChannels]]:
    async with FakeTencent() as fake:
        cfg = TencentConfig.model_validate(
            {**tencent_section(fake), "secret_key": TENCENT_SECRET_KEY, "callback_token": "t0k"}
        )
        async with TencentChannels(cfg) as channels:
            yield fake, channels


# -- Aliyun ------------------------------------------------------------------------------------------


async def test_aliyun_sms_sends_the_kinds_template_with_cut_link_free_values(
    aliyun: tuple[FakeAliyun, AliyunChannels],
) -> None:
    fake, channels = aliyun
    biz_id = await channels.sms.notify(note())
    [sent] = fake.actions("SendSms")
    assert biz_id.startswith("90000")
    assert sent["PhoneNumbers"] == "13900000001" and sent["SignName"] == "居家监护"
    assert sent["TemplateCode"] == "SMS_sos" and sent["OutId"] == "11"
    values = json.loads(sent["TemplateParam"])
    assert values["elde"] == "张秀英" and values["code"] == "A7"
    # Aliyun: at most 35 characters a variable, and no links in variables.
    assert all(len(v) <= 35 for v in values.values())
    assert values["addr"].startswith("重庆市渝北区") and values["addr"].endswith("…")
    assert "http" not in values["deta"] and "www." not in values["deta"]


async def test_aliyun_wrong_secret_is_refused_by_the_signature_check_and_is_permanent() -> None:
    async with FakeAliyun() as fake:
        cfg = AliyunConfig.model_validate({**aliyun_section(fake), "access_key_secret": "not-the-secret"})
        async with AliyunChannels(cfg) as channels:
            with pytest.raises(NotifyError) as err:
                await channels.sms.notify(note())
    assert "SignatureDoesNotMatch" in str(err.value) and err.value.retryable is False
    assert not fake.received


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", True),  # flow control: try again later
        ("isp.SYSTEM_ERROR", True),
        ("isv.SMS_TEMPLATE_ILLEGAL", False),  # template not approved / not found
        ("isv.SMS_SIGNATURE_ILLEGAL", False),
        ("isv.MOBILE_NUMBER_ILLEGAL", False),
    ],
)
async def test_aliyun_business_codes_are_classified(
    aliyun: tuple[FakeAliyun, AliyunChannels], code: str, retryable: bool
) -> None:
    fake, channels = aliyun
    fake.fail_code = code
    with pytest.raises(NotifyError) as err:
        await channels.sms.notify(note())
    assert code in str(err.value) and err.value.retryable is retryable


async def test_aliyun_call_is_interactive_and_reports_the_key_with_the_outbox_row(
    aliyun: tuple[FakeAliyun, AliyunChannels],
) -> None:
    fake, channels = aliyun
    call_id = await channels.voice.notify(note("check", recipient="023-6666 0000"))
    [call] = fake.actions("IvrCall")
    assert call_id.startswith("11601")
    assert call["CalledNumber"] == "02366660000" and call["CalledShowNumber"] == "02388880000"
    assert call["StartCode"] == "TTS_check" and call["OutId"] == "11"
    assert json.loads(call["StartTtsParams"])["elde"] == "张秀英"
    keys = {call[f"MenuKeyMap.{i}.Key"] for i in (1, 2)}
    assert keys == {"1", "2"} and call["MenuKeyMap.1.Code"] == "TTS_KEY_THANKS"


async def test_aliyun_unreachable_is_retryable() -> None:
    async with FakeAliyun() as fake:
        section = aliyun_section(fake)
    cfg = AliyunConfig.model_validate({**section, "access_key_secret": ALIYUN_SECRET})
    async with AliyunChannels(cfg) as channels:
        with pytest.raises(NotifyError) as err:
            await channels.sms.notify(note())
    assert err.value.retryable is True


# -- Tencent Cloud -----------------------------------------------------------------------------------


async def test_tencent_sms_sends_ordered_values_cut_to_twelve_characters(
    tencent: tuple[FakeTencent, TencentChannels],
) -> None:
    fake, channels = tencent
    serial = await channels.sms.notify(note("resolved"))
    [sent] = fake.actions("SendSms")
    assert serial.startswith("2433:")
    assert sent["PhoneNumberSet"] == ["+8613900000001"] and sent["SmsSdkAppId"] == "1400000001"
    assert sent["SignName"] == "居家监护" and sent["SessionContext"] == "11"
    values = sent["TemplateParamSet"]
    assert values[0] == "张秀英" and values[-1] == "A7" and all(len(v) <= 12 for v in values)
    assert not any("http" in v or "www." in v for v in values)


async def test_tencent_wrong_secret_is_refused_and_is_permanent() -> None:
    async with FakeTencent() as fake:
        cfg = TencentConfig.model_validate({**tencent_section(fake), "secret_key": "wrong"})
        async with TencentChannels(cfg) as channels:
            with pytest.raises(NotifyError) as err:
                await channels.sms.notify(note())
    assert "AuthFailure.SignatureFailure" in str(err.value) and err.value.retryable is False
    assert not fake.received


async def test_tencent_throttling_is_retryable_and_an_unapproved_template_permanent(
    tencent: tuple[FakeTencent, TencentChannels],
) -> None:
    fake, channels = tencent
    fake.status_code = "LimitExceeded.PhoneNumberThirtySecondLimit"
    with pytest.raises(NotifyError) as err:
        await channels.sms.notify(note())
    assert err.value.retryable is True
    fake.status_code = ""
    fake.error_code = "FailedOperation.TemplateIncorrectOrUnapproved"
    with pytest.raises(NotifyError) as err:
        await channels.sms.notify(note())
    assert "TemplateIncorrectOrUnapproved" in str(err.value) and err.value.retryable is False
    fake.error_code = "InternalError.Timeout"
    with pytest.raises(NotifyError) as err:
        await channels.voice.notify(note())
    assert err.value.retryable is True


async def test_tencent_unreachable_is_retryable_for_sms_and_voice() -> None:
    async with FakeTencent() as fake:
        section = tencent_section(fake)
    cfg = TencentConfig.model_validate({**section, "secret_key": TENCENT_SECRET_KEY, "callback_token": "t"})
    async with TencentChannels(cfg) as channels:
        for channel in (channels.sms, channels.voice):
            with pytest.raises(NotifyError) as err:
                await channel.notify(note())
            assert err.value.retryable is True and "connect" in str(err.value).lower()


async def test_tencent_voice_sends_the_tts_template_and_returns_the_call_id(
    tencent: tuple[FakeTencent, TencentChannels],
) -> None:
    fake, channels = tencent
    call_id = await channels.voice.notify(note("exhausted"))
    [sent] = fake.actions("SendTtsVoice")
    assert call_id.startswith("call-")
    assert sent["CalledNumber"] == "+8613900000001" and sent["VoiceSdkAppid"] == "1400000002"
    assert sent["TemplateParamSet"][0] == "张秀英" and sent["PlayTimes"] == 2


# -- templates -----------------------------------------------------------------------------------


async def test_a_message_without_a_kind_or_template_fails_permanently_so_the_chain_falls_back(
    tencent: tuple[FakeTencent, TencentChannels],
) -> None:
    fake, channels = tencent
    with pytest.raises(NotifyError) as err:
        await channels.sms.notify(note(kind=""))
    assert err.value.retryable is False
    with pytest.raises(NotifyError) as err:
        await channels.voice.notify(note(kind="fyi"))  # FYIs never go by voice: no template
    assert "fyi" in str(err.value) and err.value.retryable is False
    assert not fake.received


def test_config_refuses_a_template_map_missing_a_kind_and_names_it() -> None:
    section = aliyun_section(FakeAliyun(port=1))
    del section["sms_templates"]["resolved"]
    with pytest.raises(ValidationError) as err:
        AlertsConfig.model_validate({"aliyun": section})
    assert "resolved" in str(err.value) and "告警已处理" in str(err.value)
    tencent = tencent_section(FakeTencent(port=1))
    del tencent["voice_templates"]["check"]
    with pytest.raises(ValidationError) as err:
        AlertsConfig.model_validate({"tencent": tencent})
    assert "tencent.voice_templates" in str(err.value) and "check" in str(err.value)


def test_config_refuses_unknown_values_and_secrets_in_the_file() -> None:
    section = aliyun_section(FakeAliyun(port=1))
    section["sms_templates"]["sos"]["params"]["x"] = "phone"
    with pytest.raises(ValidationError, match="unknown value"):
        AlertsConfig.model_validate({"aliyun": section})
    with pytest.raises(ValidationError, match=r"tencent\.secret_key"):
        AlertsConfig.model_validate({"tencent": {"secret_key": "s"}})
    env = {
        "HUB_ALIYUN_ACCESS_KEY_SECRET": "a",
        "HUB_TENCENT_SECRET_KEY": "b",
        "HUB_TENCENT_CALLBACK_TOKEN": "c",
    }
    cfg = AlertsConfig.model_validate({"aliyun": aliyun_section(FakeAliyun(port=1))}).with_env(env)
    assert cfg.aliyun.sms_enabled and cfg.aliyun.voice_enabled and cfg.tencent.callback_token == "c"
