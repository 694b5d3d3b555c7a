"""4G SOS pendants and watches of the "watch" protocol family (topic ``watch/<device id>/<command>``).

The payload is the whole frame as the device sent it (hub/devices/watch.py); the TCP source
(hub/sources/watch_tcp.py) names the topic. What each command gives:

- ``LK[,steps,rolls,battery]`` (keep-alive) → AVAILABILITY 1, and STEPS/BATTERY when present.
- ``UD``/``UD2``/``UD_LTE``/``UD_WCDMA``/``WT`` (location) and ``AL``/``AL_LTE``/… (alarm), with the body
  ``date,time,A|V,lat,N|S,lon,E|W,speed,course,altitude,satellites,gsm,battery %,steps,rolls,status hex,…``
  → BATTERY, STEPS, BATTERY_LOW; LATITUDE/LONGITUDE/GEO_DATUM when the fix is valid (``A``); from the
  status bits: 16 SOS, 21 or 22 fall, 20 taken off the wrist (WRIST_OFF 1), 0 or 17 low battery.
- ``heart``/``PULSE`` (bpm; 0 = no measurement), ``bphrt`` (systolic, diastolic, bpm), ``BLOOD``
  (systolic, diastolic), ``btemp2`` (flag, °C).

Datum: a valid GPS fix is WGS-84. Some firmware resolves its position through a Chinese map provider's
LBS/Wi-Fi service and reports GCJ-02 instead; such a device is registered with ``settings.datum: gcj02`` and
its readings carry GEO_DATUM 1, so nothing downstream mistakes one datum for the other. The hub itself does
not resolve cell towers or Wi-Fi networks into positions.

Device time: the frame's date and time, in UTC unless ``settings.timezone`` names the zone the device's clock
is set to; the device-time policy replaces an implausible one with the receipt time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hub.devices.ecosystems import WATCH
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.devices.watch import WatchFrame, parse_frame
from hub.models import Reading, Signal

DATUMS = {"wgs84": 0.0, "gcj02": 1.0}
# Commands that carry nothing the hub keeps (voice notes, pictures, configuration echoes, link set-up).
_NOTHING = frozenset({"TKQ", "TKQ2", "INIT", "TK", "JXTK", "img", "hrtstart", "CONFIG", "UPLOAD", "CR"})
_SOS_BIT, _FALL_BITS, _OFF_WRIST_BIT, _LOW_BATTERY_BITS = 16, (21, 22), 20, (0, 17)
_BODY_FIELDS = 16  # date … status: the cell and Wi-Fi lists after them are not read


def _datum(settings: Mapping[str, Any]) -> float:
    name = settings.get("datum", "wgs84")
    if name not in DATUMS:
        raise DeviceError(f"setting 'datum' must be one of {', '.join(DATUMS)}, got {name!r}")
    return DATUMS[name]


def _zone(settings: Mapping[str, Any]) -> tzinfo:
    name = settings.get("timezone", "UTC")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DeviceError(f"setting 'timezone' is not a known time zone: {name!r}") from exc


def _check_settings(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    problems = []
    for name, read in (("datum", _datum), ("timezone", _zone)):
        try:
            read(settings)
        except DeviceError as exc:
            problems.append((f"settings.{name}", str(exc)))
    return problems


def _int(value: str, field: str) -> int:
    try:
        return int(value.strip())
    except ValueError as exc:
        raise DeviceError(f"watch: field '{field}' must be a whole number, got {value!r}") from exc


def _float(value: str, field: str) -> float:
    try:
        return float(value.strip())
    except ValueError as exc:
        raise DeviceError(f"watch: field '{field}' must be a number, got {value!r}") from exc


def _device_time(date: str, time: str, zone: tzinfo, received_at: datetime) -> datetime:
    """ddmmyy + hhmmss in the device's zone; receipt time when the device has no date yet (all zeros)."""
    if date.strip("0") == "":
        return received_at
    try:
        local = datetime.strptime(date + time, "%d%m%y%H%M%S")
    except ValueError as exc:
        raise DeviceError(f"watch: date/time must be ddmmyy,hhmmss, got {date!r},{time!r}") from exc
    return local.replace(tzinfo=zone).astimezone(UTC)


def _coordinate(value: str, hemisphere: str, field: str) -> float:
    number = _float(value, field)
    # Some firmware writes a signed number and the hemisphere letter both (-84.14,W): the letter decides.
    return -abs(number) if hemisphere in ("S", "W") else number


