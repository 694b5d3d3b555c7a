"""Which partitions an instance takes and gives up (`hub.cluster.plan`, pure), the fixed partition of a home,
and the per-device topic filters that let the broker route a device's messages to its partition's session."""

from __future__ import annotations

from hub.cluster import RELEASED, PartitionLease, Plan, partition_of, plan
from hub.devices.ecosystems import ECOSYSTEMS
from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry

P = 4
LEASE_S = 3.0


def held(owner: str, *partitions: int, move_to: str | None = None) -> list[PartitionLease]:
    return [PartitionLease(p, owner, 2.0, move_to) for p in partitions]


def test_a_home_always_falls_into_the_same_partition_and_homes_spread_over_all() -> None:
    assert partition_of("h0001", 4) == partition_of("h0001", 4)
    assert {partition_of(f"h{i:04d}", 4) for i in range(40)} == {0, 1, 2, 3}
    assert partition_of("h0001", 1) == 0


def test_alone_an_instance_takes_every_partition_then_gives_another_its_preferred_ones() -> None:
    alone = {"a": [0, 1]}
    assert plan(P, "a", alone, [], LEASE_S) == Plan(take=(0, 1, 2, 3))
    both = {"a": [0, 1], "b": [2, 3]}
    assert plan(P, "a", both, held("a", 0, 1, 2, 3), LEASE_S) == Plan(give=(2, 3))
    assert plan(P, "b", both, held("a", 0, 1, 2, 3), LEASE_S) == Plan()  # still held: wait
    released = [*held("a", 0, 1), PartitionLease(2, "a", -0.1), PartitionLease(3, "a", -0.1)]
    assert plan(P, "b", both, released, LEASE_S) == Plan(take=(2, 3))


def test_without_preferences_two_instances_split_by_fair_share() -> None:
    live: dict[str, list[int]] = {"a": [], "b": []}
    assert plan(P, "a", live, held("a", 0, 1, 2, 3), LEASE_S) == Plan(give=(2, 3))
    assert plan(P, "b", live, held("a", 0, 1), LEASE_S) == Plan(take=(2, 3))


def test_the_partitions_of_a_dead_instance_are_taken_once_its_leases_ran_out() -> None:
    live = {"a": [0, 1]}  # b's heartbeat ran out
    leases = [*held("a", 0, 1), PartitionLease(2, "b", 0.5), PartitionLease(3, "b", 0.5)]
    assert plan(P, "a", live, leases, LEASE_S) == Plan()
    leases = [*held("a", 0, 1), PartitionLease(2, "b", -0.5), PartitionLease(3, "b", -0.5)]
    assert plan(P, "a", live, leases, LEASE_S) == Plan(take=(2, 3))


def test_a_moved_partition_goes_to_its_target_and_stays_there() -> None:
    live = {"a": [0, 1], "b": [2, 3]}
    leases = [*held("a", 0), *held("a", 1, move_to="b"), *held("b", 2, 3)]
    assert plan(P, "a", live, leases, LEASE_S) == Plan(give=(1,))
    leases = [*held("a", 0), PartitionLease(1, "a", -0.1, "b"), *held("b", 2, 3)]
    assert plan(P, "b", live, leases, LEASE_S) == Plan(take=(1,))
    assert plan(P, "a", live, leases, LEASE_S) == Plan()  # not back to its preferring instance
    leases = [*held("a", 0), *held("b", 1, move_to="b"), *held("b", 2, 3)]
    assert plan(P, "b", live, leases, LEASE_S) == Plan()  # over its fair share, but assigned


def test_a_released_partition_is_left_to_another_instance_for_two_lease_times() -> None:
    live: dict[str, list[int]] = {"a": [], "b": []}
    assert plan(P, "a", live, held("a", 0, 1, move_to=RELEASED), LEASE_S).give == (0, 1)
    gone = [PartitionLease(0, "a", -1.0, RELEASED), *held("b", 2, 3)]
    assert plan(P, "a", live, gone, LEASE_S).take == (1,)
    assert plan(P, "a", live, [PartitionLease(0, "a", -7.0, RELEASED)], LEASE_S).take == (0, 1)


def test_each_ecosystem_with_a_topic_scheme_gives_filters_that_route_to_that_device_only() -> None:
    registry = DeviceRegistry.default()
    examples = {
        "zigbee2mqtt": ("h1_sos", "zigbee2mqtt/h1_sos"),
        "tasmota": ("plug1", "tele/plug1/SENSOR"),
        "wmbusmeters": ("12345678", "wmbusmeters/12345678"),
        "native": ("d1", "eldercare/d1/heart_rate"),
        "shelly": ("shelly1-ab", "shelly1-ab/events/rpc"),
        "esphome": ("node1", "node1/sensor/temp/state"),
        "openmqttgateway": ("C4:7C:8D:6A:3E:01", "home/gw-h1/BTtoMQTT/C47C8D6A3E01"),  # MAC without colons
        "rtl_433": ("Generic-Remote/42435", "rtl_433/gw-h1/devices/Generic-Remote/42435/cmd"),
    }
    subscribed = {e.name for e in ECOSYSTEMS if e.subscriptions}
    assert subscribed == set(examples)
    for ecosystem, (external_id, topic) in examples.items():
        binding = Binding("h1", "dev", ecosystem, external_id, "m")
        filters = registry.device_filters(binding)
        assert filters and any(_matches(f, topic) for f in filters), (ecosystem, filters)
        other = topic.replace(external_id, external_id + "x")
        if other == topic:  # the topic spells the id its own way (a MAC without colons): another device
            other = topic[:-1] + "2"
        assert not any(_matches(f, other) for f in filters), (ecosystem, filters)
        route = registry.route(topic)
        assert route is not None and route.external_id == external_id
    assert registry.device_filters(Binding("h1", "dev", "zigbee2mqtt", "bad/+", "m")) == ()


def _matches(topic_filter: str, topic: str) -> bool:
    """MQTT filter matching (as a broker does it)."""
    f, t = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t) or (level != "+" and level != t[i]):
            return False
    return len(f) == len(t)
