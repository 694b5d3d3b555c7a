// The demo page: polls the hub's JSON API every 2 s and redraws alerts, homes and quarantined messages.
// Plain JS, no framework; every text goes in through textContent so device data can never inject markup.
"use strict";

const POLL_MS = 2000;
const TZ = "Asia/Shanghai";

const ALERT_KINDS = {
  sos: "紧急求助", fall: "跌倒", gas: "燃气泄漏", smoke: "烟雾", leak: "漏水",
  inactivity: "长时间无活动", no_water: "长时间未用水", water_unusual: "用水异常",
  offline: "设备离线", battery_low: "电量低", health: "健康指标异常",
};
const ALERT_STATES = {
  open: "待处理", notifying: "通知中", acknowledged: "已接单", resolved: "已解决", cancelled: "已取消",
};
const SEVERITIES = { critical: "紧急", major: "重要", warning: "警告", minor: "提示", info: "提示" };
const ACTIVE_STATES = new Set(["open", "notifying", "acknowledged"]);
const TIERS = { key: "重点对象", general: "一般对象" };

// Signal → [Chinese name, how to show its value]. Unknown signals fall back to the raw name and number.
const onOff = (on, off) => (v) => (v >= 0.5 ? on : off);
const SIGNALS = {
  sos: ["紧急按钮", onOff("已按下", "已取消")],
  fall: ["跌倒检测", (v) => (v >= 1 ? "跌倒" : v > 0 ? "疑似跌倒" : "正常")],
  water_total: ["用水累计"],
  water_flow: ["水流"],
  water_status: ["水表状态", onOff("异常", "正常")],
  motion: ["活动", onOff("有活动", "无活动")],
  presence: ["有人", onOff("有人", "无人")],
  contact: ["门磁", onOff("开", "关")],
  button: ["按键"],
  occupancy: ["在床/在座", onOff("有人", "无人")],
  illuminance: ["光照"],
  heart_rate: ["心率"],
  spo2: ["血氧"],
  bp_systolic: ["血压 收缩压"],
  bp_diastolic: ["血压 舒张压"],
  body_temp: ["体温"],
  gas: ["燃气", onOff("泄漏", "正常")],
  smoke: ["烟雾", onOff("报警", "正常")],
  leak: ["漏水", onOff("漏水", "正常")],
  battery: ["电量"],
  battery_low: ["电量低", onOff("是", "否")],
  availability: ["在线状态", onOff("在线", "离线")],
  energy_total: ["用电累计"],
  power: ["功率"],
  temperature: ["温度"],
  link_quality: ["信号强度"],
};
const SIGNAL_ORDER = Object.keys(SIGNALS);

const timeFormat = new Intl.DateTimeFormat("zh-CN", {
  timeZone: TZ, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  hour12: false,
});

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function localTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso ?? "") : timeFormat.format(d);
}

function elapsed(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (Number.isNaN(seconds)) return "";
  if (seconds < 60) return "刚刚";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} 分钟前`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} 小时前`;
  return `${Math.floor(seconds / 86400)} 天前`;
}

function formatValue(reading) {
  const spec = SIGNALS[reading.signal];
  if (spec && spec[1]) return spec[1](Number(reading.value));
  const value = Number(reading.value);
  const shown = Number.isInteger(value) ? String(value) : value.toFixed(1);
  return reading.unit ? `${shown} ${reading.unit}` : shown;
}

function replace(container, children, emptyText, emptyTag) {
  container.replaceChildren(...(children.length ? children : [el(emptyTag, "empty", emptyText)]));
}

function renderAlerts(alerts, homes) {
  const places = new Map(homes.map((h) => [h.code, [h.street, h.community].filter(Boolean).join(" ")]));
  const sorted = [...alerts].sort((a, b) => {
    const active = Number(ACTIVE_STATES.has(b.state)) - Number(ACTIVE_STATES.has(a.state));
    return active || String(b.last_seen_at).localeCompare(String(a.last_seen_at));
  });
  const items = sorted.map((alert) => {
    const li = el("li", `alert sev-${alert.severity} state-${alert.state}`);
    const head = el("div", "alert-head");
    head.append(
      el("strong", "kind", ALERT_KINDS[alert.kind] || alert.kind),
      el("span", "badge state", ALERT_STATES[alert.state] || alert.state),
      el("span", "badge sev", SEVERITIES[alert.severity] || alert.severity),
    );
    if (alert.class === "device") head.append(el("span", "badge", "设备"));
    const meta = el("div", "alert-meta");
    meta.append(
      el("span", "alert-home", `住户 ${alert.home} ${places.get(alert.home) || ""}`.trim()),
      el("span", "", `${elapsed(alert.opened_at)}（${localTime(alert.opened_at)}）`),
    );
    if (alert.count > 1) meta.append(el("span", "", `重复 ${alert.count} 次，最近 ${elapsed(alert.last_seen_at)}`));
    li.append(head, meta);
    if (alert.explanation) li.append(el("p", "explanation", alert.explanation));
    return li;
  });
  replace(document.getElementById("alerts"), items, "暂无告警", "li");
}

