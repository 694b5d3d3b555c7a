"""The on-disk spool: order, persistence, torn records after a crash, truncation when drained."""

from __future__ import annotations

from pathlib import Path

from hub.store.spool import HEADER_SIZE, Spool, encode_record


def _drain(spool: Spool) -> list[bytes]:
    out = []
    while (record := spool.peek()) is not None:
        out.append(record.payload)
        spool.advance()
    return out


def test_records_come_back_in_order_and_survive_reopening(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "p.spool")
    spool.open()
    for i in range(3):
        spool.append(f"batch {i}\n".encode(), count=i + 1)
    spool.close()

    again = Spool(tmp_path / "p.spool")
    again.open()
    assert (again.pending_records, again.pending_readings) == (3, 6)
    assert _drain(again) == [b"batch 0\n", b"batch 1\n", b"batch 2\n"]
    assert again.pending_readings == 0
    again.close()


def test_file_is_truncated_once_every_record_is_consumed(tmp_path: Path) -> None:
    path = tmp_path / "p.spool"
    spool = Spool(path)
    spool.open()
    spool.append(b"a", 1)
    spool.append(b"b", 1)
    assert spool.peek() is not None
    spool.advance()
    assert path.stat().st_size > 0  # one record still waiting
    spool.advance()
    assert path.stat().st_size == 0
    spool.append(b"c", 1)  # appends after a drain start from the beginning again
    assert _drain(spool) == [b"c"]
    spool.close()


def test_a_torn_last_record_is_set_aside_and_the_good_ones_kept(tmp_path: Path) -> None:
    path = tmp_path / "p.spool"
    spool = Spool(path)
    spool.open()
    spool.append(b"good one", 1)
    spool.close()
    torn = encode_record(b"half written batch", 5)[: HEADER_SIZE + 4]
    with path.open("ab") as f:
        f.write(torn)

    reopened = Spool(path)
    reopened.open()
    assert (reopened.pending_records, reopened.pending_readings) == (1, 1)
    damaged = list(tmp_path.glob("damaged-*.bin"))
    assert len(damaged) == 1
    assert damaged[0].read_bytes() == torn
    reopened.append(b"after crash", 2)
    assert _drain(reopened) == [b"good one", b"after crash"]
    reopened.close()


def test_a_record_with_a_bad_checksum_is_not_replayed(tmp_path: Path) -> None:
    path = tmp_path / "p.spool"
    spool = Spool(path)
    spool.open()
    spool.append(b"first", 1)
    spool.append(b"second", 1)
    spool.close()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip a bit in the last payload
    path.write_bytes(bytes(data))

    reopened = Spool(path)
    reopened.open()
    assert _drain(reopened) == [b"first"]
    assert len(list(tmp_path.glob("damaged-*.bin"))) == 1
    reopened.close()
