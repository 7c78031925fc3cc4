// gridlab live panel: fills the page from the JSON API and refreshes it.
"use strict";

const page = document.body.dataset.page;
const refreshMs = Number(document.body.dataset.refresh) || 5000;
const multi = document.body.dataset.multi === "1";
const TOKEN_KEY = "gridlab-panel-token";

// the symbol selector: "" = every grid (totals); the grid page always shows one grid
const picker = document.getElementById("symbol");
let symbol = new URLSearchParams(location.search).get("symbol") || "";
if (picker) {
  const options = Array.from(picker.options).map((o) => o.value);
  if (!options.includes(symbol) || (page === "grid" && !symbol)) symbol = options.find((v) => v) || "";
  picker.value = symbol;
  picker.addEventListener("change", () => {
    location.search = picker.value ? "?symbol=" + encodeURIComponent(picker.value) : "";
  });
}
for (const a of document.querySelectorAll("nav a")) {
  if (symbol) a.href = a.getAttribute("href") + "?symbol=" + encodeURIComponent(symbol);
}
const totals = multi && !symbol;
function api(path) {
  if (!symbol) return path;
  return path + (path.includes("?") ? "&" : "?") + "symbol=" + encodeURIComponent(symbol);
}

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

function setLabel(id, text) { const el = document.getElementById(id); if (el) el.textContent = text; }

async function header() {
  const s = await getJSON(api("/api/status"));
  const badge = document.getElementById("state");
  badge.textContent = s.state + (s.streams_healthy ? "" : " · streams down");
  badge.className = "badge " + s.state.split(":")[0];
  return s;
}

const EVENT_COLS = [["ts", "time", time], ["severity", "severity", String], ["kind", "kind", String],
                    ["symbol", "symbol", (v) => v || "–"], ["message", "message", String]];
const GRID_COLS = [["symbol", "symbol", String], ["state", "state", String], ["profile", "profile", (v) => v || "–"],
  ["last_price", "price"], ["position", "position"], ["notional", "notional", (v) => fmt(v)],
  ["equity", "equity", (v) => fmt(v)], ["pnl", "PnL", (v) => fmt(v)], ["grid_profit", "grid profit", (v) => fmt(v, 4)],
  ["exposure", "exposure", pct], ["open_orders", "orders"], ["error", "error", (v) => v || ""]];
function profileText(p) { return `${p.name ?? "config sections"} v${p.version ?? "-"} (${p.source})`; }

