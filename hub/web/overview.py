"""``GET /api/v1/overview``: the figures of the board's header strip, computed from the register.

Within the caller's jurisdiction: homes watched, homes with a device problem (an active device alert), open
alerts by severity, alerts opened today (local day), visit tasks due and overdue in the current period, and
this month's visit rate. A figure whose page the role may not open is ``null`` (the strip leaves it out), so
the strip never shows a number that leads nowhere.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.care.plans import list_tasks, local_midnight
from hub.care.reports import visit_rate
from hub.register.models import Alert, Elder, Home
from hub.web.access import in_session, json_response, require
from hub.web.care_api import CARE, narrow_report
from hub.web.scope import Principal, Scope
from hub.web.services import SERVICES


def overview(session: Session, scope: Scope, who: Principal, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    """The strip's figures for `who` at `now` (`tz`: the district's zone)."""
    homes = select(func.count(Home.id))
    active = select(Alert.home_id, Alert.severity, Alert.alert_class).where(Alert.active_key.is_not(None))
    midnight = local_midnight(now.astimezone(tz).date(), tz)
    today = select(func.count(Alert.id)).where(Alert.opened_at >= midnight)
    if scope.home_ids is not None:
        homes = homes.where(Home.id.in_(scope.home_ids))
        active = active.where(Alert.home_id.in_(scope.home_ids))
        today = today.where(Alert.home_id.in_(scope.home_ids))
    if scope.device_only:
        active = active.where(Alert.alert_class == "device")
        today = today.where(Alert.alert_class == "device")
    rows = session.execute(active).all()
    out: dict[str, Any] = {
        "homes": session.scalar(homes) or 0,
        "device_problem_homes": len({home for home, _sev, cls in rows if cls == "device"}),
        "open_by_severity": dict(Counter(sev for _home, sev, _cls in rows)),
        "open": len(rows),
        "today": session.scalar(today) or 0,
        "visits_due": None,
        "visits_overdue": None,
        "visit_rate": None,
    }
    if not who.may("devices.read"):
        out["device_problem_homes"] = None
    if who.may("tasks.read"):
        codes = None
        if scope.elder_ids is not None:
            codes = set(session.scalars(select(Elder.code).where(Elder.id.in_(scope.elder_ids))))
        visits = [
            t
            for t in list_tasks(session, now=now)
            if t["kind"] == "visit" and (codes is None or t["elder"] in codes)
        ]
        out["visits_due"] = sum(not t["overdue"] for t in visits)
        out["visits_overdue"] = sum(t["overdue"] for t in visits)
    if who.may("reports.read"):
        report = visit_rate(session, now.astimezone(tz).strftime("%Y-%m"), tz).to_dict()
        total = (report if who.role == "admin" else narrow_report(report, who))["total"]
        out["visit_rate"] = {"rate": total["rate"], "enrolled": total["enrolled"], "met": total["met"]}
    return out


async def overview_route(request: web.Request) -> web.Response:
    """GET /api/v1/overview: the board's header strip (see the module docstring)."""
    require(request, "alerts.read")
    now = request.app[SERVICES].clock.now()
    _config, tz = request.app[CARE]
    zone = ZoneInfo(tz)
    return json_response(await in_session(request, lambda s, scope, who: overview(s, scope, who, now, zone)))


def add_routes(app: web.Application) -> None:
    """Add the overview route."""
    app.router.add_get("/api/v1/overview", overview_route)