function renderHomes(homes, alerts) {
  const alarmed = new Set(
    alerts.filter((a) => ACTIVE_STATES.has(a.state) && a.severity === "critical").map((a) => a.home),
  );
  const cards = homes.map((home) => {
    const card = el("article", alarmed.has(home.code) ? "home alarmed" : "home");
    const title = el("h3", "", home.code);
    if (alarmed.has(home.code)) title.append(el("span", "badge danger", "紧急告警"));
    card.append(title, el("p", "address", home.address || `${home.street || ""}${home.community || ""}`));
    const elders = el("ul", "elders");
    for (const elder of home.elders || []) {
      const li = el("li", "", elder.name);
      li.append(el("span", `badge tier-${elder.tier}`, TIERS[elder.tier] || elder.tier));
      elders.append(li);
    }
    card.append(elders);
    const latest = [...(home.latest || [])].sort((a, b) => {
      const ia = SIGNAL_ORDER.indexOf(a.signal);
      const ib = SIGNAL_ORDER.indexOf(b.signal);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || String(a.device).localeCompare(String(b.device));
    });
    if (latest.length) {
      const table = el("table", "readings");
      const perSignal = {};
      for (const reading of latest) perSignal[reading.signal] = (perSignal[reading.signal] || 0) + 1;
      for (const reading of latest) {
        const row = el("tr");
        let name = (SIGNALS[reading.signal] || [reading.signal])[0];
        // Several devices report the same signal (battery, availability): say which one.
        if (perSignal[reading.signal] > 1) name += `（${String(reading.device).replace(`${home.code}-`, "")}）`;
        row.append(
          el("th", "", name),
          el("td", "value", formatValue(reading)),
          el("td", "when", localTime(reading.ts)),
        );
        row.title = reading.device;
        table.append(row);
      }
      card.append(table);
    } else {
      card.append(el("p", "empty", "尚无设备数据"));
    }
    return card;
  });
  replace(document.getElementById("homes"), cards, "暂无住户", "p");
}

function renderQuarantine(rows) {
  const items = rows.map((row) => {
    const li = el("li");
    const head = el("div", "q-head");
    head.append(el("span", "when", localTime(row.received_at)), el("code", "", `${row.source} ${row.topic}`));
    li.append(head, el("p", "reason", row.reason), el("pre", "", String(row.payload ?? "").slice(0, 300)));
    return li;
  });
  replace(document.getElementById("quarantine"), items, "暂无隔离消息", "li");
}

async function getJSON(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new Error(`${path} 返回 HTTP ${response.status}`);
  return response.json();
}

let lastSuccess = null;

async function refresh() {
  const banner = document.getElementById("banner");
  try {
    const [homes, alerts, quarantine] = await Promise.all([
      getJSON("/api/v1/homes"), getJSON("/api/v1/alerts"), getJSON("/api/v1/quarantine?limit=20"),
    ]);
    renderAlerts(alerts, homes);
    renderHomes(homes, alerts);
    renderQuarantine(quarantine);
    lastSuccess = new Date();
    banner.hidden = true;
    document.getElementById("updated").textContent = `更新于 ${timeFormat.format(lastSuccess)}，每 2 秒刷新`;
  } catch (error) {
    const since = lastSuccess ? `，以下为 ${timeFormat.format(lastSuccess)} 的数据` : "";
    // fetch rejects with a TypeError when the server cannot be reached at all; anything else is a bad answer.
    const what = error instanceof TypeError ? "无法连接监护平台服务器" : `监护平台服务器出错：${error.message}`;
    banner.textContent = `${what}，正在重试${since}。`;
    banner.hidden = false;
  } finally {
    setTimeout(refresh, POLL_MS);
  }
}

refresh();
