// gridlab live panel: fills the page from the JSON API and refreshes it.
"use strict";

const page = document.body.dataset.page;
const refreshMs = Number(document.body.dataset.refresh) || 5000;
const TOKEN_KEY = "gridlab-panel-token";

function fmt(x, digits = 2) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x === "number") {
    return x.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  }
  return String(x);
}
function pct(x) { return x === null || x === undefined ? "–" : (100 * x).toFixed(2) + " %"; }
function time(ms) { return ms ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "–"; }
function signClass(x) { return x > 0 ? "pos" : x < 0 ? "neg" : ""; }

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function setText(id, text, cls) {
  const el = document.getElementById(id);
  if (!el) return;
  el.textContent = text;
  if (cls !== undefined) el.className = "value " + cls;
}

function kvTable(id, obj) {
  const el = document.getElementById(id);
  if (!el) return;
  el.replaceChildren();
  if (!obj) { el.innerHTML = "<tr><td>none</td></tr>"; return; }
  for (const [k, v] of Object.entries(obj)) {
    const tr = document.createElement("tr");
    const a = document.createElement("td"); a.textContent = k;
    const b = document.createElement("td");
    b.textContent = typeof v === "object" && v !== null ? JSON.stringify(v) : fmt(v, 6);
    tr.append(a, b); el.append(tr);
  }
}

function rowsTable(id, rows, cols) {
  const el = document.getElementById(id);
  if (!el) return;
  el.replaceChildren();
  const head = document.createElement("tr");
  for (const [, title] of cols) { const th = document.createElement("th"); th.textContent = title; head.append(th); }
  el.append(head);
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const [key, , f] of cols) {
      const td = document.createElement("td");
      const v = typeof key === "function" ? key(row) : row[key];
      td.textContent = f ? f(v) : fmt(v, 6);
      tr.append(td);
    }
    el.append(tr);
  }
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td"); td.colSpan = cols.length; td.textContent = "none yet";
    tr.append(td); el.append(tr);
  }
}

function plot(id, traces, layout) {
  const el = document.getElementById(id);
  if (!el || typeof Plotly === "undefined") return;
  Plotly.react(el, traces, Object.assign({ margin: { t: 20, r: 20, b: 40, l: 60 },
    showlegend: true, legend: { orientation: "h" } }, layout || {}),
    { displaylogo: false, responsive: true });
}

async function header() {
  const s = await getJSON("/api/status");
  const badge = document.getElementById("state");
  badge.textContent = s.state + (s.streams_healthy ? "" : " · streams down");
  badge.className = "badge " + s.state.split(":")[0];
  return s;
}

const EVENT_COLS = [["ts", "time", time], ["severity", "severity", String], ["kind", "kind", String],
                    ["message", "message", String]];

