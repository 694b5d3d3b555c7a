"""433 MHz EV1527/PT2262 sensors decoded by ``rtl_433`` and published with its ``devices`` MQTT output.

The cheapest SOS buttons, door contacts and PIRs send a fixed 24-bit code by on-off keying. rtl_433's
``Generic-Remote`` decoder splits it into ``id`` (the upper 16 bits, "house code") and ``cmd`` (the lower 8),
and its MQTT ``devices`` output publishes each field on its own topic,
``rtl_433/<host>/devices/Generic-Remote/<id>/cmd`` (payload the number as text), beside ``…/tristate`` and the
like. The external id is the path after ``devices/`` (``Generic-Remote/<id>``, the code as rtl_433 names
it); the ``cmd`` message is the event, every other field is no reading.

A code has no state: a press, an opening, a movement each send it (several times per press — rtl_433 reports
every repeat; the alert machinery merges repeats of an SOS into one alert). So:

- ``ev1527_sos``: a ``cmd`` is an SOS press (SOS 1). With setting ``cmd`` only that value is, so one house code
  shared by a remote's buttons can be bound button by button; other buttons give no reading.
- ``ev1527_pir``: a ``cmd`` is a movement (MOTION 1), or only setting ``cmd`` when given.
- ``ev1527_door``: door contacts send one code on opening and another on closing; settings ``open_cmd`` and
  ``close_cmd`` say which (CONTACT 1 open / 0 closed). Any other ``cmd`` (a tamper or low-battery code of
  some models) is refused with the codes it knows, so the installer learns what the sensor sends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from hub.devices import convert as m
from hub.devices.ecosystems import RTL433
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.models import Reading, Signal

_EVENT_FIELD = "cmd"
_CMD_MAX = 0xFF


def _cmd_of(payload: bytes, what: str) -> int:
    text = m.payload_text(payload, f"{what} cmd")
    if not text.isdigit() or int(text) > _CMD_MAX:
        raise DeviceError(f"{what}: field 'cmd' must be a number 0..255, got {text!r}")
    return int(text)


def _setting_cmd(settings: Mapping[str, Any], name: str, what: str) -> int | None:
    """The optional command code setting `name` (0..255); `DeviceError` naming it when it is not one."""
    if name not in settings:
        return None
    value = settings[name]
    if type(value) is not int or not 0 <= value <= _CMD_MAX:
        raise DeviceError(f"setting '{name}' of {what} must be a command code 0..255, got {value!r}")
    return value


def _checker(*names: str, what: str) -> Callable[[Mapping[str, Any]], list[tuple[str, str]]]:
    def check(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for name in names:
            problems += m.setting_problem(settings, partial(_setting_cmd, settings, name, what), name)
        return problems

    return check


def _press_device(model: str, signal: Signal, description: str) -> DeviceDefinition:
    """A sensor whose every code (or the one in setting ``cmd``) means `signal` 1."""
    what = f"rtl_433 {model}"

    def decode(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
        if route.channel != _EVENT_FIELD:
            return []
        cmd = _cmd_of(payload, what)
        wanted = _setting_cmd(binding.settings, "cmd", what)
        if wanted is not None and cmd != wanted:
            return []
        return [Reading(binding.home, binding.device, signal, 1.0, received_at)]

    return DeviceDefinition(
        ecosystem=RTL433,
        model=model,
        vendor="EV1527/PT2262 (433 MHz)",
        description=description,
        decode=decode,
        exposes=frozenset({signal}),
        check_settings=_checker("cmd", what=what),
    )


def _decode_door(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
    what = "rtl_433 ev1527_door"
    if route.channel != _EVENT_FIELD:
        return []
    cmd = _cmd_of(payload, what)
    codes = {
        _setting_cmd(binding.settings, "open_cmd", what): 1.0,
        _setting_cmd(binding.settings, "close_cmd", what): 0.0,
    }
    value = codes.get(cmd)
    if value is None:
        raise DeviceError(
            f"{what}: cmd {cmd} is neither open_cmd ({binding.settings.get('open_cmd')}) nor close_cmd "
            f"({binding.settings.get('close_cmd')}) of this door contact"
        )
    return [Reading(binding.home, binding.device, Signal.CONTACT, value, received_at)]


def _check_door(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = _checker("open_cmd", "close_cmd", what="rtl_433 ev1527_door")(settings)
    if not problems and "open_cmd" in settings and settings.get("open_cmd") == settings.get("close_cmd"):
        problems.append(("settings.close_cmd", "open_cmd and close_cmd must be different codes"))
    return problems


DEFINITIONS: tuple[DeviceDefinition, ...] = (
    _press_device(
        "ev1527_sos",
        Signal.SOS,
        "433 MHz EV1527 SOS button (一键呼叫), rtl_433 Generic-Remote: a code is an SOS press; "
        "optional setting 'cmd' picks one button of a shared house code",
    ),
    _press_device(
        "ev1527_pir",
        Signal.MOTION,
        "433 MHz EV1527 PIR motion sensor (人体感应), rtl_433 Generic-Remote: a code is a movement (MOTION 1); "
        "optional setting 'cmd'",
    ),
    DeviceDefinition(
        ecosystem=RTL433,
        model="ev1527_door",
        vendor="EV1527/PT2262 (433 MHz)",
        description=(
            "433 MHz EV1527 door/window contact (门磁), rtl_433 Generic-Remote: settings 'open_cmd' and "
            "'close_cmd' (0..255) say which code is opening (CONTACT 1) and closing (CONTACT 0)"
        ),
        decode=_decode_door,
        exposes=frozenset({Signal.CONTACT}),
        required_settings=frozenset({"open_cmd", "close_cmd"}),
        check_settings=_check_door,
    ),
)
