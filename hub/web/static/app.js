// The dashboard: a small hash-routed page over the hub's JSON API (the only data source).
// Plain JS, no framework, no CDN; every text goes in through textContent so device data can never inject markup.
"use strict";

const TZ = "Asia/Shanghai";
// The outcomes a resolve records (hub/alerts/outcomes.py), in the order the resolve dialog offers them.
const OUTCOMES = [
  ["elder_ok", "老人自报平安"], ["visit_ok", "探访确认无事"], ["real_danger", "确有险情"], ["device_fault", "设备故障"],
];
const ALERT_STATES = {
  open: "待处理", notifying: "通知中", acknowledged: "已接单", resolved: "已解决", cancelled: "已取消",
};
// hub.models.Severity, most urgent first.
const SEVERITIES = { critical: "紧急", urgent: "重要", warning: "警告", info: "提示" };
const ACTIVE = new Set(["open", "notifying", "acknowledged"]);
const EVENTS = {
  opened: "告警产生", repeated: "重复触发", notifying: "开始通知", notified: "已通知", acknowledged: "接单", resolved: "处置完成",
  cancelled: "取消", escalated: "升级通知", exhausted: "无人接单·升级值班", duty_rung: "再次通知值班",
  pressed: "再次按下", resumed: "恢复升级", step_skipped: "跳过", no_recipients: "无人可通知（配置错误）",
  fallback: "改用其他渠道", delivery_failed: "发送失败",
  elder_check: "先询问老人", elder_check_unanswered: "老人未答复", elder_check_failed: "老人未报平安",
  elder_late_reply: "老人迟到的答复",
  rule_tightened: "规则自动放宽",
};
// Which role may open which page (the API enforces it again; this only hides useless links).
const PAGES = {
  elders: ["admin", "street", "community", "visitor", "relative"],
  visit: ["admin", "street", "community", "visitor"],
  reports: ["admin", "street", "community"],
  devices: ["admin", "street", "community", "maintenance"],
  quarantine: ["admin", "maintenance"],
  tasks: ["admin", "street", "community", "visitor"],
  calendar: ["admin", "street", "community", "visitor"],
  users: ["admin"],
  partitions: ["admin", "street", "community", "maintenance"],
};
const MODE_WRITERS = ["admin", "street"];
const CHOICE3 = ["无变化", "较好", "较差"];
const SAFETY = ["安全", "较安全", "不安全"];
const VISIT_FIELDS = [
  ["expression", "表达能力", CHOICE3], ["mobility", "行动能力", CHOICE3],
  ["illness", "疾病状况", ["无变化", "严重", "转好"]], ["mood", "情绪状态", CHOICE3],
  ["gas_safety", "燃气", SAFETY], ["water_heating_safety", "水暖", SAFETY], ["power_safety", "用电", SAFETY],
  ["personal_hygiene", "个人卫生", CHOICE3], ["home_hygiene", "家庭卫生", CHOICE3],
  ["indoor_environment", "室内环境", CHOICE3],
];

let me = null;
// The alert vocabulary (kind → Chinese name), from the hub (hub/rules/kinds.py): the page keeps no table of its own.
let kinds = {};
const kindName = (kind) => (kinds[kind] ? kinds[kind].name : "其他告警");
let stream = null;
let boardTimer = null;
let healthTimer = null;
const HEALTH_POLL_MS = 15000;
const CHART_DAYS = 14; // the elder page's charts: two weeks, one bar per day

const timeFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});
const dayFormat = new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, month: "2-digit", day: "2-digit" });
const isoMinute = new Intl.DateTimeFormat("sv-SE", {
  timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false,
});
// Now as Beijing wall-clock text ("2026-11-30 14:05").
const beijingNow = () => isoMinute.format(new Date());
// "2026-11-30 14:05" read as Beijing time (UTC+8 all year, no daylight saving) → ISO instant, or null.
function fromBeijing(text) {
  const m = String(text).trim().match(/^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$/);
  if (!m) return null;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:00+08:00`);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
const localTime = (iso) => (iso ? timeFormat.format(new Date(iso)) : "");
function elapsed(iso) {
  const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (s < 60) return `${Math.floor(s)} 秒`;
  if (s < 3600) return `${Math.floor(s / 60)} 分钟`;
  if (s < 86400) return `${Math.floor(s / 3600)} 小时 ${Math.floor((s % 3600) / 60)} 分`;
  return `${Math.floor(s / 86400)} 天`;
}
function view(...children) {
  document.getElementById("view").replaceChildren(...children);
}
function banner(text) {
  const b = document.getElementById("banner");
  b.textContent = text || "";
  b.hidden = !text;
}
function csrf() {
  const m = document.cookie.match(/(?:^|; )hub_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : "";
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET") headers["X-CSRF-Token"] = csrf();
  const resp = await fetch(path, {
    ...options, headers, credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { error: text }; }
  if (resp.status === 401 && !path.endsWith("/auth/login")) {
    me = null;
    location.hash = "#/login";
  }
  if (!resp.ok) throw new Error((data && data.error) || `请求失败（${resp.status}）`);
  return data;
}

// -- login ---------------------------------------------------------------------------------------------

function loginPage() {
  const form = el("form", "card login");
  form.id = "login";
  const name = Object.assign(el("input"), { name: "name", autocomplete: "username", required: true });
  const pw = Object.assign(el("input"), {
    name: "password", type: "password", autocomplete: "current-password", required: true,
  });
  const msg = el("p", "error");
  form.append(el("h2", "", "登录"), label("用户名", name), label("密码", pw),
    Object.assign(el("button", "primary", "登录"), { type: "submit" }), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("/api/v1/auth/login", { method: "POST", body: { name: name.value, password: pw.value } });
      await whoami();
      location.hash = "#/";
      route();
    } catch (err) {
      msg.textContent = err.message;
    }
  });
  view(form);
}
function label(text, input) {
  const l = el("label", "field", text);
  l.append(input);
  return l;
}

async function whoami() {
  try {
    me = await api("/api/v1/auth/me");
  } catch {
    me = null;
  }
  const nav = document.getElementById("nav");
  nav.hidden = !me;
  if (!me) return;
  kinds = await api("/api/v1/alerts/kinds").catch(() => ({}));
  document.getElementById("who").textContent = `${me.name}（${me.role_zh}）`;
  for (const a of nav.querySelectorAll("[data-need]")) a.hidden = !PAGES[a.dataset.need].includes(me.role);
}

// -- the live alert board ---------------------------------------------------------------------------------

// The header strip: the district at a glance, each figure a link to the page that lists it.
async function showOverview(box) {
  let o;
  try {
    o = await api("/api/v1/overview");
  } catch {
    box.hidden = true;
    return;
  }
  const tile = (key, href, value, text, sub) => {
    const a = el(href ? "a" : "div", `tile tile-${key}`);
    if (href) a.href = href;
    a.dataset.key = key;
    a.append(el("strong", "", value), el("span", "", text));
    if (sub) a.append(el("small", "", sub));
    return a;
  };
  const may = (page) => PAGES[page].includes(me.role);
  const bySev = Object.keys(SEVERITIES).filter((k) => o.open_by_severity[k])
    .map((k) => `${SEVERITIES[k]} ${o.open_by_severity[k]}`).join(" · ");
  const tiles = [
    tile("homes", may("elders") ? "#/elders" : may("devices") ? "#/devices" : "", o.homes, "监护住户"),
  ];
  if (o.device_problem_homes !== null) tiles.push(tile("devices", "#/devices", o.device_problem_homes, "设备异常住户"));
  tiles.push(tile("open", "#/", o.open, "未关闭告警", bySev || "无"), tile("today", "#/all", o.today, "今日告警"));
  if (o.visits_due !== null) {
    tiles.push(tile("visits", "#/tasks", `${o.visits_due} / ${o.visits_overdue}`, "本期待探访 / 逾期"));
  }
  if (o.visit_rate !== null) {
    tiles.push(tile("rate", "#/compliance", `${(o.visit_rate.rate * 100).toFixed(1)}%`, "本月探访率",
      `达标 ${o.visit_rate.met} / 应探访 ${o.visit_rate.enrolled}`));
  }
  box.replaceChildren(...tiles);
  box.hidden = false;
}

function boardPage(closed = false) {
  const list = el("ul", "alerts");
  list.id = "board";
  const status = el("p", "muted", "正在连接实时告警…");
  status.id = "board-status";
  const showClosed = Object.assign(el("input"), { type: "checkbox", checked: closed });
  const strip = el("nav", "overview");
  strip.id = "overview";
  strip.setAttribute("aria-label", "总览");
  strip.hidden = true;
  const head = el("div", "row");
  head.append(el("h2", "", "实时告警"), label("显示已关闭", showClosed));
  const gaps = el("ul", "gaps");
  gaps.id = "coverage";
  gaps.hidden = true;
  // The hub's own self-check: a deaf hub shows no alerts, so the board must say that it is deaf.
  const health = el("p", "banner hub-health");
  health.id = "hub-health";
  health.hidden = true;
  view(strip, head, health, gaps, status, list);
  showOverview(strip);
  showCoverage(gaps);
  showHealth(health);
  healthTimer = setInterval(() => showHealth(health), HEALTH_POLL_MS);
  let last = [];
  const draw = () => renderBoard(list, last, showClosed.checked);
  showClosed.addEventListener("change", draw);
  stream = new EventSource("/api/v1/alerts/stream");
  stream.addEventListener("alerts", (ev) => {
    last = JSON.parse(ev.data);
    showOverview(strip); // the figures move with the alerts
    status.textContent = `已连接 · 更新于 ${localTime(new Date().toISOString())}`;
    draw();
  });
  stream.onerror = () => { status.textContent = "连接中断，正在重连…"; };
  boardTimer = setInterval(draw, 1000); // elapsed times tick without a new event
}

// Holes in the safety net (no duty line, homes nobody can be told about): red, above the alerts.
async function showCoverage(box) {
  try {
    const data = await api("/api/v1/alerts/coverage");
    box.replaceChildren(...data.gaps.map((g) => el("li", `gap gap-${g.level}`,
      `${g.level === "error" ? "配置错误" : "提醒"}：${g.problem}`)));
    box.hidden = !data.gaps.length;
  } catch {
    box.hidden = true; // the alert list still works; the error banner is for actions
  }
}

async function showHealth(box) {
  let text = "";
  try {
    const body = await (await fetch("/healthz")).json();
    if (body.status !== "ok") {
      const reasons = (body.failing || []).map((f) => f.reason_zh).join("；");
      text = `平台自检未通过，老人可能未被监护：${reasons || body.error || body.status}`;
    }
  } catch (e) {
    text = "无法取得平台自检状态（平台可能已停止）";
  }
  box.textContent = text;
  box.hidden = !text;
}

function renderBoard(list, alerts, showClosed) {
  const shown = alerts.filter((a) => showClosed || ACTIVE.has(a.state));
  // Nobody accepted after the whole chain: those first, then the other active ones, newest first.
  shown.sort((a, b) => Number(Boolean(b.exhausted)) - Number(Boolean(a.exhausted))
    || Number(ACTIVE.has(b.state)) - Number(ACTIVE.has(a.state))
    || String(b.opened_at).localeCompare(String(a.opened_at)));
  const items = shown.map((a) => {
    const li = el("li", `alert sev-${a.severity} state-${a.state}${a.exhausted ? " exhausted" : ""}`);
    li.dataset.id = a.id;
    li.dataset.kind = a.kind;
    li.dataset.state = a.state;
    const head = el("div", "alert-head");
    const title = el("a", "kind", kindName(a.kind));
    title.href = `#/alert/${a.id}`;
    head.append(title, el("span", `badge sev`, SEVERITIES[a.severity] || a.severity),
      el("span", "badge state", ALERT_STATES[a.state] || a.state));
    if (a.exhausted) head.append(el("span", "badge exhausted", a.escalation_note || "无人接单·已升级区值班"));
    if (a.class === "device") head.append(el("span", "badge", "设备"));
    const meta = el("div", "alert-meta");
    meta.append(
      el("span", "", `${a.home} ${a.street || ""}${a.community || ""}${a.address_local || ""}`.trim()),
      el("span", "elapsed", `已持续 ${elapsed(a.opened_at)}（${localTime(a.opened_at)}）`),
    );
    if ((a.elders || []).length) meta.append(el("span", "", `老人：${a.elders.join("、")}`));
    if (a.count > 1) meta.append(el("span", "", `重复 ${a.count} 次`));
    meta.append(el("span", "accepted", a.accepted_by ? `接单：${a.accepted_by}` : "尚无人接单"));
    li.append(head, meta);
    if (a.explanation) li.append(el("p", "explanation", a.explanation));
    li.append(actions(a));
    return li;
  });
  list.replaceChildren(...(items.length ? items : [el("li", "empty", "暂无未处理告警")]));
}

