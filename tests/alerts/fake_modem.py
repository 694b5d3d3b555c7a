"""A GSM modem behind a real pseudo-terminal, answering AT commands as TS 27.005 describes."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field


@dataclass
class FakeModem:
    """Opens a pty; the hub opens `path`. Records sent SMS (decoded), can fail sends, can receive SMS."""

    cms_error: int | None = None
    sent: list[tuple[str, str]] = field(default_factory=list)  # (number, text) per message part
    commands: list[str] = field(default_factory=list)
    inbox: dict[int, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self._cscs = "GSM"
        self._pending: str | None = None
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

    def _command(self, line: str) -> None:
        self.commands.append(line)
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
