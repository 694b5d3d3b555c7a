"""The safe zone (安全区域): an elder outside it at night, or out far longer than usual.

An elder with a wearable that reports positions (a 4G watch or pendant) may have a safe zone in the register:
a circle around where she lives her day. A position report is the readings GEO_DATUM, LATITUDE and
LONGITUDE of one message (same time); the rule puts them together and compares the position with the zone
in the same datum — a GCJ-02 position is some hundreds of metres off a WGS-84 one, so comparing across datums
would raise false alarms or miss real ones; a zone and a wearable in different datums is a finding for the
person who keeps the register instead.

Outside the zone an outing begins; back inside it ends and its duration is kept (the last `KEEP` outings).
Two alerts, each at most once per outing, both "ask the elder first" (she may just be at her daughter's):

- ``safe_zone_night``: outside between 22:00 and 06:00 local;
- ``safe_zone_long``: out for longer than `safe_zone_out_factor` × the longest of her last outings (once
  `LEARN` are known; `safe_zone_out_hours` until then; never less than `safe_zone_min_hours`).

Reading-driven: a wearable reports its position every few minutes while out, and one that falls silent is
the device-health rule's business. An absence in the calendar (hospital, a stay with family) means no alert.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.base import Context
from hub.rules.state import NEVER, HomeState, SafeZone

NIGHT_FROM_H, NIGHT_UNTIL_H = 22, 6  # local hours: outside the zone in this window is a night outing
LEARN = 3  # outings needed before "usual" means her own outings
KEEP = 10  # outings remembered
_NIGHT, _LONG = 1, 2  # alerted bits of an outing
_EARTH_RADIUS_M = 6_371_008.8  # mean radius
DATUM_NAMES = {0.0: "WGS-84", 1.0: "GCJ-02"}


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine on the mean sphere: metres-accurate at a zone's scale)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class SafeZoneRule:
    """Raises `safe_zone_night` and `safe_zone_long` (elder, ask first) from a wearable's positions."""

    name = "safe_zone"
    signals = frozenset({Signal.GEO_DATUM, Signal.LATITUDE, Signal.LONGITUDE})
    timed = False

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """Assemble one report's position; once complete, compare it with the zone."""
        zone = home.zone
        if zone is None:
            return ()
        fix = home.fix
        signal = reading.signal
        if signal is Signal.GEO_DATUM:
            home.fix = [ts, reading.value, math.nan, fix[3] if fix else 0.0]
        elif signal is Signal.LATITUDE:
            # Without a GEO_DATUM in the same report (a DIY device) the position is GPS: WGS-84.
            datum = fix[1] if fix and fix[0] == ts else 0.0
            home.fix = [ts, datum, reading.value, fix[3] if fix else 0.0]
        elif fix and fix[0] == ts and not math.isnan(fix[2]):
            return self._position(home, zone, fix, reading.value, ts, reading.device, ctx)
        return ()

    def _position(
        self,
        home: HomeState,
        zone: SafeZone,
        fix: list[float],
        lon: float,
        ts: float,
        device: str,
        ctx: Context,
    ) -> Sequence[AlertCandidate]:
        datum, lat = fix[1], fix[2]
        if datum != zone.datum:
            if fix[3]:
                return ()
            fix[3] = 1.0  # told once; the register must be corrected
            text = (
                f"安全区域按 {DATUM_NAMES.get(zone.datum, '?')} 坐标填写，而设备 {device} 报告的位置是 "
                f"{DATUM_NAMES.get(datum, '?')} 坐标，两者相差可达数百米，无法判断老人是否离开安全区域；"
                "请按设备的坐标系改正站点文件中的 safe_zone.datum"
            )
            return [
                ctx.candidate(
                    home,
                    "safe_zone_datum",
                    Severity.WARNING,
                    ts,
                    text,
                    device=device,
                    alert_class="device",
                    subject=device,
                )
            ]
        fix[3] = 0.0
        away = distance_m(zone.lat, zone.lon, lat, lon)
        outing = home.outing
        if away <= zone.radius_m:
            if outing is not None:  # back: the outing lasted until this report
                home.outings = [*home.outings, ts - outing[0]][-KEEP:]
                home.outing = None
            return ()
        if ctx.absent(home, ts):
            home.outing = None  # the calendar has her away: this is no outing to judge
            return ()
        if outing is None:
            outing = home.outing = [ts, 0.0]
        flags = int(outing[1])
        out: list[AlertCandidate] = []
        where = f"距安全区域中心约 {away:.0f} 米（半径 {zone.radius_m:.0f} 米）"
        hour = int(ctx.local(ts, "%H"))
        if not flags & _NIGHT and (hour >= NIGHT_FROM_H or hour < NIGHT_UNTIL_H):
            flags |= _NIGHT
            text = (
                f"夜间 {ctx.local(ts)} 老人的穿戴设备 {device} 位于安全区域外，{where}，"
                f"自 {ctx.local(outing[0])} 离开；请尽快联系老人确认安全"
            )
            out.append(self._alert(home, "safe_zone_night", Severity.URGENT, ts, text, device, ctx))
        limit, usual = self._limit(home)
        if not flags & _LONG and ts - outing[0] >= limit:
            flags |= _LONG
            text = (
                f"老人自 {ctx.local(outing[0])} 离开安全区域已 {(ts - outing[0]) / 3600:.1f} 小时，"
                f"远超平时（{usual}），目前{where}；请联系老人确认安全"
            )
            out.append(self._alert(home, "safe_zone_long", Severity.WARNING, ts, text, device, ctx))
        outing[1] = float(flags)
        return out

    @staticmethod
    def _alert(
        home: HomeState, kind: str, severity: Severity, ts: float, text: str, device: str, ctx: Context
    ) -> AlertCandidate:
        return ctx.candidate(home, kind, severity, ts, text, device=device, check_first=True)

    @staticmethod
    def _limit(home: HomeState) -> tuple[float, str]:
        """How long an outing may last before it is far longer than usual (s), and why, in Chinese."""
        th = home.th
        if len(home.outings) >= LEARN:
            longest = max(home.outings)
            limit = max(longest * th.safe_zone_out_factor, th.safe_zone_min_hours * 3600.0)
            return limit, f"近 {len(home.outings)} 次外出最长 {longest / 3600:.1f} 小时"
        return th.safe_zone_out_hours * 3600.0, f"默认上限 {th.safe_zone_out_hours:g} 小时"

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Reading-driven rule."""
        return (), NEVER
