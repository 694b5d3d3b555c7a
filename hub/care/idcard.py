"""Chinese resident identity numbers (GB 11643-1999): checksum, birth date, sex, masking.

Pure functions, no I/O. `check_id_number` returns the normalised number or raises `ValueError` with a
message naming what is wrong, so importers can report it against a row and field.
"""

from __future__ import annotations

import re
from datetime import date

# ISO 7064 MOD 11-2 weights of the first 17 digits, and the check character for each remainder.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"\d{17}[\dX]")


def check_character(first17: str) -> str:
    """The GB 11643 check character for the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def check_id_number(value: str) -> str:
    """Validate an 18-character 居民身份证号码 and return it upper-cased; raise ValueError if it is wrong."""
    number = value.strip().upper()
    if not _SHAPE.fullmatch(number):
        raise ValueError(f"身份证号应为18位（17位数字加1位数字或X），实际为 {len(number)} 位")
    try:
        date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise ValueError(f"身份证号中的出生日期 {number[6:14]} 无效") from exc
    expected = check_character(number[:17])
    if number[17] != expected:
        raise ValueError(f"身份证号校验码错误（应为 {expected}，实际为 {number[17]}）")
    return number


def birth_date(number: str) -> date:
    """The birth date encoded in a valid ID number."""
    return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))


def sex_of(number: str) -> str:
    """男 or 女, from the 17th digit (odd = male)."""
    return "男" if int(number[16]) % 2 else "女"


def mask_id(number: str | None) -> str:
    """The number with all but the first 3 and last 4 characters hidden (500***********1234)."""
    if not number:
        return ""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_phone(phone: str | None) -> str:
    """A phone number with its middle hidden (138****5678)."""
    if not phone:
        return ""
    if len(phone) <= 7:
        return phone[:1] + "*" * (len(phone) - 1)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


# A phone number inside free text: seven or more digits in a row (mobile, landline with area code, +86…).
_PHONE_IN_TEXT = re.compile(r"\+?\d{7,}")


def mask_phones(text: str | None) -> str:
    """`text` with every phone number in it masked by `mask_phone` (timeline entries, delivery errors)."""
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group()), text or "")
