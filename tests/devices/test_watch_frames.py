"""The watch protocol's framing: frames cut from any TCP reads, garbage refused with a reason, replies."""

from __future__ import annotations

import pytest

from hub.devices.watch import FrameError, FrameSplitter, Refused, encode_frame, parse_frame, reply_to

LK = b"[3G*4700186508*000B*LK,0,10,100]"
SOS = (
    b"[3G*8809008845*00C0*AL,271219,094744,V,00.000000,N, 0.0000000,E,0.00,0.0,0.0,0,100,81,0,0,00010000,"
    b"7,0,460,0,9336,3981,141,9336,3912,141,9336,3982,140,9765,4233,134,9765,4071,134,9765,4321,134,9336,"
    b"4353,132,0,0.0]"
)
INDEXED = b"[ZJ*357653059860416*0007*000c*BLOOD,109,68]"


def test_frames_split_across_reads_come_out_whole_and_in_order() -> None:
    stream = LK + SOS + INDEXED
    for size in (1, 2, 7, 50, len(stream)):
        splitter = FrameSplitter()
        got: list[bytes | Refused] = []
        for i in range(0, len(stream), size):
            got += splitter.feed(stream[i : i + size])
        assert got == [LK, SOS, INDEXED], f"reads of {size} bytes"
        assert splitter.pending == 0


def test_garbage_is_refused_with_a_reason_and_the_next_frame_still_arrives() -> None:
    splitter = FrameSplitter(max_frame=64)
    got = splitter.feed(b"GET / HTTP/1.1\r\n" + LK + b"\r\n")
    assert got[1:] == [LK]
    assert isinstance(got[0], Refused) and "outside a frame" in got[0].reason
    # A frame that never ends is cut at the limit, not buffered forever.
    got = splitter.feed(b"[3G*1*" + b"x" * 100)
    assert len(got) == 1 and isinstance(got[0], Refused) and "longer than 64" in got[0].reason
    assert splitter.pending == 0
    # A frame cut short by a lost read: what remains before the next '[' is refused, the next one kept.
    got = splitter.feed(b"[3G*4700186508*000B*LK,0" + LK)
    assert isinstance(got[0], Refused) and got[1:] == [LK]


def test_parse_reads_header_index_and_escaped_content() -> None:
    frame = parse_frame(INDEXED)
    assert (frame.maker, frame.device_id, frame.index, frame.command) == (
        "ZJ",
        "357653059860416",
        "0007",
        "BLOOD",
    )
    assert frame.fields == ("109", "68")
    escaped = parse_frame(b"[CS*1234567890*0005*TK,}\x05}\x03]")
    assert escaped.fields == ("*]",)
    with pytest.raises(FrameError, match="unknown escape"):
        parse_frame(b"[CS*1234567890*0005*TK,}\x09]")
    with pytest.raises(FrameError, match="maker must be two"):
        parse_frame(b"[GGG*1*0002*LK]")


def test_replies_the_device_expects() -> None:
    assert reply_to(parse_frame(LK)) == b"[3G*4700186508*0002*LK]"
    assert reply_to(parse_frame(SOS)) == b"[3G*8809008845*0002*AL]"
    assert reply_to(parse_frame(b"[3G*1*000B*AL_LTE,1,2,3]")) == b"[3G*1*0002*AL]"
    ud = parse_frame(b"[3G*1*0005*UD,1,2]")
    assert reply_to(ud) is None
    assert reply_to(ud, reply_to_locations=True) == b"[3G*1*0002*UD]"
    assert reply_to(parse_frame(b"[ZJ*1*0075*0003*TKQ]")) == b"[ZJ*1*0075*0003*TKQ]"
    assert reply_to(parse_frame(INDEXED)) is None
    assert encode_frame("SG", "42", "LK") == b"[SG*42*0002*LK]"
