"""A voice call over the GSM modem: dial, speak zh-CN with the modem's text-to-speech, collect one key.

The family of the modem (`GsmConfig.voice`) names its commands:

| family | probe (ERROR = not supported) | setup | speak (UCS2 hex text) | key URC |
| --- | --- | --- | --- | --- |
| simcom | ``AT+DDET=?``, ``AT+CTTS=?`` | ``AT+CLCC=1``, ``AT+DDET=1`` | ``AT+CTTS=1,"…"`` → ``+CTTS: 0`` when done | ``+DTMF: 1`` |
| quectel | ``AT+QTONEDET=?``, ``AT+QTTS=?`` | ``AT+QTONEDET=1`` | ``AT+QTTS=1,"…"`` → ``+QTTS: 0`` when done | ``+QTONEDET: 49`` (ASCII code) |

Mode 1 of both speech commands takes the text as UCS2 hex, so Chinese crosses the ASCII serial line intact.
The probe runs once at start; a modem that fails it (or family "none") asks the elder by SMS only, and the
log says which path is used (`GsmVoice.path`).

A call (``ATD<number>;``, one at a time) is followed by ``+CLCC`` reports where the modem sends them and by
polling ``AT+CLCC`` (3GPP TS 27.007: stat 0 = active) where it does not, and by the result codes ``BUSY``,
``NO ANSWER`` and ``NO CARRIER``. `notify` returns once the modem accepted the dial; the call then runs in a
task of its own, and like Twilio's callbacks it reports back: a key pressed (`on_key`, whose answer is spoken
before ``ATH``) or a callee never reached (`on_unreached`: busy, no answer, failed). A call answered without
a key reports nothing: the check waits out its timer (the SMS reply still counts meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.channels.gsm import GsmModem, ucs2_hex
from hub.alerts.settings import GsmConfig

LOGGER = logging.getLogger(__name__)

# How often the call list is asked for while the phone rings, and how long a spoken answer may take.
POLL_S = 1.0
ANSWER_SPOKEN_S = 15.0
# The prompt is spoken twice (as the Twilio call says it twice) while the call waits for the key.
PROMPT_TIMES = 2

_CLCC = re.compile(r"^\+CLCC:\s*\d+,(\d),(\d)")  # id, dir (0 = we called), stat
_ENDED = {"BUSY": "busy", "NO ANSWER": "no-answer", "NO CARRIER": "failed", "NO DIALTONE": "failed"}
_REASONS = {"busy": "占线", "no-answer": "无人接听", "failed": "未接通"}

KeyHandler = Callable[[int, str], Awaitable[str]]
UnreachedHandler = Callable[[int, str, str], Awaitable[None]]
Unreached = Literal["busy", "no-answer", "failed"]


@dataclass(frozen=True, slots=True)
class VoiceFamily:
    """The AT commands of one modem family for a spoken call that collects a key."""

    probes: tuple[str, ...]
    setup: tuple[str, ...]
    speak: str  # with {text} = UCS2 hex
    key: re.Pattern[str]
    ascii_key: bool  # the URC gives the key's ASCII code ("49") rather than the key ("1")
    spoken: str  # URC prefix when the speech has finished


FAMILIES = {
    "simcom": VoiceFamily(
        probes=("AT+DDET=?", "AT+CTTS=?"),
        setup=("AT+CLCC=1", "AT+DDET=1"),
        speak='AT+CTTS=1,"{text}"',
        key=re.compile(r"^\+DTMF:\s*([0-9*#A-D])"),
        ascii_key=False,
        spoken="+CTTS:",
    ),
    "quectel": VoiceFamily(
        probes=("AT+QTONEDET=?", "AT+QTTS=?"),
        setup=("AT+QTONEDET=1",),
        speak='AT+QTTS=1,"{text}"',
        key=re.compile(r"^\+QTONEDET:\s*(\d+)"),
        ascii_key=True,
        spoken="+QTTS:",
    ),
}


def dial_number(number: str) -> str:
    """The number as ``ATD`` takes it: digits, with a leading + kept."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return ("+" + digits) if number.strip().startswith("+") else digits


