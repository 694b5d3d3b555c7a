"""Aliyun SMS (dysmsapi 2017-05-25 `SendSms`) and voice (dyvmsapi 2017-05-25 `IvrCall`) through the official SDKs.

`AliyunChannels` is an async context manager holding both clients; its `sms` and `voice` are the two
`Notifier`s. Both send the message kind's approved template (`templated`). The call is an interactive one
(`IvrCall`): it speaks the TTS template and waits for a key; Aliyun reports the key (`dtmf`) and the SMS
delivery (`SmsReport`) by HTTP push to the hub, with the outbox row's id as `OutId`.
"""

from __future__ import annotations

import json
from types import TracebackType

import aiohttp
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client as SmsClient
from alibabacloud_dyvmsapi20170525 import models as vms_models
from alibabacloud_dyvmsapi20170525.client import Client as VmsClient
from alibabacloud_tea_openapi.exceptions import ClientException, ServerException, ThrottlingException
from alibabacloud_tea_openapi.utils_models import Config
from Tea.exceptions import TeaException

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.templated import named_values, template_for
from hub.alerts.outbox import normalise_phone
from hub.alerts.settings import AliyunConfig

# Business codes (the body's `Code`) worth trying again later: flow control and Aliyun's own faults.
# Everything else (template or sign not approved, bad number, arrears, day limit reached) is permanent
# for this channel and the chain falls back.
RETRYABLE_CODES = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "isv.SYSTEM_BUSY"}
)
# How long a callee has to press a key (ms), and how often the template is spoken.
KEY_TIMEOUT_MS = 8000
PLAY_TIMES = 2


class AliyunChannels:
    """Aliyun's SMS and voice channels; use as ``async with``."""

    def __init__(self, config: AliyunConfig) -> None:
        if not (config.sms_enabled or config.voice_enabled):
            raise NotifyError(
                "aliyun: access_key_id, HUB_ALIYUN_ACCESS_KEY_SECRET and sign_name or called_show_number "
                "are required",
                retryable=False,
            )
        self.config = config
        self._sms: SmsClient | None = None
        self._vms: VmsClient | None = None
        self.sms = AliyunSms(self)
        self.voice = AliyunVoice(self)

    def _client_config(self, endpoint: str) -> Config:
        cfg = self.config
        return Config(
            access_key_id=cfg.access_key_id,
            access_key_secret=cfg.access_key_secret,
            endpoint=endpoint,
            protocol=cfg.protocol,
            connect_timeout=5000,
            read_timeout=10000,
        )

    async def __aenter__(self) -> AliyunChannels:
        self._sms = SmsClient(self._client_config(self.config.sms_endpoint))
        self._vms = VmsClient(self._client_config(self.config.voice_endpoint))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._sms = self._vms = None  # the SDK opens a connection per request; nothing stays open

    @property
    def sms_client(self) -> SmsClient:
        """The SMS client (inside ``async with``)."""
        if self._sms is None:
            raise NotifyError("aliyun: channel used outside its async context", retryable=True)
        return self._sms

    @property
    def vms_client(self) -> VmsClient:
        """The voice client (inside ``async with``)."""
        if self._vms is None:
            raise NotifyError("aliyun: channel used outside its async context", retryable=True)
        return self._vms


class AliyunSms:
    """Aliyun SMS `Notifier`: `SendSms` with the kind's template; returns the `BizId`."""

    name = "aliyun_sms"

    def __init__(self, owner: AliyunChannels) -> None:
        self._owner = owner

    async def notify(self, notification: Notification) -> str:
        """Send the template; the delivery report comes back by HTTP push (`OutId` = outbox row)."""
        cfg = self._owner.config
        spec = template_for(cfg.sms_templates, notification, self.name)
        request = sms_models.SendSmsRequest(
            phone_numbers=normalise_phone(notification.recipient),
            sign_name=cfg.sign_name,
            template_code=spec.code,
            template_param=_json(named_values(spec, notification, cfg.max_param_chars)),
            out_id=str(notification.outbox_id),
        )
        try:
            response = await self._owner.sms_client.send_sms_async(request)
        except _FOREIGN as exc:
            raise _converted(self.name, exc) from exc
        body = response.body
        _check(self.name, body.code if body else None, body.message if body else None)
        return (body.biz_id if body else "") or ""


class AliyunVoice:
    """Aliyun voice `Notifier`: an `IvrCall` speaking the kind's TTS template; key "1" accepts."""

    name = "aliyun_voice"

    def __init__(self, owner: AliyunChannels) -> None:
        self._owner = owner

    async def notify(self, notification: Notification) -> str:
        """Place the call; returns the `CallId`. The key pressed comes back by HTTP push (`dtmf`)."""
        cfg = self._owner.config
        if not cfg.callback_token:
            raise NotifyError(
                f"{self.name}: HUB_ALIYUN_CALLBACK_TOKEN is needed to receive the keypress", retryable=False
            )
        spec = template_for(cfg.voice_templates, notification, self.name)
        keys = [vms_models.IvrCallRequestMenuKeyMap(key=key, code=cfg.key_reply_code) for key in ("1", "2")]
        request = vms_models.IvrCallRequest(
            called_number=normalise_phone(notification.recipient),
            called_show_number=cfg.called_show_number,
            start_code=spec.code,
            start_tts_params=_json(named_values(spec, notification, cfg.max_param_chars)),
            menu_key_map=keys,
            out_id=str(notification.outbox_id),
            play_times=PLAY_TIMES,
            timeout=KEY_TIMEOUT_MS,
        )
        try:
            response = await self._owner.vms_client.ivr_call_async(request)
        except _FOREIGN as exc:
            raise _converted(self.name, exc) from exc
        body = response.body
        _check(self.name, body.code if body else None, body.message if body else None)
        return (body.call_id if body else "") or ""


def _json(values: dict[str, str]) -> str:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":"))


def _check(channel: str, code: str | None, message: str | None) -> None:
    """Aliyun answers HTTP 200 with a business `Code`; anything but "OK" failed."""
    if code == "OK":
        return
    raise NotifyError(f"{channel}: {code}: {message or ''}".strip(), retryable=code in RETRYABLE_CODES)


# What the SDK raises: its own errors (API answers, and the network as `UnretryableException`) and aiohttp's.
_FOREIGN = (TeaException, aiohttp.ClientError, OSError)


def _converted(channel: str, exc: Exception) -> NotifyError:
    """An SDK or transport error as a `NotifyError`: throttling, 5xx and the network are retryable."""
    if isinstance(exc, ThrottlingException | ServerException):
        return NotifyError(f"{channel}: {exc.code}: {exc.message}", retryable=True)
    if isinstance(exc, ClientException):
        code = exc.code or ""
        retryable = code.startswith("Throttling") or code in RETRYABLE_CODES
        return NotifyError(f"{channel}: HTTP {exc.status_code} {code}: {exc.message}", retryable=retryable)
    return NotifyError(f"{channel}: connection failed: {exc}", retryable=True)
