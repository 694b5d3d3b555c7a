"""Synthesizes the radio signal of an EV1527 433 MHz remote as rtl_433 reads it from a file (``.cu8``).

EV1527 sends a 24-bit code as on-off keying, each frame led by a sync pulse: one unit of carrier, then 31
units of silence. A 0 bit is one unit on, three off; a 1 bit three on, one off. A press repeats the frame
several times. The file holds complex unsigned 8-bit I/Q samples (centre 127.5); the carrier sits a little
off the tuned frequency, as a real remote's crystal does, so the file looks like a recording.
"""

from __future__ import annotations

import math
from pathlib import Path

SAMPLE_RATE = 250_000  # Hz; rtl_433 reads the rate from the file name (…_250k.cu8)
UNIT_US = 464  # one timing unit: rtl_433's Generic-Remote decoder expects 464 µs short / 1404 µs long
_OFFSET_HZ = 20_000.0
_AMPLITUDE = 100.0


def ev1527_pulses(code: int, repeats: int = 4) -> list[tuple[bool, int]]:
    """(carrier on?, µs) of `repeats` frames of the 24-bit `code`, closed by a final sync pulse."""
    if not 0 < code < 1 << 24:
        raise ValueError(f"an EV1527 code has 24 bits, got {code:#x}")
    sync = [(True, UNIT_US), (False, 31 * UNIT_US)]
    out: list[tuple[bool, int]] = [(False, 20_000)]
    for _ in range(repeats):
        out += sync
        for bit in range(23, -1, -1):
            one = (code >> bit) & 1
            out += [(True, (3 if one else 1) * UNIT_US), (False, (1 if one else 3) * UNIT_US)]
    out += [*sync, (False, 20_000)]
    return out


def write_cu8(path: Path, pulses: list[tuple[bool, int]]) -> Path:
    """Write `pulses` as complex u8 I/Q samples at `SAMPLE_RATE` to `path`."""
    samples = bytearray()
    n = 0
    step = 2 * math.pi * _OFFSET_HZ / SAMPLE_RATE
    for on, micros in pulses:
        for _ in range(micros * SAMPLE_RATE // 1_000_000):
            amplitude = _AMPLITUDE if on else 1.0
            samples.append(round(127.5 + amplitude * math.cos(step * n)))
            samples.append(round(127.5 + amplitude * math.sin(step * n)))
            n += 1
    path.write_bytes(bytes(samples))
    return path