const pages = {
  async dashboard() {
    const [s, p, risk, eq, ev] = await Promise.all([header(), getJSON(api("/api/pnl")),
      getJSON(api("/api/risk/metrics")), getJSON(api("/api/equity/chart")), getJSON(api("/api/events?limit=15"))]);
    setText("equity", fmt(p.equity));
    setText("pnl", fmt(p.equity - s.capital) + " (" + pct(p.return) + ")", signClass(p.equity - s.capital));
    setText("grid-profit", fmt(p.grid_profit, 4), signClass(p.grid_profit));
    setText("exposure", pct(risk.exposure));
    const sec = document.getElementById("grids-section");
    if (sec) sec.hidden = !multi || !!symbol;
    if (totals) {
      setLabel("position-label", "Notional");
      setText("position", fmt(risk.notional));
      setLabel("price-label", "Grids trading");
      setText("price", `${s.grids.filter((g) => g.trading).length} / ${s.grids.length}`);
      const a = s.account;
      kvTable("status-table", { state: s.state, grids: s.grids.length, exchange: s.exchange,
        streams: s.streams_healthy ? "healthy" : "down", "total equity": fmt(a.equity),
        "daily max": fmt(a.daily_max), drawdown: pct(a.drawdown), "kill switch at": pct(a.kill_switch_dd),
        "exposure cap": pct(a.max_total_exposure_pct), "symbol share cap": pct(a.max_symbol_share),
        fills: s.stats.fills_applied, orders: s.stats.orders_placed, "blocked by account": s.stats.blocked_account,
        errors: s.stats.errors, uptime_s: s.uptime_s });
      rowsTable("grids-table", s.grids, GRID_COLS);
    } else {
      setLabel("position-label", "Position");
      setText("position", fmt(p.position, 6));
      setLabel("price-label", "Last price");
      setText("price", fmt(s.last_price));
      kvTable("status-table", { state: s.state, profile: profileText(s.profile),
        generation: s.generation, exchange: s.exchange, streams: s.streams_healthy ? "healthy" : "down",
        "market time": time(s.last_market_ts), fills: s.stats.fills_applied, orders: s.stats.orders_placed,
        recenters: s.stats.recenters, errors: s.stats.errors, uptime_s: s.uptime_s });
    }
    rowsTable("events-table", ev, EVENT_COLS);
    const t = eq.ts.map((x) => new Date(x));
    const traces = [{ x: t, y: eq.equity, name: totals ? "total equity" : "strategy equity", type: "scatter", mode: "lines" }];
    if (totals) {
      for (const [sym, g] of Object.entries(eq.grids || {})) {
        traces.push({ x: g.ts.map((x) => new Date(x)), y: g.equity, name: sym, type: "scatter", mode: "lines", yaxis: "y2" });
      }
      plot("equity-chart", traces, { yaxis: { title: "total equity" }, yaxis2: { title: "grid equity", overlaying: "y", side: "right" } });
    } else {
      traces.push({ x: t, y: eq.price, name: "price", type: "scatter", mode: "lines", yaxis: "y2", line: { dash: "dot" } });
      plot("equity-chart", traces, { yaxis: { title: "equity" }, yaxis2: { title: "price", overlaying: "y", side: "right" } });
    }
  },
  async grid() {
    await header();
    const g = await getJSON(api("/api/grid/levels"));
    document.getElementById("grid-gen").textContent = `${g.symbol} · generation ${g.generation}, centre ${fmt(g.centre)}, spacing ${pct(g.spacing)}`;
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
    const [p, b, risk] = await Promise.all([getJSON(api("/api/positions")), getJSON(api("/api/balance")), getJSON(api("/api/risk/metrics"))]);
    const sec = document.getElementById("grids-section");
    if (sec) sec.hidden = !multi || !!symbol;
    if (totals) rowsTable("grids-table", p.grids, GRID_COLS);
    kvTable("ledger-table", p.ledger);
    kvTable("exchange-table", p.exchange);
    kvTable("balance-table", Object.assign({}, b.strategy, { wallet: b.wallet }));
    const r = Object.assign({}, risk);
    delete r.grids;
    kvTable("risk-table", r);
  },
  async history() {
    await header();
    const [t, ev] = await Promise.all([getJSON(api("/api/trades/recent?limit=200")), getJSON(api("/api/events?limit=100"))]);
    rowsTable("trades-table", t.trades, [["exec_time", "time", time], ["symbol", "symbol", String], ["side", "side", (v) => (v > 0 ? "Buy" : "Sell")],
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
    setLabel("target-note", totals ? "The buttons act on every grid." : `The buttons act on ${s.symbol}.`);
    if (totals) {
      const rows = { exchange: s.exchange, paper: s.paper, capital: s.capital };
      for (const g of s.grids) rows[g.symbol] = `${g.category} · ${g.state} · profile ${g.profile ?? "-"} · capital ${fmt(g.capital)}`;
      kvTable("settings-table", rows);
    } else {
      kvTable("settings-table", { exchange: s.exchange, paper: s.paper, symbol: s.symbol, category: s.category,
        capital: s.capital, profile: profileText(s.profile) });
    }
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
  document.getElementById("btn-start").addEventListener("click", () => post(api("/api/start")));
  document.getElementById("btn-stop").addEventListener("click", () => post(api("/api/stop")));
  document.getElementById("profile-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const v = document.getElementById("version").value;
    post(api("/api/profile/change"), { profile: document.getElementById("profile").value, version: v ? Number(v) : null });
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
