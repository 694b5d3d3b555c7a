"""A GSM modem behind a real pseudo-terminal, answering AT commands as TS 27.005 describes, and (with a
`voice` family) placing calls: ``ATD``, ``AT+CLCC`` (TS 27.007), SIMCom ``AT+CTTS``/``AT+DDET`` or Quectel
``AT+QTTS``/``AT+QTONEDET``, ``ATH``; the called phone is busy, unanswered, or answers and presses a key."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field

# Per family: its voice commands (answered OK only by that family), the speech command, the key URC and
# the URC when the speech has been said.
FAMILIES = {
    "simcom": (("AT+DDET", "AT+CTTS"), "AT+CTTS", "+DTMF: {key}", "+CTTS: 0"),
    "quectel": (("AT+QTONEDET", "AT+QTTS"), "AT+QTTS", "+QTONEDET: {code}", "+QTTS: 0"),
}


@dataclass
class FakeModem:
    """Opens a pty; the hub opens `path`. Records sent SMS (decoded), can fail sends, can receive SMS."""

    cms_error: int | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)  # (number, text) per message part
    commands: list[str] = field(default_factory=list)
    inbox: dict[int, tuple[str, str]] = field(default_factory=dict)
    voice: str | None = None  # "simcom" / "quectel": answers that family's voice commands; None: ERROR
    callee: str = "answer"  # what a called phone does: "answer", "busy", "no answer" or "ring" (on and on)
    key: str | None = "1"  # the key the callee presses once spoken to (None: none)
    calls: list[str] = field(default_factory=list)  # numbers dialled
    spoken: list[str] = field(default_factory=list)  # texts spoken into calls (decoded)

    def __post_init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self._cscs = "GSM"
        self._pending: str | None = None
        self._call: tuple[str, int] | None = None  # (number, TS 27.007 stat) of the call in progress
        self._clcc_urc = False
        self._pressed = False
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        os.close(self.master)
        os.close(self.slave)

    def deliver(self, sender: str, body: str, index: int = 3) -> None:
        """An SMS arrives: store it and announce it with +CMTI."""
        self.inbox[index] = (sender, body)
        self._write(f'\r\n+CMTI: "SM",{index}\r\n')

    def _write(self, text: str) -> None:
        if self._stop:
            return  # closed by the test while a command (or the callee's timer) was still being answered
        os.write(self.master, text.encode("ascii"))

    def _serve(self) -> None:
        buffer = b""
        while not self._stop:
            try:
                chunk = os.read(self.master, 1024)
            except OSError:
                return
            buffer += chunk
            while True:
                if self._pending is not None:
                    end = buffer.find(b"\x1a")
                    if end < 0:
                        break
                    body, buffer = buffer[:end].decode("ascii"), buffer[end + 1 :]
                    self._finish_send(body)
                    continue
                end = buffer.find(b"\r")
                if end < 0:
                    break
                line, buffer = buffer[:end].decode("ascii").strip(), buffer[end + 1 :]
                if line:
                    self._command(line)

    def _decode(self, text: str) -> str:
        return bytes.fromhex(text).decode("utf-16-be") if self._cscs == "UCS2" else text

    def _encode(self, text: str) -> str:
        return text.encode("utf-16-be").hex().upper() if self._cscs == "UCS2" else text

    def _voice_command(self, line: str) -> bool:
        """Answer a call or voice command; False if `line` is none."""
        probes, speak, key_urc, spoken = FAMILIES.get(self.voice or "", ((), "-", "", ""))
        if any(line.startswith(p) for family in FAMILIES.values() for p in family[0]):
            if not any(line.startswith(p) for p in probes):
                self._write("\r\nERROR\r\n")  # a command of another family, or no voice at all
            elif line.startswith(speak + "=1,"):
                self.spoken.append(bytes.fromhex(line.split('"')[1]).decode("utf-16-be"))
                if self._call is not None and self.key is not None and not self._pressed:
                    self._pressed = True  # the callee presses the key while the prompt is said
                    self._write("\r\nOK\r\n\r\n" + key_urc.format(key=self.key, code=ord(self.key)) + "\r\n")
                else:
                    self._write(f"\r\nOK\r\n\r\n{spoken}\r\n")
            else:
                self._write("\r\nOK\r\n")
        elif m := re.fullmatch(r"ATD([+\d]+);", line):
            self.calls.append(m.group(1))
            self._call, self._pressed = (m.group(1), 2), False
            self._write("\r\nOK\r\n")
            threading.Timer(0.05, self._callee_acts).start()
        elif line == "AT+CLCC":
            listed = f'\r\n+CLCC: 1,0,{self._call[1]},0,0,"{self._call[0]}",129' if self._call else ""
            self._write(listed + "\r\n\r\nOK\r\n")
        elif line == "AT+CLCC=1":
            self._clcc_urc = True
            self._write("\r\nOK\r\n")
        elif line == "ATH":
            self._call = None
            self._write("\r\nOK\r\n")
        else:
            return False
        return True

    def _callee_acts(self) -> None:
        if self._call is None:
            return
        if self.callee == "ring":
            self._call = (self._call[0], 3)  # alerting, until the hub hangs up
            return
        if self.callee == "answer":
            self._call = (self._call[0], 0)
            if self._clcc_urc:
                self._write(f'\r\n+CLCC: 1,0,0,0,0,"{self._call[0]}",129\r\n')
            return
        self._call = None
        self._write("\r\nBUSY\r\n" if self.callee == "busy" else "\r\nNO ANSWER\r\n")

    def _command(self, line: str) -> None:
        self.commands.append(line)
        if self._voice_command(line):
            return
        if m := re.fullmatch(r'AT\+CSCS="(\w+)"', line):
            self._cscs = m.group(1)
        elif m := re.fullmatch(r'AT\+CMGS="([^"]+)"', line):
            self._pending = self._decode(m.group(1))
            self._write("\r\n> ")
            return
        elif m := re.fullmatch(r"AT\+CMGR=(\d+)", line):
            sender, body = self.inbox.get(int(m.group(1)), ("", ""))
            if not sender:
                self._write("\r\n+CMS ERROR: 321\r\n")
                return
            self._write(
                f'\r\n+CMGR: "REC UNREAD","{self._encode(sender)}",,"26/11/28,14:05:00+32"\r\n'
                f"{self._encode(body)}\r\n\r\nOK\r\n"
            )
            return
        elif m := re.fullmatch(r"AT\+CMGD=(\d+)", line):
            self.inbox.pop(int(m.group(1)), None)
        self._write("\r\nOK\r\n")

    def _finish_send(self, body: str) -> None:
        number, self._pending = self._pending or "", None
        if self.cms_error is not None:
            self._write(f"\r\n+CMS ERROR: {self.cms_error}\r\n")
            return
        self.sent.append((number, self._decode(body)))
        self._write(f"\r\n+CMGS: {len(self.sent)}\r\n\r\nOK\r\n")
