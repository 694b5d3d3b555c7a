"""A GSM modem on a serial port (3GPP TS 27.005 text mode), sending SMS and reading replies.

Chinese text goes out as UCS2 (``AT+CSCS="UCS2"``, ``AT+CSMP=17,167,0,8``, number and body as UCS2 hex),
split into 70-character messages; plain ASCII goes out as GSM text. Incoming SMS are announced by
``+CMTI`` (enabled with ``AT+CNMI=2,1,0,2``) and read with ``AT+CMGR``, then deleted.

One reader task owns the port's input: it splits lines, answers the command in flight and hands
unsolicited ``+CMTI`` lines to the inbound handler, and the lines of a voice call in progress (call state,
keys, speech done; `hub.alerts.channels.gsm_voice`) to that call. Commands are serialised by a lock, so an
SMS is read and sent during a call between the call's own commands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from types import TracebackType

import serial

from hub.alerts.channels.base import Notification, NotifyError
from hub.alerts.settings import GsmConfig

LOGGER = logging.getLogger(__name__)

PART_CHARS = 70  # UCS2 characters in one SMS
CTRL_Z = b"\x1a"
# +CMS ERROR codes worth trying again: SIM busy, no network, network timeout, unknown, "please wait"
# (and the radio-side network failures of TS 24.011). Everything else (no SIM, PIN, SMSC unknown,
# invalid parameters, barred number) will not get better by retrying.
RETRYABLE_CMS = frozenset({38, 41, 42, 47, 314, 331, 332, 500, 515})

_CMTI = re.compile(r'^\+CMTI:\s*"?(\w+)"?,\s*(\d+)')
_CMGR = re.compile(r'^\+CMGR:\s*"[^"]*","([^"]*)"')
_FINAL = re.compile(r"^(OK|ERROR|\+CMS ERROR:.*|\+CME ERROR:.*|BUSY|NO ANSWER|NO CARRIER|NO DIALTONE)$")
# Lines about a voice call: its end (V.25ter result codes), its state, a key, the speech having finished.
_CALL_LINE = re.compile(
    r"^(BUSY|NO ANSWER|NO CARRIER|NO DIALTONE|\+CLCC:|\+DTMF:|\+QTONEDET:|\+CTTS:|\+QTTS:)"
)

InboundHandler = Callable[[str, str], Awaitable[None]]
CallListener = Callable[[str], None]


def ucs2_hex(text: str) -> str:
    """Text as the UCS2 hex a modem expects in UCS2 character-set mode."""
    return text.encode("utf-16-be").hex().upper()


def from_ucs2_hex(text: str) -> str:
    """Decode UCS2 hex from the modem; text that is not UCS2 hex is returned unchanged."""
    if text and len(text) % 4 == 0 and re.fullmatch(r"[0-9A-Fa-f]+", text):
        try:
            return bytes.fromhex(text).decode("utf-16-be")
        except UnicodeDecodeError:
            return text
    return text


def split_parts(text: str, size: int = PART_CHARS) -> list[str]:
    """`text` in pieces of at most `size` characters."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def is_gsm_text(text: str) -> bool:
    """Whether `text` can go out in the GSM character set unchanged (printable ASCII here)."""
    return all(32 <= ord(ch) < 127 or ch in "\r\n" for ch in text)