function actions(a) {
  const box = el("div", "actions");
  if (a.state === "open" || a.state === "notifying") {
    const ack = el("button", "primary ack", "接单");
    ack.type = "button";
    ack.addEventListener("click", () => act(a.id, "ack", {}));
    box.append(ack);
  }
  if (ACTIVE.has(a.state)) {
    const done = el("button", "resolve", "处置完成");
    done.type = "button";
    done.addEventListener("click", () => resolveDialog(a));
    box.append(done);
  }
  return box;
}

// The resolve dialog: one of the four outcomes (they feed the false-alarm rate) and a note. A modal <dialog> on
// the page (never prompt()), outside the board's list, so the list's redraws every second leave it alone.
function resolveDialog(a) {
  const d = el("dialog", "card resolve-dialog");
  d.dataset.id = a.id;
  const form = el("form", "resolve-form");
  const outcome = el("select");
  outcome.name = "outcome";
  for (const [code, text] of OUTCOMES) outcome.append(Object.assign(el("option", "", text), { value: code }));
  const notes = Object.assign(el("input"), { name: "notes", placeholder: "备注（可选）", maxLength: 2000 });
  const ok = Object.assign(el("button", "primary", "确认"), { type: "submit" });
  const cancel = Object.assign(el("button", "", "取消"), { type: "button" });
  const row = el("div", "actions");
  row.append(ok, cancel);
  form.append(el("h3", "", `处置完成：${kindName(a.kind)}（${a.home}）`), label("处置结果", outcome), notes, row);
  const close = () => { d.close(); d.remove(); };
  cancel.addEventListener("click", close);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    close();
    await act(a.id, "resolve", { outcome: outcome.value, notes: notes.value });
  });
  d.append(form);
  document.body.append(d);
  d.showModal();
}

async function act(id, what, body) {
  try {
    await api(`/api/v1/alerts/${id}/${what}`, { method: "POST", body });
    banner("");
    if (location.hash.startsWith("#/alert/")) route();
  } catch (err) {
    banner(err.message);
  }
}

async function alertPage(id) {
  const data = await api(`/api/v1/alerts/${id}/timeline`);
  const a = data.alert;
  const card = el("section", `card alert sev-${a.severity}`);
  card.append(el("h2", "", `${kindName(a.kind)} · ${ALERT_STATES[a.state] || a.state}`),
    el("p", "", `住户 ${a.home} ${a.address || ""}`), el("p", "", `开始 ${localTime(a.opened_at)}，已持续 ${elapsed(a.opened_at)}`),
    el("p", "", a.accepted_by ? `接单：${a.accepted_by}` : "尚无人接单"));
  if (a.explanation) card.append(el("p", "explanation", a.explanation));
  card.append(actions(a));
  const tl = el("ol", "timeline");
  for (const e of data.events) {
    const li = el("li");
    li.append(el("time", "", localTime(e.at)), el("strong", "", ` ${EVENTS[e.event] || "其他事件"} `), el("span", "", e.detail));
    tl.append(li);
  }
  // One line per message: time, route (短信 and 语音电话 look different), channel, recipient and result.
  const notes = el("ul", "timeline notifications");
  notes.id = "notifications";
  for (const n of data.notifications) {
    const li = el("li", `notification route-${n.route} status-${n.status}`);
    li.append(el("time", "", localTime(n.at)), el("span", `badge route route-${n.route}`, n.route_zh),
      el("span", "", ` ${n.summary}${n.address && n.route !== "robot" ? ` ${n.address}` : ""}`));
    if (n.status === "failed" && n.error) li.append(el("span", "error", `（${n.error}）`));
    notes.append(li);
  }
  view(card, el("h3", "", "时间线"), tl, el("h3", "", "通知记录"),
    notes.children.length ? notes : el("p", "empty", "暂无通知记录"));
}