const pages = {
  async dashboard() {
    const [s, p, risk, eq, ev] = await Promise.all([header(), getJSON("/api/pnl"),
      getJSON("/api/risk/metrics"), getJSON("/api/equity/chart"), getJSON("/api/events?limit=15")]);
    setText("equity", fmt(p.equity));
    setText("pnl", fmt(p.equity - s.capital) + " (" + pct(p.return) + ")", signClass(p.equity - s.capital));
    setText("grid-profit", fmt(p.grid_profit, 4), signClass(p.grid_profit));
    setText("position", fmt(p.position, 6));
    setText("price", fmt(s.last_price));
    setText("exposure", pct(risk.exposure));
    kvTable("status-table", { state: s.state, profile: `${s.profile.name ?? "config sections"} v${s.profile.version ?? "-"} (${s.profile.source})`,
      generation: s.generation, exchange: s.exchange, streams: s.streams_healthy ? "healthy" : "down",
      "market time": time(s.last_market_ts), fills: s.stats.fills_applied, orders: s.stats.orders_placed,
      recenters: s.stats.recenters, errors: s.stats.errors, uptime_s: s.uptime_s });
    rowsTable("events-table", ev, EVENT_COLS);
    const t = eq.ts.map((x) => new Date(x));
    plot("equity-chart", [
      { x: t, y: eq.equity, name: "strategy equity", type: "scatter", mode: "lines" },
      { x: t, y: eq.price, name: "price", type: "scatter", mode: "lines", yaxis: "y2", line: { dash: "dot" } },
    ], { yaxis: { title: "equity" }, yaxis2: { title: "price", overlaying: "y", side: "right" } });
  },
  async grid() {
    await header();
    const g = await getJSON("/api/grid/levels");
    document.getElementById("grid-gen").textContent = `generation ${g.generation}, centre ${fmt(g.centre)}, spacing ${pct(g.spacing)}`;
    rowsTable("slots-table", g.slots, [["slot", "slot"], ["home", "home", String], ["lo", "lo"], ["hi", "hi"],
      ["qty", "qty"], ["state", "state", String], ["status", "status", String],
      [(r) => r.order && `${r.order.side} ${fmt(r.order.price)} × ${fmt(r.order.qty, 6)} ${r.order.status}`, "order", (v) => v || "–"]]);
    rowsTable("grids-table", g.recent_grids, [["gen", "gen"], ["ts", "time", time], ["price", "price"],
      ["lowest", "lowest"], ["highest", "highest"], ["reason", "reason", String], ["profile", "profile", String]]);
    const levels = [];
    for (const r of g.slots) if (r.order) levels.push(r.order);
    plot("grid-chart", [
      { x: levels.filter((o) => o.side === "Buy").map((o) => o.price), y: levels.filter((o) => o.side === "Buy").map((o) => o.qty),
        type: "bar", name: "buy orders", marker: { color: "#1a7f37" } },
      { x: levels.filter((o) => o.side === "Sell").map((o) => o.price), y: levels.filter((o) => o.side === "Sell").map((o) => o.qty),
        type: "bar", name: "sell orders", marker: { color: "#c62828" } },
    ], { xaxis: { title: "price" }, yaxis: { title: "qty" },
         shapes: g.last_price ? [{ type: "line", x0: g.last_price, x1: g.last_price, yref: "paper", y0: 0, y1: 1, line: { dash: "dot" } }] : [] });
  },
  async positions() {
    await header();
    const [p, b, risk] = await Promise.all([getJSON("/api/positions"), getJSON("/api/balance"), getJSON("/api/risk/metrics")]);
    kvTable("ledger-table", p.ledger);
    kvTable("exchange-table", p.exchange);
    kvTable("balance-table", Object.assign({}, b.strategy, { wallet: b.wallet }));
    kvTable("risk-table", risk);
  },
  async history() {
    await header();
    const [t, ev] = await Promise.all([getJSON("/api/trades/recent?limit=200"), getJSON("/api/events?limit=100")]);
    rowsTable("trades-table", t.trades, [["exec_time", "time", time], ["side", "side", (v) => (v > 0 ? "Buy" : "Sell")],
      ["price", "price"], ["qty", "qty"], ["fee", "fee"], ["kind", "kind", String], ["slot", "slot"],
      ["position", "position"], ["grid_profit", "grid profit"], ["source", "via", String]]);
    rowsTable("events-table", ev, EVENT_COLS);
    const tr = t.trades.filter((r) => r.kind !== "funding");
    plot("fills-chart", [
      { x: tr.filter((r) => r.side > 0).map((r) => new Date(r.exec_time)), y: tr.filter((r) => r.side > 0).map((r) => r.price),
        mode: "markers", type: "scatter", name: "buys", marker: { color: "#1a7f37" } },
      { x: tr.filter((r) => r.side < 0).map((r) => new Date(r.exec_time)), y: tr.filter((r) => r.side < 0).map((r) => r.price),
        mode: "markers", type: "scatter", name: "sells", marker: { color: "#c62828" } },
    ], { yaxis: { title: "price" } });
  },
  async settings() {
    const s = await header();
    document.getElementById("control-note").textContent = s.control_enabled
      ? "Start, stop and profile changes need the panel token."
      : "Control is disabled: the runner has no panel token configured.";
    kvTable("settings-table", { exchange: s.exchange, paper: s.paper, symbol: s.symbol, category: s.category,
      capital: s.capital, profile: `${s.profile.name ?? "config sections"} v${s.profile.version ?? "-"} (${s.profile.source})` });
  },
};

async function post(path, body) {
  const token = document.getElementById("token").value || sessionStorage.getItem(TOKEN_KEY) || "";
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json",
    Authorization: "Bearer " + token }, body: body ? JSON.stringify(body) : "{}" });
  const text = await r.text();
  document.getElementById("result").textContent = `HTTP ${r.status}: ${text}`;
  refresh();
}

function wireSettings() {
  const tok = document.getElementById("token");
  if (!tok) return;
  tok.value = sessionStorage.getItem(TOKEN_KEY) || "";
  document.getElementById("btn-start").addEventListener("click", () => post("/api/start"));
  document.getElementById("btn-stop").addEventListener("click", () => post("/api/stop"));
  document.getElementById("profile-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = document.getElementById("version").value;
    post("/api/profile/change", { profile: document.getElementById("profile").value, version: v ? Number(v) : null });
  });
}

async function refresh() {
  try {
    await pages[page]();
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (err) {
    document.getElementById("updated").textContent = "update failed: " + err.message;
  }
}

wireSettings();
refresh();
setInterval(refresh, refreshMs);
