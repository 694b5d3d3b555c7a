"""The "watch" protocol of 4G SOS pendants and watches: framing, parsing and replies (pure, no I/O).

Most elder SOS pendants and watches sold in China speak this plain-text protocol over a TCP connection they
open to the platform (it is documented by the GPS-tracking server Traccar as its "watch" protocol; facts only
are taken from there, see docs/watch.md). A frame is::

    [<maker>*<device id>*<length, 4 hex digits>*<command>[,<field>,...]]
    [<maker>*<device id>*<index, 4 hex>*<length, 4 hex>*<command>[,...]]      (some makers number frames)

``<maker>`` is two letters (3G, SG, CS, ZJ, …), ``<device id>`` the IMEI or a 10-digit id, the length counts
the characters of the content (command and fields) — but some firmware miscounts it, so frames are cut at
their ``]``, never by the length. Inside binary content (voice notes) the bytes
``} [ ] , *`` are escaped as ``}`` followed by 01..05, so a raw ``]`` always ends a frame.

`FrameSplitter` cuts a TCP byte stream into frames whatever the reads look like; `parse_frame` checks one
frame; `reply_to` is what the device expects back (``LK`` for its keep-alive, ``AL`` for an alarm — a device
that gets no ``AL`` sends the alarm again), and `encode_frame` builds any frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.devices.errors import DeviceError

# Escaped byte after '}' → the byte it stands for.
_UNESCAPE = {1: ord("}"), 2: ord("["), 3: ord("]"), 4: ord(","), 5: ord("*")}
_HEX = frozenset(b"0123456789abcdefABCDEF")
# A frame's header cannot be longer than this: '[', maker, '*', a 20-digit id, '*', index, '*', length, '*'.
HEADER_MAX = 40
# The default bound on a frame: text frames are a few hundred bytes (a location with ten Wi-Fi networks is
# about 600); voice notes are sent in pieces of a few kilobytes.
FRAME_MAX = 16 * 1024

# Commands whose content starts with a location body (date, time, validity, lat, N/S, lon, E/W, …).
POSITION_PREFIXES = ("UD", "AL", "WT")
# Command → the content of the device's expected reply. Alarms (AL, AL_LTE, ALCUSTOMER1, …) get "AL".
_REPLIES = {"LK": "LK", "TKQ": "TKQ", "TKQ2": "TKQ2", "INIT": "INIT,1"}


class FrameError(DeviceError):
    """Bytes that are not a frame of the watch protocol (the reason says why)."""


@dataclass(frozen=True, slots=True)
class WatchFrame:
    """One parsed frame: who sent it and what it says."""

    maker: str
    device_id: str
    index: str | None  # the frame number of makers that send one (echoed in the reply)
    command: str
    fields: tuple[str, ...]

    @property
    def is_alarm(self) -> bool:
        """An alarm frame (AL, AL_LTE, ALCUSTOMER1, …): the device re-sends it until it gets "AL" back."""
        return self.command.startswith("AL")

    @property
    def is_position(self) -> bool:
        """A frame whose fields are a location body (UD, UD2, UD_LTE, AL…, WT)."""
        return self.command.startswith(POSITION_PREFIXES)


def unescape(data: bytes) -> bytes:
    """`data` with the protocol's ``}``-escapes resolved; `FrameError` on an unknown escape."""
    if b"}" not in data:
        return data
    out = bytearray()
    it = iter(range(len(data)))
    for i in it:
        byte = data[i]
        if byte == ord("}"):
            code = data[i + 1] if i + 1 < len(data) else -1
            if code not in _UNESCAPE:
                raise FrameError(f"watch: unknown escape '}}' + {code:#04x} at byte {i}")
            out.append(_UNESCAPE[code])
            next(it, None)
        else:
            out.append(byte)
    return bytes(out)


