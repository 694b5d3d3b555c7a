"""The urgent lane's own broker session: which devices it carries, its consumer, and one alert per message.

An SOS queued in the broker behind thousands of routine readings waits for them whatever the pipeline does
with it afterwards. So the devices whose definitions can raise an immediate alert (SOS buttons, fall, gas,
smoke and leak sensors: the signals of `IMMEDIATE_RULES`) get a second MQTT session of their own
(`<client id>-urgent`, persistent, QoS 1), subscribed to those devices' per-device filters only, with its own
consumer task that hands each delivery to the pipeline at once (no backpressure wait behind the routine
backlog: the pipeline's fast lane then writes it on its own).

The routine session must not carry them too, but MQTT has no "all but" filter: where it subscribes the
ecosystem wildcards (one instance: an unregistered device must still be received, and quarantined, never
lost) it receives an urgent device's messages a second time. `Twins` pairs the two copies of one message (same
topic and payload, one from each session): the first to arrive is processed, the second is only acknowledged,
once the first is durable. Partitioned instances subscribe per device, so their routine sessions leave the
urgent devices out and nothing is paired (except a device rebound from one kind to the other, whose old
subscription cannot be withdrawn).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Collection, Iterable
from dataclasses import dataclass, field

from hub.devices.model import Binding
from hub.devices.registry import DeviceRegistry
from hub.ingest.gate import RoutineGate
from hub.ingest.pipeline import Pipeline
from hub.rules.immediate import IMMEDIATE_RULES
from hub.sources.delivery import Delivery

# The signals whose readings can open an immediate alert: a device exposing one is an urgent device.
URGENT_SIGNALS = frozenset(rule.signal for rule in IMMEDIATE_RULES)
# The routine consumer gives the event loop a turn after this many deliveries: the urgent session's socket,
# the lane's flusher and the alert worker run on the same loop, and a receive window of 10,000 routine
# messages decoded in one go would hold them back for half a second.
YIELD_EVERY = 200
# How long a copy waits for its twin from the other session: longer than any backlog the routine session
# drains, short enough that a copy whose twin will never come (a subscription changed) is forgotten.
TWIN_WAIT_S = 3600.0

DeviceKey = tuple[str, str]  # (ecosystem, external id)


def urgent_client_id(client_id: str) -> str:
    """The urgent session's client id beside the routine session `client_id` (a standby that takes over
    resumes both, so what the broker queued for either while the active was gone is delivered)."""
    return f"{client_id}-urgent"


def is_urgent(binding: Binding, registry: DeviceRegistry) -> bool:
    """True for a device whose definition exposes a signal that raises an immediate alert."""
    try:
        definition = registry.definition(binding.ecosystem, binding.model)
    except Exception:  # a misconfigured binding: its messages are quarantined on the routine session
        return False
    return not URGENT_SIGNALS.isdisjoint(definition.exposes)


@dataclass(frozen=True)
class SessionFilters:
    """The topic filters of the two sessions, and which devices each carries."""

    urgent: list[str]
    routine: list[str]
    urgent_devices: frozenset[DeviceKey]
    routine_devices: frozenset[DeviceKey]


def split_filters(
    bindings: Iterable[Binding], registry: DeviceRegistry, *, urgent_session: bool = True
) -> SessionFilters:
    """Per-device filters: the urgent devices' for the urgent session, the others' for the routine one
    (every device's for the routine one when there is no urgent session)."""
    urgent: list[str] = []
    routine: list[str] = []
    urgent_keys: set[DeviceKey] = set()
    routine_keys: set[DeviceKey] = set()
    for binding in bindings:
        filters = registry.device_filters(binding)
        if not filters:
            continue  # serial/TCP-fed, or an id no filter can name: never on MQTT sessions
        key = (binding.ecosystem, binding.external_id)
        if urgent_session and is_urgent(binding, registry):
            urgent += filters
            urgent_keys.add(key)
        else:
            routine += filters
            routine_keys.add(key)
    return SessionFilters(
        list(dict.fromkeys(urgent)),
        list(dict.fromkeys(routine)),
        frozenset(urgent_keys),
        frozenset(routine_keys),
    )


async def consume_urgent(pipeline: Pipeline, source: AsyncIterable[Delivery]) -> None:
    """Hand each urgent delivery to the pipeline at once: it must not wait for room behind the routine
    backlog (`Pipeline.put`'s backpressure); urgent devices send few messages, so nothing piles up."""
    async for delivery in source:
        pipeline.accept(delivery)


async def yielding(
    source: AsyncIterable[Delivery], gate: RoutineGate | None = None, every: int = YIELD_EVERY
) -> AsyncIterator[Delivery]:
    """`source`, with a turn for the rest of the event loop every `every` deliveries (see `YIELD_EVERY`),
    and waiting while `gate` is held (an urgent alert on its way out)."""
    n = 0
    async for delivery in source:
        if gate is not None and gate.held:
            await gate.wait()
        yield delivery
        n += 1
        if n >= every:
            n = 0
            await asyncio.sleep(0)


_PENDING, _DURABLE, _FAILED = "pending", "durable", "failed"


@dataclass(slots=True, eq=False)
class _Copy:
    """The first copy of a message, processed: its outcome, and the twin waiting to be acknowledged by it."""

    urgent: bool
    at: float
    state: str = _PENDING
    error: BaseException | None = None
    waiting: list[Delivery] = field(default_factory=list)


class Twins:
    """Pairs the two copies of one message that the urgent and the routine session both receive.

    A copy is matched to the oldest unmatched copy from the other session with the same topic and payload;
    the later one is not processed again (one alert, one page) and is acknowledged once the earlier one is
    durable (or left unacknowledged if that failed: the broker redelivers it). Only the `overlap` devices'
    messages are paired: those both sessions subscribe. Dropping a copy is safe because its twin, the same
    bytes on the same topic, is processed; at worst an identical repeat of a message is taken for the twin
    of an earlier one, which the alert store would have merged anyway when within `SAME_PRESS_S`.
    """

    def __init__(self, registry: DeviceRegistry, overlap: Collection[DeviceKey] = ()) -> None:
        self._registry = registry
        self.overlap: Collection[DeviceKey] = overlap
        self._first: dict[tuple[str, bytes], deque[_Copy]] = {}
        self._order: deque[tuple[float, tuple[str, bytes], _Copy]] = deque()
        self.paired = 0  # copies not processed because their twin was (tests and metrics read it)

    def routine(self, source: AsyncIterable[Delivery]) -> AsyncIterator[Delivery]:
        """The routine session's deliveries, without the twins of what the urgent session processed."""
        return self._unpaired(source, urgent=False)

    def urgent(self, source: AsyncIterable[Delivery]) -> AsyncIterator[Delivery]:
        """The urgent session's deliveries, without the twins of what the routine session processed."""
        return self._unpaired(source, urgent=True)

    async def _unpaired(self, source: AsyncIterable[Delivery], *, urgent: bool) -> AsyncIterator[Delivery]:
        async for delivery in source:
            if self.overlap:
                route = self._registry.route(delivery.message.topic)
                if route is not None and (route.ecosystem, route.external_id) in self.overlap:
                    paired = self._pair(delivery, urgent=urgent)
                    if paired is None:
                        continue
                    delivery = paired
            yield delivery

    def _pair(self, delivery: Delivery, *, urgent: bool) -> Delivery | None:
        """None when `delivery` is the twin of a copy already processed (it is acknowledged with it);
        else the delivery to process, which remembers its outcome for its twin."""
        now = time.monotonic()
        self._forget(now)
        key = (delivery.message.topic, delivery.message.payload)
        copies = self._first.get(key)
        if copies and copies[0].urgent != urgent:
            first = copies.popleft()
            if not copies:
                del self._first[key]
            self.paired += 1
            if first.state == _DURABLE:
                delivery.on_durable()
            elif first.state == _FAILED:
                assert first.error is not None
                delivery.on_failed(first.error)
            else:
                first.waiting.append(delivery)
            return None
        copy = _Copy(urgent, now)
        self._first.setdefault(key, deque()).append(copy)
        self._order.append((now, key, copy))
        on_durable, on_failed = delivery.on_durable, delivery.on_failed

        def durable() -> None:
            on_durable()
            copy.state = _DURABLE
            for twin in copy.waiting:
                twin.on_durable()
            copy.waiting.clear()

        def failed(exc: BaseException) -> None:
            on_failed(exc)
            copy.state, copy.error = _FAILED, exc
            for twin in copy.waiting:
                twin.on_failed(exc)
            copy.waiting.clear()

        return dataclasses.replace(delivery, on_durable=durable, on_failed=failed)

    def _forget(self, now: float) -> None:
        """Drop copies that waited `TWIN_WAIT_S` for a twin (their twin will not come)."""
        order = self._order
        while order and now - order[0][0] > TWIN_WAIT_S:
            _, key, copy = order.popleft()
            copies = self._first.get(key)
            if copies is not None and copy in copies:
                copies.remove(copy)
                if not copies:
                    del self._first[key]


def overlap_of(
    urgent_ever: Collection[DeviceKey], routine_ever: Collection[DeviceKey] | None
) -> frozenset[DeviceKey]:
    """The devices both sessions receive: those ever subscribed on each (a device rebound from one kind of
    model to the other keeps its old subscription: MQTT filters are not withdrawn while running);
    `routine_ever` None means the routine session subscribes the ecosystem wildcards, which cover them all."""
    if routine_ever is None:
        return frozenset(urgent_ever)
    return frozenset(k for k in urgent_ever if k in routine_ever)
