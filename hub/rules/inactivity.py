"""Sign of life: the fixed inactivity window per tier, and the configured morning check.

Any sign of life (water use, motion or presence, the door, a button, bed/chair occupancy) resets the home's
clock (the engine keeps `HomeState.last_sign`). When the last sign was the door with nothing inside after it,
the elder has most likely gone out, so the window is stretched by `away_factor`. While the devices that carry
the home's signs are down the verdict is "cannot tell (device problem)": a device-class alert, never an
elder-class one.
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.models import AlertCandidate, Severity
from hub.rules.base import Context, TimerRule, hours_text
from hub.rules.state import INACTIVE, MORNING, NEVER, QUIET, ROUTINE, UNKNOWN, HomeState

TIER_WORDS = {"key": "重点对象", "general": "一般对象"}


def left_by_door(home: HomeState) -> bool:
    """The last sign was the door soon after activity inside, and nothing inside since: it looks like leaving."""
    return home.last_door > home.last_inside and home.door_gap <= home.th.leave_within_min * 60


def away_until(home: HomeState) -> float:
    """Until when a door with nothing inside after it reads as an outing (NEVER: until the window ends).

    Once the home's outings are learned, "door then nothing" is an outing only as long as this elder's outings
    last: past that nothing supports it (no door back, no water), and a collapse right after the door is judged
    by the tier's normal window, not as "gone out" with a stretched one.
    """
    b = home.learned
    if b is None or b.days < home.th.routine_min_days or b.outing_max_min < 0:
        return NEVER
    th = home.th
    return home.last_door + max(b.outing_max_min * 60 * th.outing_factor, th.outing_min_hours * 3600)


def seems_away(home: HomeState, now: float) -> bool:
    """The elder has probably gone out: activity inside, the door soon after, and nothing inside since.

    A door with no activity just before it is more likely a return (the elder was outside), so it is not
    read as leaving. The learned rules stay quiet while it holds; the tier's window is stretched only while
    `away_until` allows.
    """
    return left_by_door(home) and now - home.last_door >= home.th.away_after_min * 60


class OutingOverdueRule(TimerRule):
    """Door, then nothing inside for longer than this elder's outings begun at that hour usually last.

    A telecare centre calls the elder's own phone (she carries it when out): a fine elder answers and nobody
    is paged; unanswered, the visitor goes. Only where she can be asked first (`Thresholds.ask_first`);
    elsewhere the tier's window judges, as a visit to an empty home is what a day trip would cost.
    """

    name = "outing_overdue"
    kinds = frozenset({"outing_overdue"})

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise once per outing that outlasts the usual ones (`check_first`)."""
        b = home.learned
        th = home.th
        if (
            b is None
            or b.days < th.routine_min_days
            or not b.outing_limits
            or not th.ask_first
            or home.alerted & (INACTIVE | UNKNOWN)
            or not left_by_door(home)
            or ctx.watched_since(home, now) > home.last_sign  # an absence ended (or watching began) since
        ):
            return (), NEVER
        leave = home.last_door
        midnight = ctx.day_start(leave, home) - _day_start_s(home)
        usual = b.outing_limit((leave - midnight) / 60.0) * 60.0
        wait = max(usual * th.outing_factor, th.outing_min_hours * 3600.0) * ctx.factor(home, now)
        # Nor before her usual bedtime: a day out ends by the evening, and one not back by bedtime is what a
        # telecare centre calls about (a call for every long day out would soon go unanswered).
        due_at = max(leave + wait, midnight + b.last_median_min * 60.0)
        if now < due_at:
            return (), due_at
        if ctx.absent(home, now) or home.sign_devices_down(now, doubtful=True):
            return (), NEVER  # the tier's window judges (a device verdict, if the devices are failing)
        home.alerted |= INACTIVE  # the silence's episode is raised: the window does not ask again
        text = (
            f"老人 {ctx.local(leave)} 出门后已 {hours_text(now - leave)} 未归、家中无任何活动，"
            f"此时段外出通常不超过 {hours_text(usual)}，请先电话确认老人平安"
        )
        return [ctx.candidate(home, "outing_overdue", Severity.URGENT, now, text, check_first=True)], NEVER


