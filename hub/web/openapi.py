"""``GET /api/v1/openapi.json``: a hand-written OpenAPI 3 description of every route.

The operations are data (`OPERATIONS`); `document()` turns them into the OpenAPI object. A test checks
that every route the application registers is described here, so a new route cannot be forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hub.care.vocab import VISIT_METHODS
from hub.web.access import json_response
from hub.web.scope import ROLES


@dataclass(frozen=True)
class Param:
    """A query or path parameter."""

    name: str
    where: str = "query"  # query | path
    type: str = "string"  # string | integer | boolean
    description: str = ""
    required: bool = False
    enum: tuple[str, ...] = ()
    fmt: str = ""
    pattern: str = ""  # regular expression the value must match (months, half years)


@dataclass(frozen=True)
class Op:
    """One operation."""

    method: str
    path: str
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    body_type: str = "application/json"
    public: bool = False
    responses: dict[str, str] = field(default_factory=dict)


_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_ALERT = Param("alert_id", "path", "integer", "告警编号", True)
_CODE = Param("code", "path", "string", "编号", True)
_LIMIT = Param("limit", type="integer", description="最多返回条数（1–5000）")


def _provider_callback(path: str, summary: str, body: str) -> Op:
    """A domestic provider's report or keypress callback: public, checked by the token in its URL."""
    token = Param("token", required=True, description="回调令牌（环境变量中配置）")
    return Op("post", path, summary, "告警", (token,), {"type": body}, public=True)