// -- elders -------------------------------------------------------------------------------------------------

async function eldersPage() {
  const elders = await api("/api/v1/elders");
  const list = el("ul", "cards");
  list.id = "elders";
  for (const e of elders) {
    const li = el("li", "card");
    const a = el("a", "", `${e.name}（${e.code}）`);
    a.href = `#/elder/${encodeURIComponent(e.code)}`;
    li.append(a, el("p", "muted", `${e.tier} · ${e.street}${e.community}${e.address_local}`),
      el("p", "muted", `电话 ${e.phone || "—"} · 身份证 ${e.id_number || "—"}`));
    list.append(li);
  }
  view(el("h2", "", "老人名册"), list.children.length ? list : el("p", "empty", "没有可查看的老人"));
}

async function elderPage(code) {
  const e = await api(`/api/v1/elders/${encodeURIComponent(code)}`);
  const head = el("section", "card");
  head.append(el("h2", "", `${e.name}（${e.code}）`), el("p", "", `${e.tier} · ${(e.categories || []).join("、")}`),
    el("p", "", `${e.street}${e.community}${e.address_local}`));
  const pii = el("p", "pii", `电话 ${e.phone || "—"} · 身份证 ${e.id_number || "—"}`);
  head.append(pii);
  if (["admin", "street", "community"].includes(me.role)) {
    const btn = el("button", "", "查看完整信息（将记录）");
    btn.type = "button";
    btn.addEventListener("click", async () => {
      const r = await api(`/api/v1/elders/${encodeURIComponent(code)}/reveal`, { method: "POST", body: {} });
      pii.textContent = `电话 ${r.phone || "—"} · 身份证 ${r.id_number || "—"} · 病史 ${r.medical_history || "—"}`;
    });
    head.append(btn);
  }
  const contacts = el("ul");
  for (const c of e.contacts) contacts.append(el("li", "", `${c.name} ${c.role_zh}${c.relation ? `（${c.relation}）` : ""} ${c.phone}`));
  head.append(contacts);
  const loc = e.location;
  const where = el("p", "location", loc
    ? `最后位置：纬度 ${loc.lat.toFixed(6)}，经度 ${loc.lon.toFixed(6)}（${loc.datum}${loc.datum === "GCJ-02" ? " 国测局坐标" : " GPS 坐标"}）· ${localTime(loc.ts)} · 设备 ${loc.device}`
    : "最后位置：暂无（没有可定位的穿戴设备）");
  where.id = "elder-location";
  const zone = e.safe_zone;
  const zoneText = zone
    ? `安全区域：以 ${zone.lat.toFixed(5)}, ${zone.lon.toFixed(5)} 为中心、半径 ${zone.radius_m} 米（${zone.datum === "gcj02" ? "GCJ-02" : "WGS-84"}）`
    : "安全区域：未设置";
  head.append(where, el("p", "muted", zoneText));
  const charts = el("section", "charts");
  const since = new Date(Date.now() - CHART_DAYS * 86400e3).toISOString();
  const readings = await api(`/api/v1/homes/${encodeURIComponent(e.home)}/readings?from=${encodeURIComponent(since)}`);
  charts.append(
    chart("用水量（升/天）", dailyWater(readings), "bar"),
    chart("活动次数（次/天）", dailyCount(readings, "motion"), "bar"),
    chart("心率（次/分）", series(readings, "heart_rate"), "line"),
    chart("收缩压（mmHg）", series(readings, "bp_systolic"), "line"),
  );
  const [alerts, visits] = await Promise.all([api("/api/v1/alerts?limit=200"), api(`/api/v1/visits?elder=${encodeURIComponent(code)}`)]);
  const ah = el("ul", "timeline");
  for (const a of alerts.filter((x) => x.home === e.home).slice(0, 20)) {
    const li = el("li");
    const link = el("a", "", `${localTime(a.opened_at)} ${kindName(a.kind)} · ${ALERT_STATES[a.state] || a.state}`);
    link.href = `#/alert/${a.id}`;
    li.append(link);
    ah.append(li);
  }
  const vh = el("ul", "timeline");
  for (const v of visits.slice().reverse()) vh.append(el("li", "", `第 ${v.seq} 次 ${localTime(v.visited_at)} ${v.method} · ${v.visitor_name}`));
  const orNone = (list, text) => (list.children.length ? list : el("p", "empty", text));
  view(head, el("h3", "", `近 ${CHART_DAYS} 天`), charts, el("h3", "", "告警记录"), orNone(ah, "暂无告警"),
    el("h3", "", "探访记录"), orNone(vh, "暂无探访记录"),
    el("h3", "", "规则调整（误报后自动放宽，可撤销）"), await adjustmentsList(e.home));
}

