"""Which session carries which device (urgent devices on the urgent session only, unknown devices still
received), and `Twins`: the two copies of one message become one processed message, acknowledged once
durable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path

from hub.app import BindingCache
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.ingest.urgent import Twins, overlap_of, split_filters, urgent_client_id
from hub.models import RawMessage
from hub.sources.delivery import Delivery
from tests.ha.test_partition_plan import _matches
from tests.site_fixture import make_site

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SOS = "zigbee2mqtt/h001_sos"
PRESS = b'{"action":"emergency"}'

# One device of each urgent kind beside routine ones, with a topic each publishes.
DEVICES = [
    (Binding("H1", "sos", "zigbee2mqtt", "h1_sos", "TS0215A_sos"), "zigbee2mqtt/h1_sos", True),
    (Binding("H1", "smoke", "zigbee2mqtt", "h1_smoke", "JTYJ-GD-01LM/BW"), "zigbee2mqtt/h1_smoke", True),
    (Binding("H1", "fall", "zigbee2mqtt", "h1_fall", "MIR-HE200-TY"), "zigbee2mqtt/h1_fall", True),
    (Binding("H1", "btn", "native", "h1_btn", "sos_button"), "eldercare/h1_btn/sos", True),
    (Binding("H1", "rf", "rtl_433", "EV1527/42", "ev1527_sos"), "rtl_433/gw/devices/EV1527/42/cmd", True),
    (Binding("H1", "motion", "zigbee2mqtt", "h1_motion", "RTCGQ11LM"), "zigbee2mqtt/h1_motion", False),
    (Binding("H1", "water", "tasmota", "h1_water", "pulse_counter"), "tele/h1_water/SENSOR", False),
    # A name that begins like an urgent device's: must stay on the routine session.
    (Binding("H1", "sos2", "zigbee2mqtt", "h1_sos_lamp", "RTCGQ11LM"), "zigbee2mqtt/h1_sos_lamp", False),
]


def test_urgent_devices_are_on_the_urgent_session_only_and_routine_ones_on_the_routine_one() -> None:
    registry = DeviceRegistry.default()
    split = split_filters([b for b, _, _ in DEVICES], registry)
    for binding, topic, urgent in DEVICES:
        on_urgent = any(_matches(f, topic) for f in split.urgent)
        on_routine = any(_matches(f, topic) for f in split.routine)
        assert (on_urgent, on_routine) == (urgent, not urgent), (binding.device, topic)
        key = (binding.ecosystem, binding.external_id)
        assert (key in split.urgent_devices, key in split.routine_devices) == (urgent, not urgent)
    assert urgent_client_id("hub-p3") == "hub-p3-urgent"


def test_the_sites_sos_buttons_are_urgent_and_its_meters_and_motion_sensors_routine(tmp_path: Path) -> None:
    bindings = BindingCache(make_site(tmp_path))
    bindings.reload()
    split = split_filters(bindings.get().values(), DeviceRegistry.default())
    assert {"zigbee2mqtt/h001_sos", "zigbee2mqtt/h002_sos"} <= set(split.urgent)
    assert "zigbee2mqtt/h001_motion" in split.routine and "zigbee2mqtt/h001_motion" not in split.urgent
    assert not set(split.urgent) & set(split.routine)


def test_an_unregistered_devices_message_is_still_received_on_the_routine_session() -> None:
    registry = DeviceRegistry.default()
    # One instance: the routine session subscribes the ecosystem wildcards, which cover unknown devices.
    for topic in ("zigbee2mqtt/nobody_sos", "eldercare/new_button/sos", "tele/new_plug/SENSOR"):
        assert any(_matches(f, topic) for f in registry.subscriptions()), topic
    # Their messages pass the pairing untouched (they are nobody's twin), to be quarantined as unknown.
    twins = Twins(registry, overlap_of({("zigbee2mqtt", "h001_sos")}, None))
    unknown = delivery("zigbee2mqtt/nobody_sos", PRESS, [])
    assert run(twins.routine(feed([unknown]))) == [unknown]


def delivery(topic: str, payload: bytes, acks: list[str], tag: str = "") -> Delivery:
    """A delivery that notes its acknowledgement (or failure) in `acks` as `tag` or its topic."""
    name = tag or topic
    return Delivery(
        RawMessage("mqtt", topic, payload, T0),
        on_durable=lambda: acks.append(f"{name} durable"),
        on_failed=lambda exc: acks.append(f"{name} failed"),
    )


async def feed(deliveries: Iterable[Delivery]) -> AsyncIterator[Delivery]:
    """An async-iterator source of `deliveries`."""
    for d in deliveries:
        yield d


def run(source: AsyncIterator[Delivery]) -> list[Delivery]:
    """Everything `source` yields (it ends when its feed does)."""
    import asyncio

    async def collect() -> list[Delivery]:
        return [d async for d in source]

    return asyncio.run(collect())


def both_ways() -> Twins:
    return Twins(DeviceRegistry.default(), overlap_of({("zigbee2mqtt", "h001_sos")}, None))


def test_the_routine_copy_of_an_sos_processed_from_the_urgent_session_is_only_acknowledged() -> None:
    twins, acks = both_ways(), []
    [first] = run(twins.urgent(feed([delivery(SOS, PRESS, acks, "urgent")])))
    # The routine copy arrives while the urgent one is not durable yet: dropped, its PUBACK held.
    assert run(twins.routine(feed([delivery(SOS, PRESS, acks, "routine")]))) == []
    assert acks == []
    first.on_durable()
    assert acks == ["urgent durable", "routine durable"]
    # A copy arriving after the first is durable is acknowledged at once.
    [again] = run(twins.urgent(feed([delivery(SOS, PRESS, acks, "urgent2")])))
    again.on_durable()
    assert run(twins.routine(feed([delivery(SOS, PRESS, acks, "routine2")]))) == []
    assert acks[-2:] == ["urgent2 durable", "routine2 durable"]
    assert twins.paired == 2


def test_whichever_copy_arrives_first_is_processed_and_a_failure_acknowledges_neither() -> None:
    twins, acks = both_ways(), []
    [first] = run(twins.routine(feed([delivery(SOS, PRESS, acks, "routine")])))
    assert run(twins.urgent(feed([delivery(SOS, PRESS, acks, "urgent")]))) == []
    first.on_failed(RuntimeError("disk full"))
    assert acks == ["routine failed", "urgent failed"]


def test_copies_pair_one_to_one_and_other_payloads_and_devices_are_not_twins() -> None:
    twins, acks = both_ways(), []
    cancel = b'{"action":"disarm"}'
    # Two presses then a cancel on the urgent session: three messages, each with its own routine twin.
    urgent = run(twins.urgent(feed([delivery(SOS, PRESS, acks), delivery(SOS, PRESS, acks)])))
    assert len(urgent) == 2
    routine = [delivery(SOS, cancel, acks, "cancel"), delivery(SOS, PRESS, acks), delivery(SOS, PRESS, acks)]
    motion = delivery("zigbee2mqtt/h001_motion", b"{}", acks)
    # The cancel came first on the routine session: processed; the presses' copies are twins.
    processed = run(twins.routine(feed([*routine, motion])))
    assert [d.message for d in processed] == [routine[0].message, motion.message]
    # A third press (a new message) on the urgent session has no twin waiting: processed.
    assert len(run(twins.urgent(feed([delivery(SOS, PRESS, acks)])))) == 1
    # Without overlap (partitioned routine sessions that never subscribed the device) nothing is paired.
    alone = Twins(DeviceRegistry.default(), overlap_of({("zigbee2mqtt", "h001_sos")}, set()))
    first = delivery(SOS, PRESS, acks)
    assert run(alone.urgent(feed([first]))) == [first]
    assert overlap_of({("zigbee2mqtt", "a")}, {("zigbee2mqtt", "a"), ("tasmota", "b")}) == {
        ("zigbee2mqtt", "a")
    }