def _position(frame: WatchFrame, binding: Binding, received_at: datetime) -> list[Reading]:
    f = frame.fields
    if len(f) < _BODY_FIELDS:
        raise DeviceError(f"watch: {frame.command} needs at least {_BODY_FIELDS} fields, got {len(f)}")
    ts = _device_time(f[0], f[1], _zone(binding.settings), received_at)
    try:
        status = int(f[15], 16)
    except ValueError as exc:
        raise DeviceError(f"watch: status must be hex digits, got {f[15]!r}") from exc
    pairs: list[tuple[Signal, float]] = [
        (Signal.BATTERY, float(_int(f[12], "battery"))),
        (Signal.STEPS, float(_int(f[13], "steps"))),
        (Signal.BATTERY_LOW, 1.0 if any(status >> bit & 1 for bit in _LOW_BATTERY_BITS) else 0.0),
    ]
    if f[2] == "A":
        # Datum first: the safe-zone rule puts one position together from these three, in this order.
        pairs += [
            (Signal.GEO_DATUM, _datum(binding.settings)),
            (Signal.LATITUDE, _coordinate(f[3], f[4], "latitude")),
            (Signal.LONGITUDE, _coordinate(f[5], f[6], "longitude")),
        ]
    elif f[2] != "V":
        raise DeviceError(f"watch: validity must be A or V, got {f[2]!r}")
    # Only a set bit is news: SOS 0 would mean "cancelled by the elder", which these devices never say.
    if status >> _SOS_BIT & 1:
        pairs.append((Signal.SOS, 1.0))
    if any(status >> bit & 1 for bit in _FALL_BITS):
        pairs.append((Signal.FALL, 1.0))
    if status >> _OFF_WRIST_BIT & 1:
        pairs.append((Signal.WRIST_OFF, 1.0))
    return [Reading(binding.home, binding.device, signal, value, ts) for signal, value in pairs]


def _vitals(frame: WatchFrame, binding: Binding, received_at: datetime) -> list[Reading]:
    command = frame.command.lower()
    f = [v for v in frame.fields if v.strip()]
    pairs: list[tuple[Signal, float]] = []
    if command == "btemp2":
        if len(f) >= 2 and _int(f[0], "measured") > 0:
            pairs.append((Signal.BODY_TEMP, _float(f[1], "temperature")))
    else:
        if command in ("bphrt", "blood"):
            if len(f) < 2:
                raise DeviceError(f"watch: {frame.command} needs systolic and diastolic pressure")
            pairs += [
                (Signal.BP_SYSTOLIC, float(_int(f[0], "systolic"))),
                (Signal.BP_DIASTOLIC, float(_int(f[1], "diastolic"))),
            ]
            f = f[2:]
        if f and (bpm := _int(f[0], "heart rate")) > 0:  # 0: the watch could not measure
            pairs.append((Signal.HEART_RATE, float(bpm)))
    # These commands carry no time of their own: they are measured as they are sent.
    return [Reading(binding.home, binding.device, signal, value, received_at) for signal, value in pairs]


def _link(frame: WatchFrame, binding: Binding, received_at: datetime) -> list[Reading]:
    pairs = [(Signal.AVAILABILITY, 1.0)]
    f = frame.fields
    if len(f) >= 3:  # LK,steps,rolls,battery
        pairs += [(Signal.STEPS, float(_int(f[0], "steps"))), (Signal.BATTERY, float(_int(f[2], "battery")))]
    return [Reading(binding.home, binding.device, signal, value, received_at) for signal, value in pairs]


_VITALS = frozenset({"heart", "pulse", "bphrt", "blood", "btemp2"})


def _decode(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
    frame = parse_frame(payload)
    if frame.device_id != route.external_id:
        raise DeviceError(f"watch: frame of device {frame.device_id} on the topic of {route.external_id}")
    if frame.command == "LK":
        return _link(frame, binding, received_at)
    if frame.is_position:
        return _position(frame, binding, received_at)
    if frame.command.lower() in _VITALS:
        return _vitals(frame, binding, received_at)
    if frame.command in _NOTHING:
        return []
    raise DeviceError(f"watch: unknown command {frame.command!r}")


_EXPOSES = frozenset(
    {
        Signal.AVAILABILITY,
        Signal.BATTERY,
        Signal.BATTERY_LOW,
        Signal.STEPS,
        Signal.LATITUDE,
        Signal.LONGITUDE,
        Signal.GEO_DATUM,
        Signal.SOS,
        Signal.FALL,
        Signal.WRIST_OFF,
        Signal.HEART_RATE,
        Signal.BP_SYSTOLIC,
        Signal.BP_DIASTOLIC,
        Signal.BODY_TEMP,
    }
)

DEFINITIONS: tuple[DeviceDefinition, ...] = (
    DeviceDefinition(
        ecosystem=WATCH,
        model="4g_watch",
        vendor="3G/SG/CS watch protocol",
        description=(
            "4G SOS pendant or watch speaking the [3G*id*len*cmd] watch protocol over TCP: SOS, fall, taken "
            "off the wrist and low battery from the status bits of AL/UD, location (WGS-84, or GCJ-02 with "
            "settings.datum: gcj02), steps, battery, heart rate, blood pressure, body temperature."
        ),
        decode=_decode,
        exposes=_EXPOSES,
        check_settings=_check_settings,
    ),
)