async function adjustmentsList(home) {
  const rows = await api(`/api/v1/rules/adjustments?home=${encodeURIComponent(home)}`);
  const list = el("ul", "timeline");
  for (const r of rows) {
    const li = el("li", r.reverted_at ? "muted" : "",
      `${localTime(r.at)} ${r.kind_zh} 系数 ${r.previous}→${r.factor} · ${r.reason} · ${r.by}` +
      (r.reverted_at ? `（已由${r.reverted_by}撤销）` : ""));
    if (!r.reverted_at && ["admin", "street", "community"].includes(me.role)) {
      const undo = el("button", "", "撤销");
      undo.type = "button";
      undo.addEventListener("click", async () => {
        await api(`/api/v1/rules/adjustments/${r.id}/revert`, { method: "POST", body: {} });
        route();
      });
      li.append(undo);
    }
    list.append(li);
  }
  return rows.length ? list : el("p", "empty", "没有规则调整");
}

function dayKey(iso) { return dayFormat.format(new Date(iso)); }
function lastDays() {
  const out = [];
  for (let i = CHART_DAYS - 1; i >= 0; i -= 1) out.push(dayFormat.format(new Date(Date.now() - i * 86400e3)));
  return out;
}
function dailyWater(rows) {
  const totals = rows.filter((r) => r.signal === "water_total").sort((a, b) => a.ts.localeCompare(b.ts));
  const byDay = new Map(lastDays().map((d) => [d, 0]));
  for (let i = 1; i < totals.length; i += 1) {
    const d = dayKey(totals[i].ts);
    const delta = totals[i].value - totals[i - 1].value;
    if (byDay.has(d) && delta > 0) byDay.set(d, byDay.get(d) + delta);
  }
  return [...byDay].map(([x, y]) => ({ x, y }));
}
function dailyCount(rows, signal) {
  const byDay = new Map(lastDays().map((d) => [d, 0]));
  for (const r of rows) if (r.signal === signal && r.value >= 0.5 && byDay.has(dayKey(r.ts))) byDay.set(dayKey(r.ts), byDay.get(dayKey(r.ts)) + 1);
  return [...byDay].map(([x, y]) => ({ x, y }));
}
function series(rows, signal) {
  return rows.filter((r) => r.signal === signal).sort((a, b) => a.ts.localeCompare(b.ts))
    .map((r) => ({ x: dayKey(r.ts), t: new Date(r.ts).getTime(), y: r.value }));
}

// Inline SVG: bars per day, or a line over time; no library.
function chart(title, points, kind) {
  const NS = "http://www.w3.org/2000/svg";
  const W = 320, H = 140, P = 24;
  const box = el("figure", "chart");
  box.append(el("figcaption", "", title));
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const add = (name, attrs, text) => {
    const n = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    svg.append(n);
    return n;
  };
  if (!points.length) {
    add("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "nodata" }, "暂无数据");
    box.append(svg);
    return box;
  }
  const max = Math.max(...points.map((p) => p.y), 1);
  const min = kind === "line" ? Math.min(...points.map((p) => p.y)) : 0;
  const y = (v) => H - P - ((v - min) / (max - min || 1)) * (H - 2 * P);
  add("line", { x1: P, y1: H - P, x2: W - 4, y2: H - P, class: "axis" });
  add("text", { x: 2, y: P, class: "tick" }, String(Math.round(max)));
  if (kind === "bar") {
    const bw = (W - P - 4) / points.length;
    points.forEach((p, i) => {
      add("rect", { x: P + i * bw + 3, y: y(p.y), width: bw - 6, height: H - P - y(p.y), class: "bar" });
      add("text", { x: P + i * bw + bw / 2, y: H - 8, "text-anchor": "middle", class: "tick" }, p.x.slice(-2));
    });
  } else {
    const t0 = Date.now() - CHART_DAYS * 86400e3, t1 = Date.now();
    const x = (t) => P + ((t - t0) / (t1 - t0)) * (W - P - 4);
    add("polyline", { points: points.map((p) => `${x(p.t).toFixed(1)},${y(p.y).toFixed(1)}`).join(" "), class: "line" });
    add("text", { x: 2, y: H - P, class: "tick" }, String(Math.round(min)));
  }
  box.append(svg);
  return box;
}

// -- the visit form (附件3) -------------------------------------------------------------------------------

async function visitPage() {
  const elders = await api("/api/v1/elders");
  const form = el("form", "card visit");
  form.id = "visit-form";
  const pick = el("select");
  pick.name = "elder";
  for (const e of elders) pick.append(Object.assign(el("option", "", `${e.name}（${e.code}）`), { value: e.code }));
  const method = el("select");
  method.name = "method";
  for (const m of ["上门探访", "电话问候", "互联网音（视）频探访", "其他"]) method.append(Object.assign(el("option", "", m), { value: m }));
  // Beijing time as text (YYYY-MM-DD HH:MM), whatever the browser's zone and locale: the page speaks one zone.
  const when = Object.assign(el("input"), {
    name: "visited_at", required: true, pattern: "\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}",
    placeholder: "2026-11-30 14:05", value: beijingNow(),
  });
  const visitor = Object.assign(el("input"), { name: "visitor_name", required: true, value: me.name });
  form.append(el("h2", "", "探访关爱服务记录（附件3）"), label("被探访老人", pick), label("探访方式", method),
    label("探访时间（北京时间）", when), label("探访人员", visitor));
  const household = el("select");
  household.name = "household_change";
  for (const m of ["无变化", "增加", "减少"]) household.append(Object.assign(el("option", "", m), { value: m }));
  const delta = Object.assign(el("input"), { name: "household_delta", type: "number", min: 0, value: 0 });
  form.append(label("家庭状况", household), label("增减人数", delta));
  for (const [name, text, choices] of VISIT_FIELDS) {
    const s = el("select");
    s.name = name;
    for (const c of choices) s.append(Object.assign(el("option", "", c), { value: c }));
    form.append(label(text, s));
  }
  const illnessName = Object.assign(el("input"), { name: "illness_name" });
  const needs = Object.assign(el("textarea"), { name: "needs" });
  const suggestions = Object.assign(el("textarea"), { name: "suggestions" });
  const solved = Object.assign(el("input"), { name: "problems_solved", type: "number", min: 0, value: 0 });
  const elderSig = Object.assign(el("input"), { name: "elder_signature" });
  const clerk = Object.assign(el("input"), { name: "clerk_name" });
  const service = Object.assign(el("input"), { name: "service" });
  const satisfaction = el("select");
  for (const m of ["", "非常满意", "满意", "基本满意", "不满意"]) satisfaction.append(Object.assign(el("option", "", m || "（未评价）"), { value: m }));
  const msg = el("p", "error");
  form.append(label("疾病名称（严重时填写）", illnessName), label("老年人服务需求", needs),
    label("实施关爱服务建议", suggestions), label("解决问题数量", solved), label("被探访人签字", elderSig),
    label("信息录入人", clerk), label("关爱服务情况", service), label("服务满意度", satisfaction),
    Object.assign(el("button", "primary", "提交"), { type: "submit" }), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    for (const f of form.querySelectorAll("[name]")) if (f.name !== "service") body[f.name] = f.value;
    const at = fromBeijing(when.value);
    if (!at) { msg.className = "error"; msg.textContent = "探访时间格式应为 2026-11-30 14:05（北京时间）"; return; }
    body.visited_at = at;
    body.household_delta = Number(delta.value);
    body.problems_solved = Number(solved.value);
    if (service.value) body.service = { description: service.value, satisfaction: satisfaction.value };
    try {
      const v = await api("/api/v1/visits", { method: "POST", body });
      msg.className = "ok";
      msg.textContent = `已保存：第 ${v.seq} 次探访`;
    } catch (err) {
      msg.className = "error";
      msg.textContent = err.message;
    }
  });
  view(form);
}

