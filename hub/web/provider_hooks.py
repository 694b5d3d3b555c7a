"""Callbacks of the domestic SMS and voice providers: Aliyun's HTTP push and Tencent Cloud's callbacks.

Neither provider signs these requests, so each callback URL carries a shared token (``?token=``) that the
district configures in the provider's console and gives the hub by environment (HUB_ALIYUN_CALLBACK_TOKEN,
HUB_TENCENT_CALLBACK_TOKEN); a request without the right token gets 403, and 404 while none is set. The
paths are public only in that sense: they never reach anything but these reports.

- Aliyun SMS report (``SmsReport``, a JSON array): ``out_id`` is the outbox row, ``success`` the delivery.
- Aliyun voice report (``VoiceReport``/``VoiceCallReport``, a JSON array): ``dtmf`` is the key pressed on
  the ``IvrCall``; "1" accepts the alert (the elder's wellbeing call: "1" = fine), as on Twilio. A call
  record without ``start_time`` was not answered and moves to the next channel.
- Tencent SMS status (a JSON array): ``sid`` is the `SerialNo` the send returned, ``report_status`` SUCCESS/FAIL.
- Tencent voice (``voicekey_callback`` with ``keypress``, ``voiceprompt_callback`` with ``result``).
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from aiohttp import web

from hub.alerts.tables import OutboxMessage
from hub.web.alerts_api import ALERTS, AlertsWeb

ALIYUN_OK = {"code": 0, "msg": "成功"}  # what Aliyun's HTTP push expects back
TENCENT_OK = {"result": 0, "errmsg": "OK"}  # what Tencent Cloud's callbacks expect back
MAX_REPORTS = 500  # one push carries a batch; more than this is not a genuine report


def _alerts(request: web.Request, provider: str) -> AlertsWeb:
    """The alert service, once the request's token matches the provider's; else 404/403."""
    alerts = request.app.get(ALERTS)
    config = alerts.service.config if alerts is not None else None
    expected = ""
    if config is not None:
        expected = config.aliyun.callback_token if provider == "aliyun" else config.tencent.callback_token
    if alerts is None or not expected:
        raise web.HTTPNotFound(text=f"{provider} 回调未配置：此回调地址未启用")
    if not hmac.compare_digest(request.query.get("token", "").encode(), expected.encode()):
        raise web.HTTPForbidden(text="回调令牌校验失败")
    return alerts


async def _json_body(request: web.Request) -> Any:
    try:
        return await request.json(loads=json.loads)
    except ValueError as exc:
        raise web.HTTPBadRequest(text="回执必须是 JSON") from exc


async def _reports(request: web.Request) -> list[dict[str, Any]]:
    data = await _json_body(request)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or len(data) > MAX_REPORTS or not all(isinstance(r, dict) for r in data):
        raise web.HTTPBadRequest(text="回执必须是 JSON 对象数组")
    return data


def _by_out_id(report: dict[str, Any], provider_key: str) -> Any:
    """Aliyun names the outbox row by `out_id` (set on send); the provider's id is the fallback."""
    out_id = str(report.get("out_id") or "")
    if out_id.isdigit() and 0 < int(out_id) < 2**31:
        return OutboxMessage.id == int(out_id)
    return OutboxMessage.provider_id == str(report.get(provider_key) or "")


def _never(row: OutboxMessage) -> bool:
    return False


def _always(row: OutboxMessage) -> bool:
    return True


async def aliyun_sms_report(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/aliyun/sms-report?token=T: SMS delivery reports; a failed one falls back."""
    alerts = _alerts(request, "aliyun")
    for report in await _reports(request):
        delivered = report.get("success") in (True, "true")
        code = str(report.get("err_code") or "")
        status = "DELIVERED" if delivered else f"FAIL {code}".strip()
        reason = f"阿里云短信回执 {code} {report.get('err_msg') or ''}".strip()
        await alerts.service.call_status(
            _by_out_id(report, "biz_id"), status, reason=reason, failed=_never if delivered else _always
        )
    return web.json_response(ALIYUN_OK)


async def aliyun_voice_report(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/aliyun/voice-report?token=T: call reports; `dtmf` "1" accepts the alert."""
    alerts = _alerts(request, "aliyun")
    for report in await _reports(request):
        row = _by_out_id(report, "call_id")
        digits = str(report.get("dtmf") or "")[:1]
        status = str(report.get("status_code") or "")
        # A VoiceReport (the call's record, with `duration`) without `start_time` was never answered: the
        # next channel is tried, as for a busy or unanswered Twilio call. VoiceCallReport is only a stage.
        unanswered = "duration" in report and not report.get("start_time") and not digits
        reason = f"阿里云语音未接通 {status} {report.get('status_msg') or ''}".strip()
        shown = f"{status} 按键{digits}" if digits else status
        await alerts.service.call_status(row, shown, reason=reason, failed=_always if unanswered else _never)
        if digits:
            await alerts.service.keypress(row, digits, via="语音按键")
    return web.json_response(ALIYUN_OK)


async def tencent_sms_status(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/tencent/sms-status?token=T: SMS status reports; FAIL falls back."""
    alerts = _alerts(request, "tencent")
    for report in await _reports(request):
        ok = report.get("report_status") == "SUCCESS"
        code = str(report.get("errmsg") or "")
        status = "DELIVERED" if ok else f"FAIL {code}".strip()
        reason = f"腾讯云短信回执 {code} {report.get('description') or ''}".strip()
        row = OutboxMessage.provider_id == str(report.get("sid") or "")
        await alerts.service.call_status(row, status, reason=reason, failed=_never if ok else _always)
    return web.json_response(TENCENT_OK)


async def tencent_voice(request: web.Request) -> web.Response:
    """POST /api/v1/alerts/tencent/voice?token=T: the key pressed ("1" accepts), or the call's outcome."""
    alerts = _alerts(request, "tencent")
    data = await _json_body(request)
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(text="回执必须是 JSON 对象")
    key = data.get("voicekey_callback")
    prompt = data.get("voiceprompt_callback")
    if isinstance(key, dict):
        row = OutboxMessage.provider_id == str(key.get("callid") or "")
        digits = str(key.get("keypress") or "")[:1]
        await alerts.service.call_status(row, f"按键{digits}", reason="", failed=_never)
        await alerts.service.keypress(row, digits, via="语音按键")
    elif isinstance(prompt, dict):
        # result: 0 answered, 1 not answered, 2 call failed; the last two try the next channel.
        result = str(prompt.get("result") or "")
        row = OutboxMessage.provider_id == str(prompt.get("callid") or "")
        failed = _always if result in ("1", "2") else _never
        reason = "腾讯云语音未接听" if result == "1" else "腾讯云语音呼叫异常"
        await alerts.service.call_status(row, f"result {result}", reason=reason, failed=failed)
    else:
        raise web.HTTPBadRequest(text="未知的腾讯云语音回执")
    return web.json_response(TENCENT_OK)


def add_routes(app: web.Application) -> None:
    """Add the provider callback routes to the hub's application."""
    app.router.add_post("/api/v1/alerts/aliyun/sms-report", aliyun_sms_report)
    app.router.add_post("/api/v1/alerts/aliyun/voice-report", aliyun_voice_report)
    app.router.add_post("/api/v1/alerts/tencent/sms-status", tencent_sms_status)
    app.router.add_post("/api/v1/alerts/tencent/voice", tencent_voice)
