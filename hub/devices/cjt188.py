"""Pure CJ/T 188 frame codec (Chinese household water/heat/gas meters over M-Bus or RS-485).

Frame: optional ``FE`` preamble, ``68``, T (meter type), A0..A6 (BCD address, low byte first), C (control),
L (data length), DATA, CS (sum of ``68``..last data byte mod 256), ``16``.

Reading the cumulative flow: request C=``01`` with DI ``90 1F`` + SER; the reply (C=``81``; ``C1`` = error)
holds DI, SER, the current cumulative flow as 4 BCD bytes low-first (XXXXXX.XX) plus a unit byte
(``2C`` = m³, ``29`` = L), the settlement-day flow (same shape), the meter's clock (7 bytes) and 2 status
bytes (ST1 bit 2 = battery low). Implementations disagree on the DI byte order, so both are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.devices.errors import DeviceError

PREAMBLE = 0xFE
START = 0x68
END = 0x16
COLD_WATER = 0x10
READ_DATA = 0x01
READ_DATA_REPLY = 0x81
DI_CUMULATIVE_FLOW = 0x901F

_ERROR_BIT = 0x40  # set in the reply's control code when the meter refuses the request (C1)
_UNIT_CENTILITRES = {0x2C: 1000, 0x29: 1}  # unit code → litres per unit; values are in hundredths
_MIN_FRAME = 13  # 68 T A0..A6 C L CS 16 with no data
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class Cjt188Frame:
    """One checked frame. `total_litres`/`battery_low` are set for a cumulative-flow reply (C=81, DI 901F)."""

    meter_type: int
    address: str  # 14 hex digits, most significant first, upper case ("00000000000012")
    control: int
    data: bytes  # the DATA field, L bytes
    di: int | None = None  # DI normalised so 90 1F and 1F 90 both read 0x901F
    ser: int | None = None
    total_litres: float | None = None
    battery_low: bool | None = None


def _address_bytes(address: str) -> bytes:
    if len(address) != 14 or not _HEX.issuperset(address):
        raise DeviceError(f"CJ/T 188 address must be 14 hex digits, got {address!r}")
    return bytes.fromhex(address)[::-1]


def checksum(frame: bytes | bytearray) -> int:
    """The CS byte: the sum of `frame` (from ``68`` through the last data byte) mod 256."""
    return sum(frame) & 0xFF


def build_read_request(address: str, ser: int = 0, meter_type: int = COLD_WATER) -> bytes:
    """A "read current cumulative flow" request (C=01, DI 90 1F) for the meter at `address`."""
    if not 0 <= ser <= 0xFF:
        raise ValueError(f"SER must be 0..255, got {ser}")
    body = bytes((START, meter_type)) + _address_bytes(address) + bytes((READ_DATA, 3, 0x90, 0x1F, ser))
    return body + bytes((checksum(body), END))


def complete_frame_length(buffer: bytes | bytearray) -> int | None:
    """How many leading bytes of `buffer` (preamble included) make one whole frame, or None if not yet.

    Used by the serial reader to stop reading as soon as a frame is in; it does not check the frame.
    """
    start = 0
    n = len(buffer)
    while start < n and buffer[start] == PREAMBLE:
        start += 1
    if n - start < _MIN_FRAME or buffer[start] != START:
        return None
    total = start + 11 + buffer[start + 10] + 2
    return total if n >= total else None


def _bcd(data: bytes, what: str) -> int:
    """Little-endian packed BCD bytes as an integer."""
    value = 0
    for byte in reversed(data):
        high, low = byte >> 4, byte & 0x0F
        if high > 9 or low > 9:
            raise DeviceError(f"CJ/T 188 {what} is not BCD: {data.hex(' ').upper()}")
        value = value * 100 + high * 10 + low
    return value


def parse_frame(data: bytes) -> Cjt188Frame:
    """Check and parse one frame; `DeviceError` names what is wrong (start, length, CS, end, error reply)."""
    start = 0
    while start < len(data) and data[start] == PREAMBLE:
        start += 1
    if start < len(data) and data[start] != START:
        raise DeviceError(f"CJ/T 188 frame does not start with 68: {data[:32].hex(' ').upper()}")
    if len(data) - start < _MIN_FRAME:
        raise DeviceError(f"CJ/T 188 frame too short ({len(data) - start} bytes): {data.hex(' ').upper()}")
    length = data[start + 10]
    end = start + 11 + length  # index of CS
    if len(data) < end + 2:
        raise DeviceError(f"CJ/T 188 frame truncated: L={length}, got {len(data) - start} bytes")
    if len(data) > end + 2:
        raise DeviceError(f"CJ/T 188 frame has {len(data) - end - 2} trailing bytes after 16")
    expected = checksum(data[start:end])
    if data[end] != expected:
        raise DeviceError(f"CJ/T 188 checksum mismatch: CS={data[end]:02X}, computed {expected:02X}")
    if data[end + 1] != END:
        raise DeviceError(f"CJ/T 188 frame does not end with 16 (got {data[end + 1]:02X})")
    meter_type = data[start + 1]
    address = data[start + 2 : start + 9][::-1].hex().upper()
    control = data[start + 9]
    payload = bytes(data[start + 11 : end])
    if control & 0x80 and control & _ERROR_BIT:
        status = payload[-1:].hex().upper() or "none"
        raise DeviceError(
            f"CJ/T 188 meter {address} answered with an error (C={control:02X}, status {status})"
        )
    if length < 3:
        return Cjt188Frame(meter_type, address, control, payload)
    di = (payload[0] << 8) | payload[1]
    if di == 0x1F90:  # the other byte order some implementations use
        di = DI_CUMULATIVE_FLOW
    ser = payload[2]
    if control != READ_DATA_REPLY or di != DI_CUMULATIVE_FLOW:
        return Cjt188Frame(meter_type, address, control, payload, di, ser)
    if length < 8:
        raise DeviceError(f"CJ/T 188 flow reply too short for the cumulative flow: L={length}")
    unit = payload[7]
    litres_per_unit = _UNIT_CENTILITRES.get(unit)
    if litres_per_unit is None:
        raise DeviceError(f"CJ/T 188 unknown flow unit code {unit:02X} (expected 2C = m³ or 29 = L)")
    hundredths = _bcd(payload[3:7], "cumulative flow")
    # Integer arithmetic first so 1000.10 m³ is exactly 1 000 100 L.
    total = hundredths * litres_per_unit / 100
    battery_low = bool(payload[20] & 0x04) if length >= 22 else None
    return Cjt188Frame(meter_type, address, control, payload, di, ser, total, battery_low)
