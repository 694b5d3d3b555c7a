"""CJ/T 188 frame codec against the example frames of DEVICE_FORMATS.md."""

from __future__ import annotations

import pytest

from hub.devices.cjt188 import (
    DI_CUMULATIVE_FLOW,
    build_read_request,
    checksum,
    complete_frame_length,
    parse_frame,
)
from hub.devices.errors import DeviceError

DOC_REQUEST = bytes.fromhex("68 10 12 00 00 00 00 00 00 01 03 90 1F 00 3D 16")
DOC_RESPONSE = bytes.fromhex(
    "FE FE FE 68 10 12 00 00 00 00 00 00 81 16 90 1F 00 10 00 10 00 2C 10 00 10 00 2C"
    " 00 00 00 00 00 00 00 00 FF 67 16"
)


def test_read_request_matches_the_documented_frame() -> None:
    assert build_read_request("00000000000012") == DOC_REQUEST


def test_read_request_carries_address_low_byte_first_and_ser() -> None:
    frame = build_read_request("12345678901234", ser=7)
    assert frame[2:9] == bytes.fromhex("34 12 90 78 56 34 12")
    assert frame[13] == 7
    assert frame[-2] == checksum(frame[:-2])


@pytest.mark.parametrize("address", ["12", "0000000000001G", "000000000000123"])
def test_read_request_refuses_bad_addresses(address: str) -> None:
    with pytest.raises(DeviceError, match="14 hex digits"):
        build_read_request(address)


def test_documented_response_is_1000_10_cubic_metres() -> None:
    frame = parse_frame(DOC_RESPONSE)
    assert frame.address == "00000000000012"
    assert frame.meter_type == 0x10
    assert frame.control == 0x81
    assert frame.di == DI_CUMULATIVE_FLOW
    assert frame.total_litres == 1_000_100
    assert frame.battery_low is False


def test_di_in_either_byte_order() -> None:
    swapped = DOC_RESPONSE.replace(bytes.fromhex("90 1F 00 10"), bytes.fromhex("1F 90 00 10"))
    assert swapped != DOC_RESPONSE
    assert parse_frame(swapped).total_litres == parse_frame(DOC_RESPONSE).total_litres == 1_000_100


def test_preamble_is_optional() -> None:
    assert parse_frame(DOC_RESPONSE.lstrip(b"\xfe")).total_litres == 1_000_100


def test_request_frames_parse_too() -> None:
    frame = parse_frame(DOC_REQUEST)
    assert (frame.control, frame.di, frame.ser, frame.total_litres) == (0x01, DI_CUMULATIVE_FLOW, 0, None)


def _with_checksum(body: bytes) -> bytes:
    return body + bytes((checksum(body), 0x16))


def test_litre_unit() -> None:
    body = bytes.fromhex("68 10 12 00 00 00 00 00 00 81 08 90 1F 00 99 99 99 99 29")
    assert parse_frame(_with_checksum(body)).total_litres == pytest.approx(999999.99)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (DOC_RESPONSE[:-2] + b"\x68\x16", "checksum mismatch"),
        (DOC_RESPONSE[:-1] + b"\x17", "does not end with 16"),
        (DOC_RESPONSE[:-5], "truncated"),
        (DOC_RESPONSE + b"\x00", "trailing bytes"),
        (b"\xfe\xfe\x68\x10", "too short"),
        (b"\x00" * 20, "does not start with 68"),
        (
            _with_checksum(bytes.fromhex("68 10 12 00 00 00 00 00 00 C1 03 00 00 01")),
            "answered with an error",
        ),
        (
            _with_checksum(bytes.fromhex("68 10 12 00 00 00 00 00 00 81 08 90 1F 00 1A 00 00 00 2C")),
            "not BCD",
        ),
        (_with_checksum(bytes.fromhex("68 10 12 00 00 00 00 00 00 81 08 90 1F 00 10 00 00 00 05")), "unit"),
    ],
)
def test_bad_frames_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(DeviceError, match=reason):
        parse_frame(data)


def test_complete_frame_length_waits_for_the_whole_frame() -> None:
    for cut in range(len(DOC_RESPONSE)):
        assert complete_frame_length(DOC_RESPONSE[:cut]) is None
    assert complete_frame_length(DOC_RESPONSE) == len(DOC_RESPONSE)
    assert complete_frame_length(DOC_RESPONSE + b"\x00\x01") == len(DOC_RESPONSE)