// -- compliance, devices, quarantine ----------------------------------------------------------------------

// A table in a card that it fills (scrolling sideways on a phone); "暂无" when there are no rows.
function table(headers, rows, empty = "暂无") {
  const box = el("div", "card table-card");
  if (!rows.length) {
    box.append(el("p", "empty", empty));
    return box;
  }
  const t = el("table");
  const tr = el("tr");
  for (const h of headers) tr.append(el("th", "", h));
  t.append(tr);
  for (const r of rows) {
    const row = el("tr");
    for (const c of r) row.append(el("td", "", c));
    t.append(row);
  }
  box.append(t);
  return box;
}

async function compliancePage() {
  const month = new Intl.DateTimeFormat("sv-SE", { timeZone: TZ, year: "numeric", month: "2-digit" }).format(new Date());
  const r = await api(`/api/v1/reports/visit-rate?month=${month}`);
  const pct = (x) => `${(x.rate * 100).toFixed(1)}%`;
  view(el("h2", "", `${r.month} 探访率 ${pct(r.total)}（应探访 ${r.total.enrolled} 人，达标 ${r.total.met}）`),
    el("h3", "", "按镇街"), table(["镇街", "应探访", "已探访", "达标", "上门次数", "达标率"],
      r.by_street.map((x) => [x.street, x.enrolled, x.visited, x.met, x.home_visits, pct(x)])),
    el("h3", "", "按村（社区）"), table(["镇街", "村（社区）", "应探访", "达标", "达标率"],
      r.by_community.map((x) => [x.street, x.community, x.enrolled, x.met, pct(x)])),
    el("h3", "", "本月尚未上门探访"), table(["编号", "姓名", "村（社区）", "探访人员"],
      r.not_visited.map((x) => [x.code, x.name, x.community, (x.visitors || []).join("、")])));
}

async function falseAlarmsPage() {
  const month = new Intl.DateTimeFormat("sv-SE", { timeZone: TZ, year: "numeric", month: "2-digit" }).format(new Date());
  const r = await api(`/api/v1/reports/false-alarms?month=${month}`);
  const pct = (x) => `${(x.rate * 100).toFixed(1)}%`;
  const kind = (x) => x.kind_zh || kindName(x.kind);
  view(el("h2", "", `${r.month} 误报率 ${pct(r.total)}（已处理 ${r.total.resolved}，老人自报平安或探访确认无事 ${r.total.false_alarms}）`),
    el("h3", "", "按规则"), table(["规则", "已处理", "误报", "误报率"],
      r.by_kind.map((x) => [kind(x), x.resolved, x.false_alarms, pct(x)])),
    el("h3", "", "按住户与规则"), table(["住户", "规则", "已处理", "误报", "误报率"],
      r.by_home.map((x) => [x.home, kind(x), x.resolved, x.false_alarms, pct(x)])));
}

async function devicesPage() {
  const rows = await api("/api/v1/devices");
  view(el("h2", "", "设备状况"), table(["设备", "住户", "地址", "型号", "最近上报", "电量", "在线", "未关闭告警"],
    rows.map((d) => [d.code, d.home, d.address, d.model, d.last_seen ? localTime(d.last_seen) : "从未",
      d.battery === null ? "—" : `${d.battery}%`, d.online === null ? "—" : d.online ? "在线" : "离线",
      d.open_alerts.map(kindName).join("、")])));
}