OPERATIONS: tuple[Op, ...] = (
    Op("get", "/healthz", "健康检查（不需登录）", "运维", public=True),
    Op("get", "/metrics", "Prometheus 指标（可设 web.metrics_token）", "运维", public=True),
    Op("get", "/", "控制台页面", "页面", public=True),
    Op("get", "/api/v1/openapi.json", "本接口文档", "运维", public=True),
    Op(
        "post",
        "/api/v1/auth/login",
        "登录（设置会话与 CSRF Cookie）",
        "认证",
        body={
            "type": "object",
            "required": ["name", "password"],
            "properties": {"name": _STR, "password": _STR},
        },
        public=True,
    ),
    Op("post", "/api/v1/auth/logout", "退出登录", "认证"),
    Op("get", "/api/v1/auth/me", "当前用户", "认证"),
    Op(
        "post",
        "/api/v1/ingest",
        "设备云推送读数（设备令牌）",
        "设备",
        body={"oneOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]},
        public=True,
    ),
    Op(
        "get",
        "/api/v1/alerts",
        "告警列表（按管辖范围）",
        "告警",
        (Param("active", type="boolean", description="只看未关闭的"), _LIMIT),
    ),
    Op("get", "/api/v1/alerts/stream", "实时告警（server-sent events，event: alerts）", "告警"),
    Op("get", "/api/v1/alerts/coverage", "通知覆盖缺口（无人可通知的住户、未配置区值班）", "告警"),
    Op("get", "/api/v1/users", "平台用户（区管理员）", "用户"),
    Op(
        "post",
        "/api/v1/users",
        "添加用户（留痕）",
        "用户",
        body={
            "type": "object",
            "required": ["name", "role"],
            "properties": {
                "name": _STR,
                "role": {"type": "string", "enum": list(ROLES)},
                "password": _STR,
                "street": _STR,
                "community": _STR,
                "phone": _STR,
                "elders": {"type": "array", "items": _STR},
            },
        },
    ),
    Op(
        "post",
        "/api/v1/users/{name}/disable",
        "停用用户（留痕）",
        "用户",
        (Param("name", "path", "string", "用户名", True),),
    ),
    Op(
        "post",
        "/api/v1/users/{name}/enable",
        "启用用户（留痕）",
        "用户",
        (Param("name", "path", "string", "用户名", True),),
    ),
    Op(
        "get",
        "/api/v1/overview",
        "总览：监护住户、设备异常住户、未关闭告警（按级别）、今日告警、探访任务、本月探访率",
        "告警",
    ),
    Op("get", "/api/v1/alerts/kinds", "告警类型词表（类型代码 → 中文名称与说明）", "告警"),
    Op(
        "post",
        "/api/v1/alerts/{alert_id}/ack",
        "接单",
        "告警",
        (_ALERT,),
        {"type": "object", "properties": {"by": _STR, "via": _STR}},
    ),
    Op(
        "post",
        "/api/v1/alerts/{alert_id}/resolve",
        "记录处置结果并关闭",
        "告警",
        (_ALERT,),
        {
            "type": "object",
            "required": ["outcome"],
            "properties": {
                "by": _STR,
                "outcome": {
                    "type": "string",
                    "description": "elder_ok 老人自报平安 | visit_ok 探访确认无事 | real_danger 确有险情 | "
                    "device_fault 设备故障（其他文字记为“其他”）",
                },
                "notes": _STR,
            },
        },
    ),
    Op(
        "post",
        "/api/v1/alerts/{alert_id}/cancel",
        "误报取消",
        "告警",
        (_ALERT,),
        {"type": "object", "properties": {"by": _STR, "reason": _STR}},
    ),
    Op("get", "/api/v1/alerts/{alert_id}/timeline", "告警详情与时间线", "告警", (_ALERT,)),
    Op(
        "get",
        "/api/v1/rules/adjustments",
        "误报后规则自动调整记录（按管辖范围）",
        "告警",
        (Param("home", description="住户编号"),),
    ),
    Op(
        "post",
        "/api/v1/rules/adjustments/{adjustment_id}/revert",
        "撤销一条规则调整",
        "告警",
        (Param("adjustment_id", where="path", type="integer", required=True),),
        {"type": "object", "properties": {"by": _STR}},
    ),
    Op(
        "post",
        "/api/v1/alerts/twilio/sms",
        "Twilio 短信回复（签名校验）",
        "告警",
        body={"type": "object"},
        body_type="application/x-www-form-urlencoded",
        public=True,
    ),
    Op(
        "post",
        "/api/v1/alerts/twilio/voice",
        "Twilio 语音按键（签名校验）",
        "告警",
        (Param("outbox", type="integer", required=True),),
        {"type": "object"},
        "application/x-www-form-urlencoded",
        public=True,
    ),
    Op(
        "post",
        "/api/v1/alerts/twilio/status",
        "Twilio 送达回执（签名校验）",
        "告警",
        (Param("outbox", type="integer", required=True),),
        {"type": "object"},
        "application/x-www-form-urlencoded",
        public=True,
    ),
    _provider_callback("/api/v1/alerts/aliyun/sms-report", "阿里云短信状态报告（令牌校验）", "array"),
    _provider_callback("/api/v1/alerts/aliyun/voice-report", "阿里云语音呼叫与按键回执（令牌校验）", "array"),
    _provider_callback("/api/v1/alerts/tencent/sms-status", "腾讯云短信状态回调（令牌校验）", "array"),
    _provider_callback("/api/v1/alerts/tencent/voice", "腾讯云语音按键与状态回调（令牌校验）", "object"),
    Op("get", "/api/v1/homes", "住户及最新读数", "住户"),
    Op(
        "get",
        "/api/v1/homes/{code}/readings",
        "住户读数（时间范围）",
        "住户",
        (
            _CODE,
            Param("signal", description="信号名，如 water_total、motion、heart_rate"),
            Param("from", description="开始时间（ISO 8601，带时区；默认 7 天前）", fmt="date-time"),
            Param("to", description="结束时间（默认现在）", fmt="date-time"),
        ),
    ),
    Op("get", "/api/v1/devices", "设备及健康状况", "设备"),
    Op(
        "get",
        "/api/v1/quarantine",
        "隔离的消息（从新到旧分页；响应头 X-Next-Before 给出下一页的 before）",
        "设备",
        (_LIMIT, Param("before", type="integer", description="上一页最后一条的编号")),
    ),
    Op("get", "/api/v1/partitions", "分区：主用实例、epoch、租约剩余、户数（多实例部署）", "设备"),
    Op("get", "/api/v1/elders", "老年人名册（脱敏）", "老年人"),
    Op("get", "/api/v1/elders/{code}", "老年人档案（脱敏，留痕）", "老年人", (_CODE,)),
    Op(
        "post", "/api/v1/elders/{code}/reveal", "查看完整身份证号、电话与健康信息（留痕）", "老年人", (_CODE,)
    ),
    Op(
        "put",
        "/api/v1/elders/{code}/safe-zone",
        "设置安全区域（圆心、半径、坐标系；留痕）",
        "老年人",
        (_CODE,),
        body={
            "type": "object",
            "required": ["lat", "lon", "radius_m"],
            "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
                "radius_m": {"type": "number", "minimum": 50, "maximum": 50000},
                "datum": {"type": "string", "enum": ["wgs84", "gcj02"]},
            },
        },
    ),
    Op("delete", "/api/v1/elders/{code}/safe-zone", "取消安全区域（留痕）", "老年人", (_CODE,)),
    Op("get", "/api/v1/visits", "探访记录", "探访", (Param("elder", description="老人编号"),)),
    Op(
        "post",
        "/api/v1/visits",
        "录入探访记录（附件3）",
        "探访",
        body={
            "type": "object",
            "required": ["elder", "visited_at", "method", "visitor_name"],
            "properties": {
                "elder": _STR,
                "visited_at": _TIME,
                "method": {"type": "string", "enum": list(VISIT_METHODS)},
                "visitor_name": _STR,
                "task": {"type": "integer"},
                "alert": {"type": "integer"},
                "service": {"type": "object"},
            },
        },
    ),
    Op(
        "get",
        "/api/v1/tasks",
        "探访任务",
        "探访",
        (Param("visitor", description="探访人员姓名"), Param("overdue", type="boolean")),
    ),
    Op(
        "get",
        "/api/v1/reports/visit-rate",
        "月度探访率（按镇街、村社区）",
        "报表",
        (Param("month", description="2026-11", required=True, pattern=r"^[0-9]{4}-[0-9]{2}$"),),
    ),
    Op(
        "get",
        "/api/v1/reports/false-alarms",
        "月度误报率（按规则、按住户）",
        "报表",
        (Param("month", description="2026-11", required=True, pattern=r"^[0-9]{4}-[0-9]{2}$"),),
    ),
    Op(
        "post",
        "/api/v1/imports",
        "导入名单（xlsx/csv 文件为请求体）",
        "报表",
        (
            Param("filename", required=True),
            Param("source", enum=("survey", "health", "disability")),
            Param("dry_run", type="boolean"),
        ),
        {"type": "string", "format": "binary"},
        "application/octet-stream",
    ),
    Op(
        "get",
        "/api/v1/exports/{what}",
        "导出台帐/登记表/探访记录/打包",
        "报表",
        (
            Param("what", "path", required=True, enum=("ledger", "register", "visits", "bundle")),
            Param("half", description="2026H2", pattern=r"^[0-9]{4}H[12]$"),
            Param("show_id", type="boolean"),
            Param("as"),
        ),
    ),
    Op("get", "/api/v1/absences", "外出登记", "日历", (Param("home"),)),
    Op(
        "post",
        "/api/v1/absences",
        "登记外出",
        "日历",
        body={
            "type": "object",
            "required": ["home", "start", "end"],
            "properties": {"home": _STR, "start": _TIME, "end": _TIME, "reason": _STR},
        },
    ),
    Op("get", "/api/v1/modes", "极端天气/节日关爱模式", "日历"),
    Op(
        "post",
        "/api/v1/modes",
        "设置关爱模式",
        "日历",
        body={
            "type": "object",
            "required": ["kind", "start", "end"],
            "properties": {
                "kind": {"type": "string", "enum": ["weather", "festival"]},
                "scope": {"type": "string", "enum": ["district", "street"]},
                "street": _STR,
                "start": _TIME,
                "end": _TIME,
                "factor": {"type": "number"},
                "note": _STR,
            },
        },
    ),
    Op(
        "get",
        "/api/v1/audit",
        "审计日志（区管理员）",
        "审计",
        (Param("action"), Param("actor"), _LIMIT),
    ),
)


