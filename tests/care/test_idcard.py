"""GB 11643 checksum, birth date, sex and masking."""

from __future__ import annotations

from datetime import date

import pytest

from hub.care.idcard import birth_date, check_id_number, mask_id, mask_phone, mask_phones, sex_of


def test_known_valid_number_passes_and_lower_x_is_normalised() -> None:
    # 11010519491231002X is the standard's own example.
    assert check_id_number("11010519491231002x") == "11010519491231002X"
    assert birth_date("11010519491231002X") == date(1949, 12, 31)
    assert sex_of("11010519491231002X") == "女"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("110105194912310021", "校验码错误"),
        ("11010519491331002X", "出生日期"),
        ("1101051949123100", "18位"),
    ],
)
def test_bad_numbers_say_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_id_number(value)


def test_masking_keeps_only_the_ends() -> None:
    assert mask_id("500112194503051234") == "500***********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_id(None) == ""


def test_phones_in_free_text_are_masked_and_the_rest_is_kept() -> None:
    text = "13812345678 经短信接单；+8613812345678 失败于 2026-11-28 08:00（A37，编号 123456）"
    assert (
        mask_phones(text)
        == "138****5678 经短信接单；+86*******5678 失败于 2026-11-28 08:00（A37，编号 123456）"
    )
    assert mask_phones("group") == "group" and mask_phones(None) == ""