async function quarantinePage() {
  const rows = await api("/api/v1/quarantine");
  view(el("h2", "", "隔离消息（无法解析或未登记设备）"), table(["时间", "来源", "主题", "原因", "内容"],
    rows.map((q) => [localTime(q.received_at), q.source, q.topic, q.reason, String(q.payload).slice(0, 80)])));
}

// -- pages a district admin needs: tasks, absences, care modes, users --------------------------------------

async function tasksPage() {
  const overdueOnly = Object.assign(el("input"), { type: "checkbox", checked: location.hash.includes("overdue") });
  const box = el("div");
  box.id = "tasks";
  const draw = async () => {
    const rows = await api(`/api/v1/tasks${overdueOnly.checked ? "?overdue=1" : ""}`);
    box.replaceChildren(table(["任务", "老人", "镇街 / 村（社区）", "负责人", "截止（北京时间）", "状态"],
      rows.map((t) => [t.kind_zh, `${t.elder_name}（${t.elder}）`, `${t.street} ${t.community}`, t.assignee || "未指定",
        localTime(t.due_at), t.overdue ? "逾期" : t.state_zh])));
    box.querySelectorAll("tr").forEach((tr, i) => { if (i && rows[i - 1].overdue) tr.className = "overdue"; });
  };
  overdueOnly.addEventListener("change", draw);
  const head = el("div", "row");
  head.append(el("h2", "", "探访与核实任务"), label("只看逾期", overdueOnly));
  view(head, box);
  await draw();
}

// A form of labelled fields; `submit(values)` returns the message to show, errors are shown in red.
function smallForm(id, title, fields, submitText, submit) {
  const form = el("form", "card small-form");
  form.id = id;
  const msg = el("p", "error");
  form.append(el("h3", "", title));
  for (const [, text, input] of fields) form.append(label(text, input));
  form.append(Object.assign(el("button", "primary", submitText), { type: "submit" }), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(fields.map(([name, , input]) => [name, input.value.trim()]));
    try {
      msg.className = "ok";
      msg.textContent = await submit(values);
    } catch (err) {
      msg.className = "error";
      msg.textContent = err.message;
    }
  });
  return form;
}
const textInput = (name, extra = {}) => Object.assign(el("input"), { name, ...extra });
const timeInput = (name, value) => textInput(name, {
  required: true, value, placeholder: "2026-11-30 14:05", pattern: "\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}",
});
function select(name, options) {
  const s = el("select");
  s.name = name;
  for (const [value, text] of options) s.append(Object.assign(el("option", "", text), { value }));
  return s;
}
function beijingTimes(values) {
  const start = fromBeijing(values.start), end = fromBeijing(values.end);
  if (!start || !end) throw new Error("时间格式应为 2026-11-30 14:05（北京时间）");
  return { start, end };
}

async function absencesPage() {
  const [rows, homes] = await Promise.all([api("/api/v1/absences"), api("/api/v1/homes")]);
  const form = smallForm("absence-form", "登记外出（期间不发无活动告警）", [
    ["home", "住户", select("home", homes.map((h) => [h.code, `${h.code} ${h.address || ""}`]))],
    ["start", "开始（北京时间）", timeInput("start", beijingNow())],
    ["end", "结束（北京时间）", timeInput("end", "")],
    ["reason", "原因", textInput("reason", { placeholder: "如：住院、探亲" })],
  ], "登记", async (v) => {
    await api("/api/v1/absences", { method: "POST", body: { home: v.home, reason: v.reason, ...beijingTimes(v) } });
    setTimeout(route, 800);
    return "已登记";
  });
  view(el("h2", "", "外出登记"), table(["住户", "开始", "结束", "原因"],
    rows.map((a) => [a.home, localTime(a.start), localTime(a.end), a.reason || "—"])), form);
}

async function modesPage() {
  const rows = await api("/api/v1/modes");
  const parts = [el("h2", "", "极端天气 / 节假日关爱模式"),
    el("p", "muted", "模式生效期间，无活动等规则的等待时间按系数缩短，探访频次相应提高。"),
    table(["类型", "范围", "开始", "结束", "系数", "说明"],
      rows.map((m) => [m.kind_zh, m.scope_zh, localTime(m.start), localTime(m.end), m.factor, m.note || "—"]))];
  if (MODE_WRITERS.includes(me.role)) {
    const street = me.role === "street";
    parts.push(smallForm("mode-form", "开启关爱模式", [
      ["kind", "类型", select("kind", [["weather", "极端天气"], ["festival", "节假日"]])],
      ["scope", "范围", select("scope", street ? [["street", me.street]] : [["district", "全区"], ["street", "单个镇街"]])],
      ["street", "镇街（范围为单个镇街时）", textInput("street", { value: street ? me.street : "", readOnly: street })],
      ["start", "开始（北京时间）", timeInput("start", beijingNow())],
      ["end", "结束（北京时间）", timeInput("end", "")],
      ["factor", "系数（0–1，越小越严）", textInput("factor", { value: "0.5", inputMode: "decimal" })],
      ["note", "说明", textInput("note", { placeholder: "如：高温橙色预警" })],
    ], "开启", async (v) => {
      const factor = Number(v.factor);
      if (!(factor > 0 && factor <= 1)) throw new Error("系数应在 0 到 1 之间");
      await api("/api/v1/modes", { method: "POST", body: { ...v, factor, ...beijingTimes(v) } });
      setTimeout(route, 800);
      return "已开启";
    }));
  }
  view(...parts);
}