def _day_start_s(home: HomeState) -> float:
    start = home.th.local_time("day_start")
    assert start is not None  # validated: day_start is never empty
    return (start.hour * 60 + start.minute) * 60.0


class InactivityRule(TimerRule):
    """No sign of life for the tier's window (12 h key / 24 h general by default)."""

    name = "inactivity"
    kinds = frozenset({"inactivity", "inactivity_unknown", "away_overdue"})

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise once per silence when the window has passed."""
        if home.alerted & (INACTIVE | UNKNOWN):
            return (), NEVER
        if ctx.absent(home, now):
            return (), now + 3600.0  # look again when the absence may have ended
        window = home.th.inactivity_hours * 3600.0 * ctx.factor(home, now)
        away = seems_away(home, now) and now < away_until(home)
        if away:
            window *= home.th.away_factor
        since = ctx.watched_since(home, now)
        deadline = since + window
        if now < deadline:
            # An outing that outlasts this elder's usual ones is judged by the normal window from its end on.
            return (), min(deadline, away_until(home)) if away else deadline
        failing = home.failing_sign_devices(now)
        if failing:
            home.alerted |= UNKNOWN
            which = "、".join(f"{dev.code}（{why}）" for dev, why in failing)
            text = (
                f"无法判断（设备故障）：自 {ctx.local(since)} 起 {hours_text(now - since)} 无活动迹象，"
                f"但承载活动迹象的设备 {which} 故障。设备故障，请检修并电话确认老人情况"
            )
            return [
                ctx.candidate(home, "inactivity_unknown", Severity.WARNING, now, text, alert_class="device")
            ], NEVER
        home.alerted |= INACTIVE
        tier = TIER_WORDS.get(home.tier, home.tier)
        if away:
            # Nobody is home by all signs: a notice to confirm where the elder is, not an emergency.
            text = (
                f"老人 {ctx.local(home.last_door)} 出门后 {hours_text(now - since)} 未归（{tier}），"
                "请电话确认去向；如外出探亲或住院，请登记离家日程"
            )
            return [
                ctx.candidate(home, "away_overdue", Severity.INFO, now, text, alert_class="notice")
            ], NEVER
        what = f"（{home.last_sign_what}）" if home.last_sign_what and since == home.last_sign else ""
        text = (
            f"自 {ctx.local(since)}{what} 起已 {hours_text(now - since)} 无任何活动迹象"
            f"（{tier}窗口 {hours_text(window)}）"
        )
        return [ctx.candidate(home, "inactivity", Severity.URGENT, now, text, check_first=True)], NEVER


class MorningCheckRule(TimerRule):
    """No sign of life today by the configured local time (`morning_check`)."""

    name = "morning_check"
    kinds = frozenset({"morning_check"})

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Raise when the check time passes with no sign since the day began."""
        th = home.th
        if not th.morning_check:
            return (), NEVER
        start = ctx.day_start(now, home)
        check = ctx.local_clock(start, th.morning_check)
        tomorrow = ctx.local_clock(start + 86400.0, th.morning_check)
        if home.last_sign >= start or home.alerted & (MORNING | ROUTINE | QUIET | INACTIVE | UNKNOWN):
            return (), tomorrow
        if now < check:
            return (), check
        if (
            ctx.absent(home, now)
            or seems_away(home, now)
            or home.sign_devices_down(now, doubtful=True)
            or ctx.watched_since(home, now) >= start
        ):
            return (), tomorrow
        home.alerted |= MORNING
        text = f"今日 {th.morning_check} 前仍无任何活动迹象（最后一次活动 {ctx.local(home.last_sign)}）"
        return [ctx.candidate(home, "morning_check", Severity.URGENT, now, text, check_first=True)], tomorrow
