"""An append-only, fsynced, crash-safe file of batches waiting to be sent (blocking I/O, one thread only).

Record layout (all integers big-endian)::

    magic b"SPL1" | payload length u32 | reading count u32 | crc32(payload) u32 | payload bytes

A record is durable once `append` returns (written and fsynced). A crash during `append` can leave a torn
last record; `open` finds it (short header, short payload or bad CRC), moves the damaged bytes aside into
``damaged-<time>.bin`` in the same folder (never silently dropped) and truncates the spool to its last
good record. The torn record's `append` never returned, so its caller never took it as stored.

Records are consumed in order with `peek` / `advance`; when the cursor reaches the end of the file the file
is truncated to zero. Every method must be called from the same single thread (the store's I/O worker),
which is what makes "cursor at the end → truncate" safe against concurrent appends.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

LOGGER = logging.getLogger(__name__)

MAGIC = b"SPL1"
_HEADER = struct.Struct(">4sIII")
HEADER_SIZE = _HEADER.size


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    """One batch read back from a spool: its payload and how many readings it holds."""

    payload: bytes
    count: int


def encode_record(payload: bytes, count: int) -> bytes:
    """The on-disk bytes of one record."""
    return _HEADER.pack(MAGIC, len(payload), count, zlib.crc32(payload)) + payload


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """One spool file: append records durably, read them back in order, truncate when all are consumed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: Opened | None = None
        self._cursor = 0  # offset of the next record to hand out
        self._end = 0  # offset just past the last good record
        self.pending_records = 0
        self.pending_readings = 0

    def open(self) -> None:
        """Open (creating) the file, check every record, set aside a torn or damaged tail."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        handle = Opened(fd)
        if created:
            _fsync_dir(self.path.parent)
        size = os.fstat(fd).st_size
        offset = records = readings = 0
        while offset < size:
            header = os.pread(fd, HEADER_SIZE, offset)
            if len(header) < HEADER_SIZE:
                break
            magic, length, count, crc = _HEADER.unpack(header)
            if magic != MAGIC:
                break
            payload = os.pread(fd, length, offset + HEADER_SIZE)
            if len(payload) < length or zlib.crc32(payload) != crc:
                break
            offset += HEADER_SIZE + length
            records += 1
            readings += count
        if offset < size:
            self._set_aside(fd, offset, size)
            os.ftruncate(fd, offset)
            os.fsync(fd)
        self._file = handle
        self._cursor = 0
        self._end = offset
        self.pending_records = records
        self.pending_readings = readings

    def _set_aside(self, fd: int, start: int, size: int) -> None:
        damaged = os.pread(fd, size - start, start)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"damaged-{self.path.stem}-{stamp}.bin")
        with open(target, "wb") as out:
            out.write(damaged)
            out.flush()
            os.fsync(out.fileno())
        _fsync_dir(self.path.parent)
        LOGGER.error(
            "spool %s: %d bytes after offset %d are torn or damaged (a crash during a write?); "
            "moved them to %s and kept the %d bytes before",
            self.path,
            size - start,
            start,
            target,
            start,
        )

    def _fd(self) -> int:
        if self._file is None:
            raise RuntimeError(f"spool {self.path} is not open")
        return self._file.fd

    def append(self, payload: bytes, count: int) -> None:
        """Append one record and fsync; on return it survives a crash."""
        fd = self._fd()
        data = encode_record(payload, count)
        written = os.pwrite(fd, data, self._end)
        if written != len(data):
            # Leave the partial bytes past _end: the next append overwrites them, `open` discards them.
            raise OSError(f"short write to spool {self.path}: {written} of {len(data)} bytes")
        os.fsync(fd)
        self._end += len(data)
        self.pending_records += 1
        self.pending_readings += count

    def peek(self) -> SpoolRecord | None:
        """The oldest record not yet consumed, or None when all are consumed."""
        fd = self._fd()
        if self._cursor >= self._end:
            return None
        _magic, length, count, _crc = _HEADER.unpack(os.pread(fd, HEADER_SIZE, self._cursor))
        return SpoolRecord(os.pread(fd, length, self._cursor + HEADER_SIZE), count)

    def advance(self) -> None:
        """Mark the record `peek` returned as consumed; truncate the file once every record is."""
        fd = self._fd()
        _magic, length, count, _crc = _HEADER.unpack(os.pread(fd, HEADER_SIZE, self._cursor))
        self._cursor += HEADER_SIZE + length
        self.pending_records -= 1
        self.pending_readings -= count
        if self._cursor >= self._end:
            os.ftruncate(fd, 0)
            os.fsync(fd)
            self._cursor = self._end = 0

    def close(self) -> None:
        """Close the file (records not consumed stay in it for the next `open`)."""
        if self._file is not None:
            os.close(self._file.fd)
            self._file = None


@dataclass(slots=True)
class Opened:
    """An open file descriptor (a tiny holder so `Spool` can tell open from closed)."""

    fd: int
