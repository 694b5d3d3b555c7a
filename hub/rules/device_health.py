"""Device health: offline (Zigbee2MQTT availability, Tasmota/ESPHome LWT), silent past the expected report
interval, low battery. These raise **device**-class alerts for maintenance, one per device (`subject`).

The expected interval is the binding's `report_interval_s`, else the default of its ecosystem
(`RulesConfig.report_interval_s`); a device is silent after `silence_factor` intervals. An offline
announcement waits `offline_grace_min` before it becomes an alert (a Wi-Fi blip reconnects in seconds).
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.models import AlertCandidate, Reading, Severity, Signal
from hub.rules.base import Context, hours_text
from hub.rules.state import CLOCK_REPORTED, NEVER, DeviceState, HomeState

# A dying cell's reported charge bounces back when the sensor rests; only a fresh battery reads this high.
BATTERY_REPLACED_PCT = 50.0
# A device whose time stays implausible this long (receipt time) has a wrong clock; a shorter spell is more
# likely a queue of old messages flushed at once (a bridge that lost its link), which ends by itself.
CLOCK_PERSIST_S = 600.0


def device_finding(
    ctx: Context, home: HomeState, dev: DeviceState, kind: str, at: float, text: str
) -> AlertCandidate:
    """A device-class finding about `dev` for maintenance: one active alert per device (its `subject`)."""
    return ctx.candidate(
        home, kind, Severity.WARNING, at, text, device=dev.code, alert_class="device", subject=dev.code
    )


def clock_finding(
    home: HomeState, dev: DeviceState, reading: Reading, ts: float, ctx: Context
) -> AlertCandidate | None:
    """Track a reading whose device time was set aside (`Reading.device_ts`): "设备时钟异常" once it persists.

    The home stays watched on the hub's receipt time meanwhile; this is a finding for maintenance only.
    """
    since = dev.clock_off_since
    if since == CLOCK_REPORTED:
        return None
    if since == NEVER:
        dev.clock_off_since = ts
        return None
    if ts - since < CLOCK_PERSIST_S:
        return None
    dev.clock_off_since = CLOCK_REPORTED
    claimed = reading.device_ts
    skew = (
        ""
        if claimed is None
        else f"（设备报告时间 {claimed.isoformat(timespec='seconds')}，与平台接收时间不符）"
    )
    text = f"设备 {dev.code} 时钟异常{skew}，已按平台接收时间记录，请校准设备时钟或检修"
    return device_finding(ctx, home, dev, "device_clock", ts, text)


class DeviceHealthRule:
    """Offline, silent and low-battery devices."""

    name = "device_health"
    signals = frozenset({Signal.AVAILABILITY, Signal.BATTERY, Signal.BATTERY_LOW})
    timed = True
    # device_clock is raised through `clock_finding`, which the engine calls for every timestamped reading.
    kinds = frozenset({"battery_low", "device_offline", "device_silent", "device_clock"})

    def observe(self, home: HomeState, reading: Reading, ts: float, ctx: Context) -> Sequence[AlertCandidate]:
        """Track availability and battery; a low battery is raised at once."""
        dev = home.devices[reading.device]
        th = home.th
        if reading.signal is Signal.AVAILABILITY:
            if reading.value > 0:
                dev.offline_since = NEVER
                dev.silent_alerted = False
            elif dev.offline_since == NEVER:
                dev.offline_since = ts
                ctx.arm(home, ts + th.offline_grace_min * 60)
            return ()
        if reading.signal is Signal.BATTERY:
            low = reading.value < th.battery_low_pct
            # Low stays low until the battery is replaced: a recovery of a few points is the cell resting,
            # and the learned rules must stay quiet until the sensor is fixed.
            recovered = reading.value >= max(BATTERY_REPLACED_PCT, th.battery_low_pct + 5)
            text = f"设备 {dev.code} 电量 {reading.value:g}%，低于 {th.battery_low_pct:g}%，请更换电池"
        else:
            low = reading.value >= 1
            recovered = not low
            text = f"设备 {dev.code} 报告电池电量低，请更换电池"
        if recovered:
            dev.battery_low = False
        if not low or dev.battery_low:
            return ()
        dev.battery_low = True
        return [device_finding(ctx, home, dev, "battery_low", ts, text)]

    def due(self, home: HomeState, now: float, ctx: Context) -> tuple[Sequence[AlertCandidate], float]:
        """Offline past the grace time, or silent past `silence_factor` report intervals."""
        th = home.th
        out: list[AlertCandidate] = []
        nxt = NEVER
        for dev in home.devices.values():
            if dev.silent_alerted:
                continue
            offline_at = dev.offline_since + th.offline_grace_min * 60
            silent_at = dev.last_seen + dev.interval_s * th.silence_factor
            if now >= offline_at:
                text = f"设备 {dev.code} 自 {ctx.local(dev.offline_since)} 起离线，请检修设备"
                kind = "device_offline"
            elif now >= silent_at:
                text = (
                    f"设备 {dev.code} 自 {ctx.local(dev.last_seen)} 起 {hours_text(now - dev.last_seen)} 未上报"
                    f"（应每 {hours_text(dev.interval_s)} 上报），请检修"
                )
                kind = "device_silent"
            else:
                nxt = min(nxt, offline_at, silent_at)
                continue
            dev.silent_alerted = True
            out.append(device_finding(ctx, home, dev, kind, now, text))
        return out, nxt