const ROLE_OPTIONS = [["visitor", "探访人员"], ["community", "村（居）委会工作人员"], ["street", "镇街工作人员"],
  ["relative", "亲属"], ["maintenance", "设备维护人员"], ["admin", "区民政局管理员"]];

async function usersPage() {
  const rows = await api("/api/v1/users");
  const list = el("div", "card table-card");
  list.id = "users";
  const tbl = el("table");
  const head = el("tr");
  for (const h of ["用户", "角色", "辖区", "电话", "老人", "状态", "操作"]) head.append(el("th", "", h));
  tbl.append(head);
  for (const u of rows) {
    const tr = el("tr", u.disabled ? "muted" : "");
    tr.dataset.user = u.name;
    for (const c of [u.name, u.role_zh, [u.street, u.community].filter(Boolean).join(" ") || "—", u.phone || "—",
      u.elders.join("、") || "—", u.disabled ? "已停用" : "正常"]) tr.append(el("td", "", c));
    const td = el("td");
    if (u.name !== me.name) {
      const b = el("button", u.disabled ? "" : "danger", u.disabled ? "启用" : "停用");
      b.type = "button";
      b.addEventListener("click", async () => {
        if (!u.disabled && !(await confirmDialog(`停用 ${u.name}？其登录与令牌将立即失效。`))) return;
        try {
          await api(`/api/v1/users/${encodeURIComponent(u.name)}/${u.disabled ? "enable" : "disable"}`, { method: "POST", body: {} });
          route();
        } catch (err) { banner(err.message); }
      });
      td.append(b);
    }
    tr.append(td);
    tbl.append(tr);
  }
  list.append(tbl);
  const form = smallForm("user-form", "添加用户", [
    ["name", "用户名", textInput("name", { required: true, maxLength: 64 })],
    ["role", "角色", select("role", ROLE_OPTIONS)],
    ["password", "初始密码（至少 8 位）", textInput("password", { type: "password", autocomplete: "new-password" })],
    ["street", "镇街", textInput("street", { maxLength: 64 })],
    ["community", "村（社区）", textInput("community", { maxLength: 64 })],
    ["phone", "手机（探访人员、亲属）", textInput("phone", { maxLength: 32 })],
    ["elders", "老人编号（亲属必填，逗号分隔）", textInput("elders")],
  ], "添加", async (v) => {
    const elders = v.elders.split(/[,，、\s]+/).filter(Boolean);
    await api("/api/v1/users", { method: "POST", body: { ...v, elders } });
    setTimeout(route, 800);
    return `已添加用户 ${v.name}`;
  });
  view(el("h2", "", "用户管理"), list, form);
}

// An in-page dialog (never the browser's prompt/confirm): resolves true on 确定.
function confirmDialog(text) {
  return new Promise((resolve) => {
    const d = el("dialog", "card confirm");
    const ok = el("button", "primary", "确定");
    const no = el("button", "", "取消");
    ok.type = no.type = "button";
    const row = el("div", "actions");
    row.append(ok, no);
    d.append(el("p", "", text), row);
    const done = (v) => { d.close(); d.remove(); resolve(v); };
    ok.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    document.body.append(d);
    d.showModal();
  });
}

async function partitionsPage() {
  const r = await api("/api/v1/partitions");
  const owner = (p) => p.held ? p.owner : p.last_owner ? `无（上一任 ${p.last_owner}）` : "无";
  const lease = (p) => p.held ? `${p.lease_remaining_s.toFixed(1)} 秒` : "已到期";
  const assigned = (p) => p.releasing ? "交出中" : p.assigned_to || "—";
  view(el("h2", "", `分区（共 ${r.count} 个；在线实例：${r.instances.join("、") || "无"}）`),
    table(["分区", "主用实例", "epoch", "租约剩余", "指定给", "户数"],
      r.partitions.map((p) => [p.partition, owner(p), p.epoch, lease(p), assigned(p), p.homes])));
}

// -- router -----------------------------------------------------------------------------------------------

async function route() {
  if (stream) { stream.close(); stream = null; }
  if (boardTimer) { clearInterval(boardTimer); boardTimer = null; }
  if (healthTimer) { clearInterval(healthTimer); healthTimer = null; }
  const hash = location.hash || "#/";
  if (!me) await whoami();
  if (!me) { loginPage(); return; }
  const [, page, arg] = hash.split("/");
  try {
    if (page === "alert") await alertPage(arg);
    else if (page === "elders") await eldersPage();
    else if (page === "elder") await elderPage(decodeURIComponent(arg));
    else if (page === "visit") await visitPage();
    else if (page === "compliance") await compliancePage();
    else if (page === "false-alarms") await falseAlarmsPage();
    else if (page === "devices") await devicesPage();
    else if (page === "quarantine") await quarantinePage();
    else if (page === "tasks") await tasksPage();
    else if (page === "absences") await absencesPage();
    else if (page === "modes") await modesPage();
    else if (page === "users") await usersPage();
    else if (page === "partitions") await partitionsPage();
    else if (page === "login") loginPage();
    else if (page === "all") boardPage(true);
    else boardPage();
  } catch (err) {
    view(el("p", "error", err.message));
  }
}

document.getElementById("logout").addEventListener("click", async () => {
  await api("/api/v1/auth/logout", { method: "POST", body: {} }).catch(() => null);
  me = null;
  document.getElementById("nav").hidden = true;
  location.hash = "#/login";
});
window.addEventListener("hashchange", route);
route();
