"""Twilio SMS and voice through the official library's aiohttp-based async client.

`TwilioChannels` is an async context manager that owns one `AsyncTwilioHttpClient`; its `sms` and `voice`
are the two `Notifier`s. Calls speak zh-CN and ask for a keypress with `<Gather numDigits="1">`, whose
action (and every status callback) points back at the hub's public URL with the outbox row's id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.settings import TwilioConfig

TWILIO_API = "https://api.twilio.com"
# Twilio error codes that will not change by trying again: invalid/unreachable/blocked number, opt-out.
PERMANENT_CODES = frozenset({21211, 21408, 21610, 21612, 21614, 30003, 30004, 30005, 30006})


def e164(number: str) -> str:
    """A register phone number in E.164, as Twilio wants it: mobiles and landlines are Chinese numbers."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if number.strip().startswith("+"):
        return "+" + digits
    if len(digits) == 11 and digits.startswith("1"):
        return "+86" + digits
    if digits.startswith("0"):
        return "+86" + digits[1:]
    return "+" + digits


class RebasedHttpClient(AsyncTwilioHttpClient):
    """The library's async HTTP client, sending to another Twilio-compatible base URL (proxy, test)."""

    def __init__(self, api_base: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api_base = api_base.rstrip("/")

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        """Rewrite the Twilio host, then send as the library would."""
        if url.startswith(TWILIO_API):
            url = self._api_base + url[len(TWILIO_API) :]
        return await super().request(method, url, *args, **kwargs)


def gather_twiml(text: str, action: str) -> str:
    """TwiML that says `text` in Chinese twice and collects one digit, posted to `action`."""
    say = f'<Say language="zh-CN">{escape(text)}</Say>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Gather numDigits="1" timeout="8" action={quoteattr(action)} method="POST">{say}{say}</Gather>'
        '<Say language="zh-CN">未收到按键，稍后将再次通知。</Say></Response>'
    )


class TwilioChannels:
    """Twilio's SMS and voice channels sharing one client; use as ``async with``."""

    def __init__(self, config: TwilioConfig, public_url: str) -> None:
        if not config.enabled:
            raise NotifyError(
                "twilio: account_sid, from_number and HUB_TWILIO_AUTH_TOKEN are required", retryable=False
            )
        self._config = config
        self._public = public_url.rstrip("/")
        self._http: RebasedHttpClient | None = None
        self._client: Client | None = None
        self.sms = TwilioSms(self)
        self.voice = TwilioVoice(self)

    async def __aenter__(self) -> TwilioChannels:
        self._http = RebasedHttpClient(self._config.api_base)
        self._client = Client(self._config.account_sid, self._config.auth_token, http_client=self._http)
        # The library imports its API modules on first use (≈ 70 ms, measured): done here, at start or
        # takeover, so that the first SOS after it does not wait for them. No request is sent.
        _ = self._client.messages, self._client.calls
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.close()
        self._http = self._client = None

    def callback(self, kind: str, outbox_id: int) -> str | None:
        """The hub URL Twilio calls back for `kind` (status, voice), or None without a public URL."""
        return f"{self._public}/api/v1/alerts/twilio/{kind}?outbox={outbox_id}" if self._public else None

    @property
    def client(self) -> Client:
        """The live client (inside ``async with``)."""
        if self._client is None:
            raise NotifyError("twilio: channel used outside its async context", retryable=True)
        return self._client

    @property
    def from_number(self) -> str:
        """The sender number."""
        return self._config.from_number


class TwilioSms:
    """Twilio SMS `Notifier`."""

    name = "twilio_sms"

    def __init__(self, owner: TwilioChannels) -> None:
        self._owner = owner

    async def notify(self, notification: Notification) -> str:
        """POST …/Messages.json; returns the message SID."""
        kwargs: dict[str, Any] = {"to": e164(notification.recipient), "from_": self._owner.from_number}
        status = self._owner.callback("status", notification.outbox_id)
        if status:
            kwargs["status_callback"] = status
        with _converted("twilio_sms"):
            message = await self._owner.client.messages.create_async(body=notification.text, **kwargs)
        return _accepted(message.sid, message.status, message.error_code, message.error_message, "twilio_sms")


class TwilioVoice:
    """Twilio voice `Notifier`: a zh-CN call whose keypress "1" accepts the alert."""

    name = "twilio_voice"

    def __init__(self, owner: TwilioChannels) -> None:
        self._owner = owner

    async def notify(self, notification: Notification) -> str:
        """POST …/Calls.json with inline TwiML; returns the call SID."""
        action = self._owner.callback("voice", notification.outbox_id)
        if action is None:
            raise NotifyError(
                "twilio_voice: alerts.public_url is needed for the keypress action", retryable=False
            )
        status = self._owner.callback("status", notification.outbox_id)
        with _converted("twilio_voice"):
            call = await self._owner.client.calls.create_async(
                to=e164(notification.recipient),
                from_=self._owner.from_number,
                twiml=gather_twiml(notification.text, action),
                status_callback=status,
                status_callback_event=["completed"],
            )
        return _accepted(call.sid, call.status, None, None, "twilio_voice")


def _accepted(sid: str | None, status: str | None, code: Any, message: Any, channel: str) -> str:
    if status in ("failed", "undelivered", "canceled") or code:
        raise NotifyError(f"{channel}: {status} {code or ''} {message or ''}".strip(), retryable=False)
    return sid or ""


@contextlib.contextmanager
def _converted(channel: str) -> Iterator[None]:
    """Turns the library's and aiohttp's errors into `NotifyError` with the right retryability."""
    try:
        yield
    except TwilioRestException as exc:
        retryable = exc.status == 429 or exc.status >= 500
        if exc.code in PERMANENT_CODES:
            retryable = False
        raise NotifyError(
            f"{channel}: HTTP {exc.status} code {exc.code}: {exc.msg}", retryable=retryable
        ) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise NotifyError(f"{channel}: connection failed: {exc}", retryable=True) from exc
    except TwilioException as exc:
        raise NotifyError(f"{channel}: {exc}", retryable=False) from exc