def parse_frame(data: bytes) -> WatchFrame:
    """One whole frame ``[...]`` (escaped, as received) → `WatchFrame`; `FrameError` says what is wrong."""
    if len(data) < 2 or data[0] != ord("[") or data[-1] != ord("]"):
        raise FrameError(f"watch: a frame starts with '[' and ends with ']', got {data[:40]!r}")
    parts = data[1:-1].split(b"*", 4)
    if len(parts) < 4:
        raise FrameError(f"watch: header needs maker*id*length*content, got {data[:HEADER_MAX]!r}")
    maker, device_id = parts[0], parts[1]
    index: bytes | None = None
    if len(parts) == 5 and _is_hex4(parts[2]) and _is_hex4(parts[3]):
        index, length, content = parts[2], parts[3], parts[4]
    else:
        length, content = parts[2], b"*".join(parts[3:])
    if len(maker) != 2 or not maker.isalnum():
        raise FrameError(f"watch: maker must be two letters or digits, got {maker!r}")
    if not device_id or not device_id.isalnum() or len(device_id) > 20:
        raise FrameError(f"watch: device id must be 1-20 letters or digits, got {device_id[:24]!r}")
    if not _is_hex4(length):
        raise FrameError(f"watch: length must be 4 hex digits, got {length!r}")
    # The length is not checked against the content: recorded messages of real firmware miscount it (by
    # up to 13 in Traccar's test messages), and an SOS must not be refused over a miscounted header. The
    # frame is cut at its ']' instead, which escaping keeps out of the content.
    content = unescape(content)
    command, _, rest = content.partition(b",")
    if not command:
        raise FrameError("watch: frame has no command")
    text = rest.decode("ascii", errors="replace")
    return WatchFrame(
        maker=maker.decode("ascii"),
        device_id=device_id.decode("ascii"),
        index=None if index is None else index.decode("ascii"),
        command=command.decode("ascii", errors="replace"),
        fields=tuple(text.split(",")) if rest else (),
    )


def _is_hex4(value: bytes) -> bool:
    return len(value) == 4 and _HEX.issuperset(value)


def encode_frame(maker: str, device_id: str, content: str, index: str | None = None) -> bytes:
    """A frame carrying `content` (a reply, or a device's message in tests and the simulator)."""
    header = f"[{maker}*{device_id}*" + (f"{index}*" if index is not None else "")
    return f"{header}{len(content.encode('ascii')):04X}*{content}]".encode("ascii")


def reply_to(frame: WatchFrame, *, reply_to_locations: bool = False) -> bytes | None:
    """What the device expects back for `frame`, or None when it expects nothing.

    An alarm is answered ``AL`` and the keep-alive ``LK``; location reports are answered (``UD``, …) only by
    firmware configured to expect it (`reply_to_locations`).
    """
    if frame.is_alarm:
        content: str | None = "AL"
    elif frame.is_position and reply_to_locations:
        content = frame.command
    else:
        content = _REPLIES.get(frame.command)
    if content is None:
        return None
    return encode_frame(frame.maker, frame.device_id, content, frame.index)


class FrameSplitter:
    """Cuts a byte stream into frames, however the bytes were split across reads.

    `feed` returns, in stream order, whole frames (``bytes``) and refused stretches (`Refused`): bytes
    before a ``[`` and a frame growing past `max_frame` without its ``]``. The frames are not checked here
    (`parse_frame` does that, with a reason for the operator).
    """

    def __init__(self, max_frame: int = FRAME_MAX) -> None:
        self._max = max_frame
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buffer)

    def take_rest(self) -> bytes:
        """The bytes held for an unfinished frame, forgetting them (the stream ended)."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest

    def feed(self, data: bytes) -> list[bytes | Refused]:
        """Add `data`; return what is now complete."""
        buffer = self._buffer
        buffer += data
        out: list[bytes | Refused] = []
        while buffer:
            start = buffer.find(b"[")
            if start != 0:
                junk = bytes(buffer if start < 0 else buffer[:start])
                del buffer[: len(junk)]
                if junk.strip(b"\r\n\x00 "):  # line ends and padding between frames are harmless
                    out.append(Refused(junk[: self._max], "watch: bytes outside a frame (no '[')"))
                continue
            end = buffer.find(b"]")
            if end < 0:
                if len(buffer) > self._max:
                    out.append(
                        Refused(
                            bytes(buffer[: self._max]),
                            f"watch: frame longer than {self._max} bytes without ']'",
                        )
                    )
                    buffer.clear()
                break
            restart = buffer.find(b"[", 1, end)
            if restart > 0:  # a '[' inside a frame: what precedes it was cut short (a lost read)
                out.append(Refused(bytes(buffer[:restart]), "watch: frame cut short by a new '['"))
                del buffer[:restart]
                continue
            if end + 1 > self._max:
                out.append(Refused(bytes(buffer[: self._max]), f"watch: frame longer than {self._max} bytes"))
            else:
                out.append(bytes(buffer[: end + 1]))
            del buffer[: end + 1]
        return out


@dataclass(frozen=True, slots=True)
class Refused:
    """Bytes of a stream that are no frame, with the reason (quarantined by the source)."""

    data: bytes
    reason: str