def _log_crash(task: asyncio.Task[None]) -> None:
    """A call task that died of something unforeseen says so (the check still ends at its timer)."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        LOGGER.error("GSM 电话任务异常结束 (call task crashed): %r", exc, exc_info=exc)


class GsmVoice:
    """The modem's voice `Notifier` (one call at a time); use as ``async with`` inside the modem's own."""

    name = "gsm_voice"

    def __init__(
        self, modem: GsmModem, config: GsmConfig, on_key: KeyHandler, on_unreached: UnreachedHandler
    ) -> None:
        self._modem = modem
        self._config = config
        self._family = FAMILIES.get(config.voice)
        self._on_key = on_key
        self._on_unreached = on_unreached
        self._call: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[str] = asyncio.Queue()
        self.path: Literal["voice", "sms"] = "sms"  # how the elder is asked through this modem
        self.why = ""  # why the voice path is not used

    @property
    def ready(self) -> bool:
        """Whether the modem places spoken calls that collect a key."""
        return self.path == "voice"

    async def __aenter__(self) -> GsmVoice:
        family = self._family
        if family is None:
            self.why = "alerts.gsm.voice = none"
        else:
            try:
                for cmd in (*family.probes, *family.setup):
                    await self._modem.command(cmd)
            except NotifyError as exc:
                self.why = f"{self._config.voice} 调制解调器不支持 {exc}"
            else:
                self.path = "voice"
        if self.ready:
            LOGGER.info(
                "GSM 询问老人：语音电话按键（%s）(elder check by voice call + DTMF)", self._config.voice
            )
        else:  # a warning only when a configured voice family did not work
            log = LOGGER.info if family is None else LOGGER.warning
            log("GSM 询问老人：仅短信回复1（%s）(elder check by SMS reply only)", self.why)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._call is not None:
            self._call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._call
        self._modem.call_listener = None

    async def notify(self, notification: Notification) -> str:
        """Dial; returns once the modem accepted the call (its outcome comes later, by the handlers)."""
        family = self._family
        if not self.ready or family is None:
            raise NotifyError(f"gsm_voice: no voice path ({self.why})", retryable=False)
        if self._call is not None and not self._call.done():
            raise NotifyError("gsm_voice: 调制解调器正在通话 (the modem is on another call)", retryable=True)
        self._events = asyncio.Queue()
        self._modem.call_listener = self._events.put_nowait
        number = dial_number(notification.recipient)
        try:
            await self._modem.command(f"ATD{number};")
        except NotifyError as exc:
            self._modem.call_listener = None
            final = str(exc).split(": ", 1)[-1]
            if final in _ENDED:  # the modem held the dial until the line was busy / not answered
                reason = _REASONS[_ENDED[final]]
                raise NotifyError(f"gsm_voice: {reason} ({final})", retryable=False) from exc
            raise NotifyError(f"gsm_voice: dial failed: {final}", retryable=exc.retryable) from exc
        self._call = asyncio.create_task(
            self._run(family, notification, self._events), name=f"gsm-call-{notification.outbox_id}"
        )
        self._call.add_done_callback(_log_crash)
        return f"call-{notification.outbox_id}"

    # -- the call ---------------------------------------------------------------------------------

    async def _run(self, family: VoiceFamily, note: Notification, events: asyncio.Queue[str]) -> None:
        answered = False  # the key has been applied: a later modem error no longer fails the call
        try:
            ended = await self._ring(events)
            if ended is not None:
                LOGGER.info("GSM 电话 %s %s", note.recipient, _REASONS[ended])
                await self._on_unreached(note.outbox_id, ended, _REASONS[ended])
                return
            key = await self._listen(family, note.text, events)
            if key is None:
                LOGGER.info("GSM 电话 %s 已接通但未按键 (answered, no key)", note.recipient)
                return
            answer = await self._on_key(note.outbox_id, key)
            answered = True
            await self._say(family, answer)
            await self._wait_spoken(family, events, ANSWER_SPOKEN_S)
        except NotifyError as exc:  # the modem stopped answering during the call
            LOGGER.error("GSM 电话 %s 出错 (call failed): %s", note.recipient, exc)
            if not answered:
                await self._on_unreached(note.outbox_id, "failed", f"调制解调器出错：{exc}")
        finally:
            self._modem.call_listener = None
            with contextlib.suppress(NotifyError):
                await self._modem.command("ATH")

    async def _ring(self, events: asyncio.Queue[str]) -> Unreached | None:
        """Wait until the callee answers (None) or the call ends without it (why)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.ring_timeout_s
        while (left := deadline - loop.time()) > 0:
            try:
                line = await asyncio.wait_for(events.get(), min(POLL_S, left))
            except TimeoutError:
                state = await self._poll()
                if state == "active":
                    return None
                if state == "gone":
                    return "failed"
                continue
            if line in _ENDED:
                return _ENDED[line]  # type: ignore[return-value]
            m = _CLCC.match(line)
            if m and m.group(1) == "0":
                if m.group(2) == "0":
                    return None
                if m.group(2) == "6":
                    return "failed"
        return "no-answer"

    async def _poll(self) -> Literal["active", "ringing", "gone"]:
        """The state of our outgoing call from the modem's call list."""
        states = [m.group(2) for ln in await self._modem.command("AT+CLCC") if (m := _CLCC.match(ln))]
        if "0" in states:
            return "active"
        return "ringing" if any(s in ("2", "3") for s in states) else "gone"

    async def _listen(self, family: VoiceFamily, text: str, events: asyncio.Queue[str]) -> str | None:
        """Speak the prompt (again when it has been said) and return the first key, or None."""
        await self._say(family, text)
        said = 1
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.key_timeout_s
        while (left := deadline - loop.time()) > 0:
            try:
                line = await asyncio.wait_for(events.get(), left)
            except TimeoutError:
                break
            if m := family.key.match(line):
                return chr(int(m.group(1))) if family.ascii_key else m.group(1)
            if line.startswith(family.spoken) and said < PROMPT_TIMES:
                await self._say(family, text)
                said += 1
            elif line in _ENDED or ((m := _CLCC.match(line)) is not None and m.group(2) == "6"):
                return None  # the callee hung up
        return None

    async def _say(self, family: VoiceFamily, text: str) -> None:
        await self._modem.command(family.speak.format(text=ucs2_hex(text)))

    async def _wait_spoken(self, family: VoiceFamily, events: asyncio.Queue[str], limit: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while True:
                    line = await events.get()
                    if line.startswith(family.spoken) or line in _ENDED:
                        return
