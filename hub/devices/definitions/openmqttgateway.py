"""BLE health monitors heard by an OpenMQTTGateway (Theengs decoder) and published to MQTT.

OpenMQTTGateway decodes each advertisement with the Theengs decoder and publishes one JSON object on
``home/<gateway>/BTtoMQTT/<MAC>``: ``id`` (the MAC), ``rssi``, ``brand``, ``model``, ``model_id`` and the
decoded properties. A model here is Theengs' ``model_id``; a message whose ``model_id`` names another model
is refused, so a MAC bound to the wrong model is noticed instead of read wrongly.

- Xiaomi scales (XMTZC04HM Mi Smart Scale, XMTZC05HM Mi Body Composition Scale 2): ``weight`` in ``unit``
  ``kg`` or ``lbs`` (converted to kg). Theengs only decodes a stabilised weight. The body composition scale
  also says ``weighing_mode``: ``person`` or ``object`` (someone weighing a suitcase) — only a person's
  weight is a reading. Its ``impedance`` (Ω, for body fat estimates) is not a signal of the hub.
- Xiaomi/Amazfit Mi Band and smart watches (``MB/SW``): ``steps`` of the day and ``act_bpm``, the heart rate
  the band measured.

A message that carries none of a model's fields (e.g. a band's advertisement without a heart rate) gives no
reading.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from hub.devices import convert as m
from hub.devices.ecosystems import OPENMQTTGATEWAY
from hub.devices.errors import DeviceError
from hub.devices.model import Binding, DeviceDefinition, Route
from hub.models import Reading, Signal

_KG_PER_LB = 0.45359237
_UNIT_TO_KG = {"kg": 1.0, "lbs": _KG_PER_LB}

# (decoded JSON object, what for errors) → signal/value pairs
ReadFn = Callable[[Mapping[str, Any], str], m.Pairs]


def _scale_weight(obj: Mapping[str, Any], what: str) -> m.Pairs:
    """The weight of a person on a scale, in kg; an object's weight (or none at all) is no reading."""
    if obj.get("weighing_mode", "person") != "person" or obj.get("weight") is None:
        return []
    unit = obj.get("unit", "kg")
    factor = _UNIT_TO_KG.get(unit) if isinstance(unit, str) else None
    if factor is None:
        raise DeviceError(f"{what}: field 'unit' must be kg or lbs, got {unit!r}")
    return [(Signal.WEIGHT, round(m.as_number(obj["weight"], "weight") * factor, 3))]


def _band(obj: Mapping[str, Any], what: str) -> m.Pairs:
    pairs: m.Pairs = []
    if obj.get("steps") is not None:
        pairs.append((Signal.STEPS, m.as_number(obj["steps"], "steps")))
    if obj.get("act_bpm") is not None:
        pairs.append((Signal.HEART_RATE, m.as_number(obj["act_bpm"], "act_bpm")))
    return pairs


def theengs_device(
    model_id: str, vendor: str, description: str, read: ReadFn, exposes: frozenset[Signal]
) -> DeviceDefinition:
    """A Theengs-decoded BLE model: its ``model_id``, and `read` turning the JSON object into pairs."""
    what = f"openmqttgateway {model_id}"

    def decode(payload: bytes, route: Route, binding: Binding, received_at: datetime) -> list[Reading]:
        if route.channel != "advertisement":
            raise DeviceError(f"{what}: unknown channel {route.channel!r}")
        obj = m.parse_json_object(payload, what)
        said = obj.get("model_id")
        if said is not None and said != model_id:
            raise DeviceError(
                f"{what}: the gateway decoded this MAC as model_id {said!r}; check the device's model "
                "in the register"
            )
        return m.readings(binding, read(obj, what), received_at)

    return DeviceDefinition(
        ecosystem=OPENMQTTGATEWAY,
        model=model_id,
        vendor=vendor,
        description=description,
        decode=decode,
        exposes=exposes,
    )


DEFINITIONS: tuple[DeviceDefinition, ...] = (
    theengs_device(
        "XMTZC04HM",
        "Xiaomi",
        "Mi Smart Scale (小米体重秤) over BLE: weight (kg or lbs → WEIGHT kg)",
        _scale_weight,
        frozenset({Signal.WEIGHT}),
    ),
    theengs_device(
        "XMTZC05HM",
        "Xiaomi",
        "Mi Body Composition Scale 2 (小米体脂秤2) over BLE: a person's weight (kg or lbs → WEIGHT kg); "
        "object weighings and impedance are not readings",
        _scale_weight,
        frozenset({Signal.WEIGHT}),
    ),
    theengs_device(
        "MB/SW",
        "Xiaomi/Amazfit",
        "Mi Band / Amazfit smart watch (小米手环) advertisement: act_bpm → HEART_RATE, steps → STEPS",
        _band,
        frozenset({Signal.HEART_RATE, Signal.STEPS}),
    ),
)
