"""Keeping the engine's state across restarts: snapshot in the register, rebuild from the time series, and
the nightly learning job that reads the last weeks of each home.

At start: `restore_engine` loads each home's snapshot, then replays the readings stored since that snapshot
(or, for a home without one, since `rebuild_max_hours`) through the engine — so no window, timer or water
histogram is lost; immediate candidates from that replay are dropped (they were raised before the restart).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from hub.register.adjustments import current_factors
from hub.register.models import Elder, Home
from hub.rules.engine import HomeProfile, RulesEngine
from hub.rules.errors import RulesError
from hub.rules.learn_memo import LearnMemo, sign_readings
from hub.rules.routine import learn_baseline
from hub.rules.state import SafeZone
from hub.rules.tables import RuleState
from hub.store.base import TimeSeriesStore

LOGGER = logging.getLogger(__name__)
# Homes whose stored readings one query of a restore fetches (the answer for homes without a snapshot holds a
# day of their readings, so the chunk bounds the memory of a restore too).
RESTORE_HOMES_PER_QUERY = 200
TIER_RANK = {"key": 0, "general": 1}  # a home with a key elder is watched as key


def elder_reach(session: Session) -> dict[str, tuple[bool, bool]]:
    """Per home: whether one of its elders can answer a wellbeing call, and whether such an elder has a phone."""
    try:
        rows = session.execute(
            select(Home.code, Elder.can_answer_phone, Elder.phone).join(Elder, Elder.home_id == Home.id)
        ).all()
    except SQLAlchemyError as exc:
        raise RulesError(f"cannot read the elders' phones from the register: {exc}") from exc
    reach: dict[str, tuple[bool, bool]] = {}
    for code, can_answer, phone in rows:
        known = reach.get(code, (False, False))
        reach[code] = (known[0] or bool(can_answer), known[1] or bool(can_answer and phone))
    return reach


def load_profiles(session: Session) -> dict[str, HomeProfile]:
    """Tier (the strictest of the home's elders), street, rule threshold factors of every home, and whether
    its elder can be asked first (`hub.alerts.policy.first_step`: can answer a call, has a phone)."""
    try:
        rows = session.execute(
            select(
                Home.code,
                Home.street,
                Elder.tier,
                Elder.safe_lat,
                Elder.safe_lon,
                Elder.safe_radius_m,
                Elder.safe_datum,
            ).outerjoin(Elder, Elder.home_id == Home.id)
        ).all()
    except SQLAlchemyError as exc:
        raise RulesError(f"cannot read homes and elders from the register: {exc}") from exc
    profiles: dict[str, HomeProfile] = {}
    zones: dict[str, SafeZone] = {}
    for code, street, tier, lat, lon, radius, datum in rows:
        tier = tier or "general"
        known = profiles.get(code)
        if known is None or TIER_RANK.get(tier, 1) < TIER_RANK.get(known.tier, 1):
            profiles[code] = HomeProfile(tier=tier, street=street or "")
        if lat is not None and lon is not None and radius and code not in zones:
            # A home's wearable is compared with the zone of its (first) elder who has one.
            zones[code] = SafeZone(lat, lon, radius, 1.0 if datum == "gcj02" else 0.0)
    for code, zone in zones.items():
        profiles[code] = replace(profiles[code], safe_zone=zone)
    try:
        factors = current_factors(session)
    except SQLAlchemyError as exc:
        raise RulesError(f"cannot read the rule adjustments from the register: {exc}") from exc
    for code, kinds in factors.items():
        if code in profiles:
            profiles[code] = replace(profiles[code], factors=kinds)
    reach = elder_reach(session)
    for code, profile in profiles.items():
        can_answer, has_phone = reach.get(code, (False, False))
        if not (can_answer and has_phone):
            profiles[code] = replace(profile, can_check=False)
    return profiles


def save_snapshot(
    session: Session,
    snapshot: Mapping[str, dict[str, Any]],
    now: datetime,
    owns: Callable[[str], bool] | None = None,
) -> int:
    """Replace the stored snapshot with `snapshot` (`RulesEngine.snapshot()`, one row per home) in one
    transaction; rows written.

    `owns`: the homes this instance watches (partitioned instances); only their rows are replaced, the
    other partitions' rows are their owners'. None: every row is this instance's. The running hub saves
    in chunks instead (`RulesService.save`: `write_snapshot_rows`, then `prune_snapshot`).
    """
    prune_snapshot(session, set(snapshot), owns)
    return write_snapshot_rows(session, snapshot, now)


def write_snapshot_rows(session: Session, snapshot: Mapping[str, dict[str, Any]], now: datetime) -> int:
    """Store (replace) the rows of the homes in `snapshot`, saved at `now`; other homes' rows stay."""
    rows = [{"home_code": code, "state": state, "saved_at": now} for code, state in snapshot.items()]
    try:
        _delete_rows(session, list(snapshot))
        if rows:
            session.execute(insert(RuleState), rows)
    except SQLAlchemyError as exc:
        raise RulesError(f"cannot save the rules snapshot: {exc}") from exc
    return len(rows)


def prune_snapshot(session: Session, keep: set[str], owns: Callable[[str], bool] | None = None) -> int:
    """Delete the rows of homes not in `keep` (homes gone from the register); with `owns`, only among the
    homes this instance watches. Rows deleted."""
    try:
        stored = session.scalars(select(RuleState.home_code)).all()
        gone = sorted(code for code in stored if code not in keep and (owns is None or owns(code)))
        _delete_rows(session, gone)
    except SQLAlchemyError as exc:
        raise RulesError(f"cannot save the rules snapshot: {exc}") from exc
    return len(gone)


def _delete_rows(session: Session, codes: list[str]) -> None:
    for start in range(0, len(codes), 1000):  # bounded IN lists
        session.execute(delete(RuleState).where(RuleState.home_code.in_(codes[start : start + 1000])))


def load_snapshot(session: Session) -> dict[str, tuple[dict[str, Any], datetime]]:
    """Every stored home snapshot with the time it was saved."""
    try:
        rows = session.execute(select(RuleState.home_code, RuleState.state, RuleState.saved_at)).all()
    except SQLAlchemyError as exc:
        raise RulesError(f"cannot read the rules snapshot: {exc}") from exc
    return {code: (state, saved_at) for code, state, saved_at in rows}


async def restore_engine(
    engine: RulesEngine,
    snapshot: Mapping[str, tuple[dict[str, Any], datetime]],
    store: TimeSeriesStore,
    now: datetime,
) -> int:
    """Restore each home from `snapshot` and replay the readings stored since; readings replayed.

    The readings are fetched `RESTORE_HOMES_PER_QUERY` homes at a time (`query_homes`), not one query a
    home: at 1.4 ms a query, 20,000 homes took half a minute of a takeover. Homes are taken in the order
    of their replay start, and one query reads from the earliest start of its homes; each home then replays
    only its own readings since its own start.
    """
    replayed = 0
    horizon = now - timedelta(hours=engine.config.rebuild_max_hours)
    starts: dict[str, datetime] = {}
    for code in sorted(engine.homes):
        saved = snapshot.get(code)
        starts[code] = horizon
        if saved is not None:
            state, saved_at = saved
            engine.restore(code, state, now)
            starts[code] = max(saved_at, horizon)
    # A home's start is its snapshot's time: homes snapshotted together (a chunk of `save`) share one.
    # Stable sort: homes of one start stay in code order.
    order = sorted(starts, key=starts.__getitem__)
    for first in range(0, len(order), RESTORE_HOMES_PER_QUERY):
        codes = order[first : first + RESTORE_HOMES_PER_QUERY]
        found = await store.query_homes(codes, starts[codes[0]], now)
        for code in codes:
            start = starts[code]
            readings = [r for r in found.get(code, ()) if r.ts >= start]
            if code not in snapshot:
                # No snapshot: the home has been watched since its oldest stored reading (or from now on).
                home = engine.homes[code]
                home.since = home.last_sign = home.last_inside = (
                    readings[0].ts if readings else now
                ).timestamp()
            for reading in readings:
                engine.observe(reading)  # candidates dropped: they were raised before the restart
            replayed += len(readings)
    return replayed


async def learn_all(
    engine: RulesEngine, store: TimeSeriesStore, now: datetime, memo: LearnMemo | None = None
) -> int:
    """The nightly job: learn every home's baseline from its last `learn_days` days; homes learned.

    `memo` (a replay's) keeps the days scanned on earlier nights, so that only new days are read.
    """
    learned = 0
    start = now - timedelta(days=engine.config.learn_days)
    for code in sorted(engine.homes):
        home = engine.homes[code]
        if memo is None:
            readings = await sign_readings(store, code, start, now)
            baseline = learn_baseline(readings, engine.tz, home.th, now)
        else:
            baseline = await memo.learn(code, home.th, engine.tz, store, start, now)
        engine.set_baseline(code, baseline)
        learned += baseline is not None
    LOGGER.info("规则基线学习完成: %d 户", learned)
    return learned