class GsmModem:
    """GSM modem SMS `Notifier` and inbound-SMS reader; use as ``async with``."""

    name = "gsm_sms"
    # One SMS at a time on one modem: the worker queues sends before its send timeout starts.
    max_concurrent = 1

    def __init__(self, config: GsmConfig, on_sms: InboundHandler | None = None) -> None:
        if not config.url:
            raise NotifyError("gsm_sms: alerts.gsm.url is required", retryable=False)
        self._config = config
        self._on_sms = on_sms
        self._port: serial.SerialBase | None = None
        self._lock = asyncio.Lock()
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self._inbound: set[asyncio.Task[None]] = set()
        self._inflight = b""  # the command now waiting for its answer
        # The voice call in progress hears its lines here (set by `GsmVoice` for the call's duration).
        self.call_listener: CallListener | None = None

    async def __aenter__(self) -> GsmModem:
        try:
            self._port = await asyncio.to_thread(
                serial.serial_for_url, self._config.url, baudrate=self._config.baudrate, timeout=0.05
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise NotifyError(f"gsm_sms: cannot open {self._config.url}: {exc}", retryable=True) from exc
        self._reader = asyncio.create_task(self._read_forever(), name="gsm-reader")
        for cmd in ("AT", "ATE0", "AT+CMGF=1", "AT+CNMI=2,1,0,2"):
            await self.command(cmd)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in [self._reader, *self._inbound]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._port is not None:
            await asyncio.to_thread(self._port.close)
        self._port = None

    # -- sending --------------------------------------------------------------------------------------

    async def notify(self, notification: Notification) -> str:
        """Send the text (several SMS when long Chinese); returns the last message reference."""
        text = notification.text
        number = notification.recipient
        ref = ""
        async with self._lock:
            if is_gsm_text(text):
                await self._command('AT+CSCS="GSM"')
                await self._command("AT+CSMP=17,167,0,0")
                for part in split_parts(text, 160):
                    ref = await self._send_one(f'AT+CMGS="{number}"', part.encode("ascii"))
            else:
                await self._command('AT+CSCS="UCS2"')
                await self._command("AT+CSMP=17,167,0,8")
                for part in split_parts(text):
                    ref = await self._send_one(
                        f'AT+CMGS="{ucs2_hex(number)}"', ucs2_hex(part).encode("ascii")
                    )
        return ref

    async def _send_one(self, cmd: str, body: bytes) -> str:
        await self._command(cmd, until_prompt=True)
        lines = await self._exchange(body + CTRL_Z)
        refs = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("+CMGS:")]
        return refs[-1] if refs else ""

    async def command(self, cmd: str) -> list[str]:
        """Run one AT command (serialised with every other use of the port); return its response lines."""
        async with self._lock:
            return await self._command(cmd)

    async def _command(self, cmd: str, *, until_prompt: bool = False) -> list[str]:
        return await self._exchange(cmd.encode("ascii") + b"\r", until_prompt=until_prompt)

    async def _exchange(self, data: bytes, *, until_prompt: bool = False) -> list[str]:
        port = self._port
        if port is None:
            raise NotifyError("gsm_sms: used outside its async context", retryable=True)
        while not self._lines.empty():  # stale lines from an earlier, timed-out command
            self._lines.get_nowait()
        self._inflight = data
        try:
            await asyncio.to_thread(port.write, data)
        except (serial.SerialException, OSError) as exc:
            self._inflight = b""
            raise NotifyError(f"gsm_sms: write failed: {exc}", retryable=True) from exc
        lines: list[str] = []
        try:
            async with asyncio.timeout(self._config.command_timeout_s):
                while True:
                    line = await self._lines.get()
                    if until_prompt and line == ">":
                        return lines
                    lines.append(line)
                    if _FINAL.match(line):
                        break
        except TimeoutError as exc:
            raise NotifyError(f"gsm_sms: no answer to {data[:20]!r}", retryable=True) from exc
        finally:
            self._inflight = b""
        final = lines[-1]
        if final.startswith("+CMS ERROR:"):
            code_text = final.split(":", 1)[1].strip()
            code = int(code_text) if code_text.isdigit() else -1
            raise NotifyError(f"gsm_sms: {final}", retryable=code in RETRYABLE_CMS)
        if final != "OK":
            raise NotifyError(f"gsm_sms: {final}", retryable=False)
        return lines

    # -- reading --------------------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        port = self._port
        assert port is not None
        buffer = b""
        while True:
            try:
                chunk = await asyncio.to_thread(port.read, 256)
            except (serial.SerialException, OSError) as exc:
                LOGGER.error("GSM 调制解调器读取失败 (modem read failed): %s", exc)
                await asyncio.sleep(1.0)
                continue
            if not chunk:
                continue
            buffer += chunk
            while True:
                if buffer.lstrip(b"\r\n").startswith(b">"):
                    buffer = buffer.lstrip(b"\r\n")[1:].lstrip(b" ")
                    self._lines.put_nowait(">")
                    continue
                cut = min((i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0), default=-1)
                if cut < 0:
                    break
                raw, buffer = buffer[:cut], buffer[cut + 1 :]
                line = raw.decode("ascii", errors="replace").strip()
                if line:
                    self._line(line)

    def _line(self, line: str) -> None:
        m = _CMTI.match(line)
        if m:
            task = asyncio.create_task(self._read_sms(m.group(1), int(m.group(2))))
            self._inbound.add(task)
            task.add_done_callback(self._inbound.discard)
        elif _CALL_LINE.match(line) and not self._answers_inflight(line):
            if self.call_listener is not None:
                self.call_listener(line)
            else:
                LOGGER.debug("无通话时的通话消息 (call line outside a call): %s", line)
        elif not line.startswith("AT"):  # an echo, if the modem still echoes
            self._lines.put_nowait(line)

    def _answers_inflight(self, line: str) -> bool:
        """Whether a call line is the answer to the command in flight: the dial's own result code (a
        modem may hold ``ATD`` until the line is busy) or the call list that ``AT+CLCC`` asked for."""
        if self._inflight.startswith(b"ATD"):
            return not line.startswith("+")
        return self._inflight.startswith(b"AT+CLCC\r") and line.startswith("+CLCC:")

    async def _read_sms(self, store: str, index: int) -> None:
        try:
            async with self._lock:
                await self._command('AT+CSCS="UCS2"')
                lines = await self._command(f"AT+CMGR={index}")
                await self._command(f"AT+CMGD={index}")
        except NotifyError as exc:
            LOGGER.error("读取短信 %s/%s 失败 (cannot read SMS): %s", store, index, exc)
            return
        sender, body = "", []
        for line in lines[:-1]:
            m = _CMGR.match(line)
            if m:
                sender = from_ucs2_hex(m.group(1))
            elif sender:
                body.append(from_ucs2_hex(line))
        if not sender:
            LOGGER.error("短信 %s 无法解析 (unparseable +CMGR): %r", index, lines)
            return
        if self._on_sms is not None:
            await self._on_sms(sender, "\n".join(body))