def _param(p: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": p.type}
    if p.enum:
        schema["enum"] = list(p.enum)
    if p.fmt:
        schema["format"] = p.fmt
    if p.pattern:
        schema["pattern"] = p.pattern
    return {
        "name": p.name,
        "in": p.where,
        "required": p.required,
        "description": p.description,
        "schema": schema,
    }


def document() -> dict[str, Any]:
    """The OpenAPI 3.0 document."""
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        item: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}",
            "parameters": [_param(p) for p in op.params],
            "responses": {
                "200": {"description": "成功"},
                "400": {"description": "请求有误"},
                "401": {"description": "未登录"},
                "403": {"description": "无权访问（已记入审计日志）"},
                "404": {"description": "不存在"},
            },
        }
        if op.public:
            item["security"] = []
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {op.body_type: {"schema": op.body}}}
        paths.setdefault(op.path, {})[op.method] = item
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "居家独居老人智能监护平台 API",
            "version": "1",
            "description": "按角色与管辖范围授权；浏览器用会话 Cookie（写操作带 X-CSRF-Token），"
            "程序用 Authorization: Bearer 令牌（eldercare-hub user token NAME）。",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "hub_session"},
            }
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    }


async def openapi_json(request: web.Request) -> web.Response:
    """GET /api/v1/openapi.json."""
    return json_response(document())


def add_routes(app: web.Application) -> None:
    """Add the document route."""
    app.router.add_get("/api/v1/openapi.json", openapi_json)
