"""Tencent Cloud SMS (sms 2021-01-11 `SendSms`) and voice messages (vms 2020-09-02 `SendTtsVoice`), official SDKs.

`TencentChannels` is an async context manager holding both clients; its `sms` and `voice` are the two
`Notifier`s, each sending the message kind's approved template (`templated`). SMS goes through the SDK's
async client; the voice SDK has only a blocking client, which runs in a worker thread. Tencent pushes the
SMS status report (`sid` = `SerialNo`) and the key pressed on a voice message (`voicekey_callback`,
`callid` = `CallId`) to the hub.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import httpx
from tencentcloud.common.credential import Credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as sms_models
from tencentcloud.sms.v20210111.sms_client_async import SmsClient
from tencentcloud.vms.v20200902 import models as vms_models
from tencentcloud.vms.v20200902.vms_client import VmsClient

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.templated import ordered_values, template_for
from hub.alerts.channels.twilio import e164
from hub.alerts.settings import TencentConfig

# Error code families worth trying again later: rate and frequency limits, Tencent's own faults, the network.
# Everything else (template or sign unapproved, bad number, auth failure, no balance) is permanent here.
RETRYABLE_PREFIXES = ("LimitExceeded", "RequestLimitExceeded", "InternalError", "ClientNetworkError")
RETRYABLE_CODES = frozenset({"ServerNetworkError", "FailedOperation.FailResolvePacket"})
REQUEST_TIMEOUT_S = 10


def retryable(code: str) -> bool:
    """Whether a Tencent Cloud error code may go away by trying again."""
    return code.startswith(RETRYABLE_PREFIXES) or code in RETRYABLE_CODES


class TencentChannels:
    """Tencent Cloud's SMS and voice channels; use as ``async with``."""

    def __init__(self, config: TencentConfig) -> None:
        if not (config.sms_enabled or config.voice_enabled):
            raise NotifyError(
                "tencent: secret_id, HUB_TENCENT_SECRET_KEY and sms_sdk_app_id or voice_sdk_app_id are required",
                retryable=False,
            )
        self.config = config
        self._sms: SmsClient | None = None
        self._vms: VmsClient | None = None
        self.sms = TencentSms(self)
        self.voice = TencentVoice(self)

    def _profile(self, endpoint: str) -> ClientProfile:
        http = HttpProfile(protocol=self.config.protocol, endpoint=endpoint, reqTimeout=REQUEST_TIMEOUT_S)
        return ClientProfile(httpProfile=http)

    async def __aenter__(self) -> TencentChannels:
        cfg = self.config
        cred = Credential(cfg.secret_id, cfg.secret_key)
        self._sms = SmsClient(cred, cfg.region, self._profile(cfg.sms_endpoint))
        self._vms = VmsClient(cred, cfg.region, self._profile(cfg.voice_endpoint))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sms is not None:
            await self._sms.close()
        self._sms = self._vms = None

    @property
    def sms_client(self) -> SmsClient:
        """The async SMS client (inside ``async with``)."""
        if self._sms is None:
            raise NotifyError("tencent: channel used outside its async context", retryable=True)
        return self._sms

    @property
    def vms_client(self) -> VmsClient:
        """The blocking voice client (inside ``async with``)."""
        if self._vms is None:
            raise NotifyError("tencent: channel used outside its async context", retryable=True)
        return self._vms


class TencentSms:
    """Tencent Cloud SMS `Notifier`; returns the `SerialNo` the status report names."""

    name = "tencent_sms"

    def __init__(self, owner: TencentChannels) -> None:
        self._owner = owner

    async def notify(self, notification: Notification) -> str:
        """`SendSms` to one number; a per-number status other than "Ok" is a failure."""
        cfg = self._owner.config
        spec = template_for(cfg.sms_templates, notification, self.name)
        request = sms_models.SendSmsRequest()
        request.PhoneNumberSet = [e164(notification.recipient)]
        request.SmsSdkAppId = cfg.sms_sdk_app_id
        request.SignName = cfg.sign_name
        request.TemplateId = spec.id
        request.TemplateParamSet = ordered_values(spec, notification, cfg.max_param_chars)
        request.SessionContext = str(notification.outbox_id)
        try:
            response = await self._owner.sms_client.SendSms(request)
        except _FOREIGN as exc:
            raise _converted(self.name, exc) from exc
        statuses = response.SendStatusSet or []
        if not statuses:
            raise NotifyError(f"{self.name}: reply without a send status", retryable=True)
        status = statuses[0]
        if status.Code != "Ok":
            code = status.Code or ""
            raise NotifyError(f"{self.name}: {code}: {status.Message or ''}", retryable=retryable(code))
        return status.SerialNo or ""


class TencentVoice:
    """Tencent Cloud voice message `Notifier` (`SendTtsVoice`); key "1" on the call accepts."""

    name = "tencent_voice"

    def __init__(self, owner: TencentChannels) -> None:
        self._owner = owner

    async def notify(self, notification: Notification) -> str:
        """Place the text-to-speech call; returns the `CallId` the keypress callback names."""
        cfg = self._owner.config
        if not cfg.callback_token:
            raise NotifyError(
                f"{self.name}: HUB_TENCENT_CALLBACK_TOKEN is needed to receive the keypress", retryable=False
            )
        spec = template_for(cfg.voice_templates, notification, self.name)
        request = vms_models.SendTtsVoiceRequest()
        request.TemplateId = spec.id
        request.TemplateParamSet = ordered_values(spec, notification, cfg.max_param_chars)
        request.CalledNumber = e164(notification.recipient)
        request.VoiceSdkAppid = cfg.voice_sdk_app_id
        request.PlayTimes = cfg.play_times
        request.SessionContext = str(notification.outbox_id)
        client = self._owner.vms_client
        try:
            response = await asyncio.to_thread(client.SendTtsVoice, request)
        except _FOREIGN as exc:
            raise _converted(self.name, exc) from exc
        status = response.SendStatus
        return (status.CallId if status else "") or ""


# What the SDKs raise: their own error (API answers; the blocking client's network errors too) and, from the
# async client, httpx's transport errors unwrapped.
_FOREIGN = (TencentCloudSDKException, httpx.HTTPError, OSError)


def _converted(channel: str, exc: Exception) -> NotifyError:
    """An SDK or transport error as a `NotifyError` with the right retryability."""
    if isinstance(exc, TencentCloudSDKException):
        code = str(exc.code or "")
        return NotifyError(f"{channel}: {code}: {exc.message}", retryable=retryable(code))
    return NotifyError(f"{channel}: connection failed: {exc}", retryable=True)
