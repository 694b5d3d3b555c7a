"""What the register must say about a 433 MHz sensor before the hub can read it."""

from __future__ import annotations

from tests.devices.fixture_cases import REGISTRY


def test_a_door_contact_needs_two_different_codes() -> None:
    problems = REGISTRY.settings_problems("rtl_433", "ev1527_door", {})
    assert [f for f, _ in problems] == ["settings.close_cmd", "settings.open_cmd"]
    same = REGISTRY.settings_problems("rtl_433", "ev1527_door", {"open_cmd": 10, "close_cmd": 10})
    assert same == [("settings.close_cmd", "open_cmd and close_cmd must be different codes")]
    assert REGISTRY.settings_problems("rtl_433", "ev1527_door", {"open_cmd": 10, "close_cmd": 14}) == []


def test_a_code_setting_outside_the_8_bit_command_is_named() -> None:
    problems = REGISTRY.settings_problems("rtl_433", "ev1527_sos", {"cmd": 300})
    assert len(problems) == 1
    assert problems[0][0] == "settings.cmd"
    assert "0..255" in problems[0][1] and "300" in problems[0][1]
    assert REGISTRY.settings_problems("rtl_433", "ev1527_door", {"open_cmd": "10", "close_cmd": 14})[0][
        0
    ] == ("settings.open_cmd")
