// gridlab live panel: fills the page from the JSON API and refreshes it. Every time is UTC.
"use strict";

const page = document.body.dataset.page;
const refreshMs = Number(document.body.dataset.refresh) || 5000;
const multi = document.body.dataset.multi === "1";
const TOKEN_KEY = "gridlab-panel-token";
const GREEN = "#1a7f37", RED = "#c62828", GREY = "#8a8a8e";

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

// ---- formatting ------------------------------------------------------------------------------
const isNum = (x) => typeof x === "number" && Number.isFinite(x);
function num(x, digits) {
  if (!isNum(x)) return x === null || x === undefined ? "–" : String(x);
  if (digits === undefined) {
    const a = Math.abs(x);
    digits = a >= 1000 ? 2 : a >= 1 ? 4 : a === 0 ? 0 : 6;
  }
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}
const money = (x) => (isNum(x) ? x.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : "–");
const signed = (x) => (isNum(x) ? (x > 0 ? "+" : "") + money(x) : "–");
const pct = (x) => (isNum(x) ? (100 * x).toFixed(2) + " %" : "–");
const cap = (x) => (x === 0 ? "off" : pct(x)); // a limit of 0 is switched off
// UTC ISO without the T: the one clock of the panel (tables, charts, header)
const iso = (ms) => (isNum(ms) && ms > 0 ? new Date(ms).toISOString().replace("T", " ").slice(0, 19) : "–");
const plotTime = (ms) => new Date(ms).toISOString().replace("T", " ").slice(0, 23);
function dur(s) {
  if (!isNum(s)) return "–";
  s = Math.max(0, Math.round(s));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}
const signClass = (x) => (x > 0 ? "pos" : x < 0 ? "neg" : "");
const text = (v) => (v === null || v === undefined || v === "" ? "–" : String(v));
function posText(q) { return isNum(q) ? (q === 0 ? "flat" : `${num(Math.abs(q), 6)} ${q > 0 ? "long" : "short"}`) : "–"; }

async function getJSON(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}
function byId(id) { return document.getElementById(id); }
function setText(id, value, cls) {
  const el = byId(id);
  if (!el) return;
  el.textContent = value;
  if (cls !== undefined) el.className = "value " + cls;
}

// a label/value table: rows [label, text] (values formatted by the caller)
function kvTable(id, rows) {
  const el = byId(id);
  if (!el) return;
  el.replaceChildren();
  if (!rows || !rows.length) { el.innerHTML = "<tr><td>none</td></tr>"; return; }
  for (const [k, v] of rows) {
    const tr = document.createElement("tr");
    const a = document.createElement("td"); a.textContent = k;
    const b = document.createElement("td"); b.textContent = v;
    tr.append(a, b); el.append(tr);
  }
}

// cols: [key or fn(row), title, format fn(value, row) -> text | Node, css class?]
function rowsTable(id, rows, cols) {
  const el = byId(id);
  if (!el) return;
  el.replaceChildren();
  const head = document.createElement("tr");
  for (const c of cols) { const th = document.createElement("th"); th.textContent = c[1]; if (c[3]) th.className = c[3]; head.append(th); }
  el.append(head);
  for (const row of rows) {
    const tr = document.createElement("tr");
    for (const [key, , f, cls] of cols) {
      const td = document.createElement("td");
      const v = typeof key === "function" ? key(row) : row[key];
      const out = f ? f(v, row) : num(v);
      if (out instanceof Node) td.append(out); else td.textContent = out;
      if (cls) td.className = cls;
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
  const el = byId(id);
  if (!el || typeof Plotly === "undefined") return;
  Plotly.react(el, traces, Object.assign({ margin: { t: 20, r: 60, b: 40, l: 70 },
    showlegend: true, legend: { orientation: "h", y: -0.12 }, xaxis: { type: "date" } }, layout || {}),
    { displaylogo: false, responsive: true });
}
function setLabel(id, value) { const el = byId(id); if (el) el.textContent = value; }

// ---- header: state badge and the clock -----------------------------------------------------------
async function header() {
  const s = await getJSON(api("/api/status"));
  const badge = byId("state");
  badge.textContent = s.state + (s.streams_healthy ? "" : " · streams down");
  badge.className = "badge " + s.state.split(":")[0];
  const market = s.last_market_ts, wall = s.now_ms;
  byId("clock").textContent = `market ${iso(market)} UTC`;
  const note = byId("clock-note");
  const lag = isNum(market) ? (wall - market) / 1000 : null;
  note.hidden = !(lag !== null && Math.abs(lag) > 600);
  if (!note.hidden) {
    note.textContent = `The market clock (last print ${iso(market)} UTC) is ${dur(Math.abs(lag))} `
      + `${lag > 0 ? "behind" : "ahead of"} the wall clock (${iso(wall)} UTC): the exchange replays `
      + "old data or the feed is stalled. Charts of the market and fills use the market clock; "
      + "events, orders and equity the wall clock.";
  }
  const note2 = byId("control-note");
  if (note2) note2.textContent = s.control_enabled ? "Control needs the panel token."
    : "Control is disabled: the runner has no panel token configured.";
  return s;
}

const EVENT_COLS = [["ts", "time (UTC)", iso, "nowrap"], ["severity", "severity", text], ["kind", "kind", text],
  ["symbol", "symbol", text], ["message", "message", text, "wrap"]];
const GRID_COLS = [["symbol", "symbol", text], ["state", "state", text], ["profile", "profile", text],
  ["last_price", "price"], ["position", "position", posText], ["liq_price", "liq. price"], ["notional", "notional", money],
  ["equity", "equity", money], ["pnl", "PnL", signed], ["grid_profit", "grid profit", signed],
  ["exposure", "exposure", pct], ["open_orders", "orders"], ["error", "error", text, "wrap"]];
function profileText(p) { return p.name ? `${p.name}${p.version ? " v" + p.version : ""} (${p.source})` : `config sections (${p.source})`; }

function equityPlot(eq) {
  const t = eq.ts.map(plotTime);
  const traces = [{ x: t, y: eq.equity, name: totals ? "total equity" : "strategy equity", type: "scatter", mode: "lines" }];
  const layout = { yaxis: { title: "equity", tickformat: ",.2f" }, margin: { t: 20, r: 80, b: 40, l: 80 } };
  if (totals) {
    for (const [sym, g] of Object.entries(eq.grids || {})) {
      traces.push({ x: g.ts.map(plotTime), y: g.equity, name: sym, type: "scatter", mode: "lines", yaxis: "y2" });
    }
    layout.yaxis2 = { title: "grid equity", overlaying: "y", side: "right" };
  } else {
    traces.push({ x: t, y: eq.price, name: "price", type: "scatter", mode: "lines", yaxis: "y2", line: { dash: "dot", color: GREY } });
    layout.yaxis2 = { title: "price", overlaying: "y", side: "right", tickformat: ",.2f" };
  }
  plot("equity-chart", traces, layout);
  setLabel("equity-note", `${eq.n_marks} marks (1 s) after ${eq.n_snapshots} snapshots`);
}

// the candle chart: the strategy's bars, grid levels, working orders, fills
function marketPlot(id, m, withOrders) {
  const b = m.bars;
  const x = b.t.map((t) => plotTime(t + b.bar_ms / 2)); // plotly centres a candle on its x
  const traces = [{ type: "candlestick", name: "price", x, open: b.open, high: b.high, low: b.low, close: b.close,
    increasing: { line: { color: GREEN } }, decreasing: { line: { color: RED } } }];
  const x0 = b.t.length ? b.t[0] : Date.now(), x1 = b.t.length ? b.t[b.t.length - 1] + b.bar_ms : Date.now();
  if (withOrders && m.levels.length) {
    const lx = [], ly = [];
    for (const p of m.levels) { lx.push(plotTime(x0), plotTime(x1), null); ly.push(p, p, null); }
    traces.push({ type: "scatter", mode: "lines", name: "grid levels", x: lx, y: ly, hoverinfo: "y",
      line: { color: GREY, width: 1, dash: "dot" } });
  }
  if (withOrders) {
    for (const [side, color, sym] of [["Buy", GREEN, "triangle-up"], ["Sell", RED, "triangle-down"]]) {
      const os = m.orders.filter((o) => o.side === side);
      traces.push({ type: "scatter", mode: "markers", name: `${side.toLowerCase()} orders`,
        x: os.map(() => plotTime(x1)), y: os.map((o) => o.price), text: os.map((o) => `${side} ${num(o.qty, 6)} @ ${num(o.price)}`),
        hoverinfo: "text", marker: { symbol: sym, size: 11, color } });
    }
  }
  const f = m.fills;
  for (const [side, color] of [["Buy", GREEN], ["Sell", RED]]) {
    const k = f.side.map((s, i) => (s === side ? i : -1)).filter((i) => i >= 0);
    traces.push({ type: "scatter", mode: "markers", name: `${side.toLowerCase()} fills`,
      x: k.map((i) => plotTime(f.t[i])), y: k.map((i) => f.price[i]),
      text: k.map((i) => `${side} ${num(f.qty[i], 6)} @ ${num(f.price[i])} · ${iso(f.t[i])}`), hoverinfo: "text",
      marker: { symbol: "circle", size: 9, color, line: { color: "#fff", width: 1 } } });
  }
  const yaxis = { title: "price" };
  if (m.liq_price) { // the exchange position's liquidation price, as a line
    traces.push({ type: "scatter", mode: "lines", name: "liquidation price", x: [plotTime(x0), plotTime(x1)],
      y: [m.liq_price, m.liq_price], text: `liquidation price ${num(m.liq_price)}`, hoverinfo: "text",
      line: { color: RED, width: 2, dash: "dash" } });
    const ys = b.low.concat(b.high, m.levels).filter((v) => v !== null && isFinite(v));
    if (ys.length) { // far from the market (a low leverage): keep the candles readable
      const lo = Math.min(...ys), hi = Math.max(...ys);
      if (m.liq_price < lo * 0.9 || m.liq_price > hi * 1.1) {
        const pad = (hi - lo) * 0.05 || hi * 0.001;
        yaxis.range = [lo - pad, hi + pad];
      }
    }
  }
  plot(id, traces, { xaxis: { type: "date", rangeslider: { visible: false }, title: "market time (UTC)" },
    yaxis });
}

const pages = {
  async dashboard() {
    const [s, p, risk, eq, ev] = await Promise.all([header(), getJSON(api("/api/pnl")),
      getJSON(api("/api/risk/metrics")), getJSON(api("/api/equity/chart")), getJSON(api("/api/events?limit=15"))]);
    setText("equity", money(p.equity));
    const gain = p.equity - p.capital;
    setText("pnl", `${signed(gain)} (${pct(p.return)})`, signClass(gain));
    setText("grid-profit", signed(p.grid_profit), signClass(p.grid_profit));
    setText("unrealized", signed(p.unrealized), signClass(p.unrealized));
    setText("fees", money(p.fees));
    setText("funding", money(p.funding));
    setText("runtime", dur(p.runtime_s));
    setText("apr", pct(p.apr), signClass(p.apr));
    setLabel("apr-note", p.apr_note || "");
    setText("round-trips", num(p.n_round_trips, 0));
    setText("exposure", pct(risk.exposure));
    setText("liq-price", totals ? "see grids" : (s.liq_price ? num(s.liq_price) : "none"), s.liq_price ? "neg" : "");
    setText("errors", num(s.error_events, 0), s.error_events > 0 ? "neg" : "");
    const sec = byId("grids-section");
    if (sec) sec.hidden = !totals;
    if (totals) {
      setLabel("position-label", "Notional");
      setText("position", money(risk.notional));
      setLabel("price-label", "Grids trading");
      setText("price", `${s.grids.filter((g) => g.trading).length} / ${s.grids.length}`);
      const a = s.account;
      kvTable("status-table", [["state", s.state], ["grids", String(s.grids.length)], ["exchange", s.exchange],
        ["streams", s.streams_healthy ? "healthy" : "down"], ["total equity", money(a.equity)],
        ["day's max equity", money(a.daily_max)], ["drawdown", pct(a.drawdown)], ["kill switch at", cap(a.kill_switch_dd)],
        ["exposure cap", cap(a.max_total_exposure_pct)], ["symbol share cap", cap(a.max_symbol_share)],
        ["fills", num(s.stats.fills_applied, 0)], ["orders placed", num(s.stats.orders_placed, 0)],
        ["blocked by the account", num(s.stats.blocked_account, 0)], ["started", iso(s.started_ms) + " UTC"]]);
      rowsTable("grids-table", s.grids, GRID_COLS);
    } else {
      setLabel("position-label", "Position");
      setText("position", posText(p.position));
      setLabel("price-label", "Last price");
      setText("price", num(s.last_price));
      kvTable("status-table", [["state", s.state], ["profile", profileText(s.profile)],
        ["generation", String(s.generation)], ["exchange", s.exchange + (s.paper ? " (paper)" : "")],
        ["streams", s.streams_healthy ? "healthy" : "down"], ["last print", iso(s.last_market_ts) + " UTC"],
        ["fills", num(s.stats.fills_applied, 0)], ["orders placed", num(s.stats.orders_placed, 0)],
        ["orders blocked", num(s.stats.blocked, 0)], ["recenters", num(s.stats.recenters, 0)],
        ["started", iso(s.started_ms) + " UTC"]]);
    }
    rowsTable("daily-table", p.daily || [], [["day", "day (UTC)", text], ["pnl", "PnL", signed], ["equity", "equity", money]]);
    rowsTable("events-table", ev, EVENT_COLS);
    equityPlot(eq);
  },
  async grid() {
    await header();
    const [g, m] = await Promise.all([getJSON(api("/api/grid/levels")), getJSON(api("/api/chart/market"))]);
    setLabel("grid-gen", `${g.symbol} · generation ${g.generation} · centre ${num(g.centre)} · spacing ${pct(g.spacing)} · range ${num(g.lowest)} – ${num(g.highest)}`);
    setLabel("blocked-note", g.blocked ? `${g.blocked} slot(s) without an order: see the reason` : "");
    rowsTable("slots-table", g.slots, [["slot", "slot", (v) => String(v)], ["home", "home", text], ["lo", "buy at"], ["hi", "sell at"],
      ["qty", "qty"], ["display", "status", (v) => { const s = document.createElement("span"); s.className = "tag " + v; s.textContent = v; return s; }],
      [(r) => r.order, "working order", (o) => (o ? `${o.side} ${num(o.qty, 6)} @ ${num(o.price)} · ${o.status}` : "–")],
      [(r) => r.order && r.order.age_s, "age", dur], ["reason", "reason", text, "wrap"]]);
    rowsTable("grids-table", g.recent_grids, [["gen", "gen", String], ["ts", "time (UTC)", iso, "nowrap"], ["price", "price"],
      ["lowest", "lowest"], ["highest", "highest"], ["spacing", "spacing", pct], ["reason", "reason", text], ["profile", "profile", text]]);
    marketPlot("market-chart", m, true);
  },
  async orders() {
    await header();
    const o = await getJSON(api("/api/orders"));
    setLabel("orders-note", `${o.orders.length} working, by price`);
    o.orders.sort((a, b) => b.price - a.price);
    rowsTable("orders-table", o.orders, [["symbol", "symbol", text], ["side", "side", text], ["price", "price"],
      ["qty", "qty", (v) => num(v, 6)], ["filled", "filled", (v) => num(v, 6)], ["notional", "notional", money],
      ["status", "status", text], ["slot", "slot", String], ["created_ms", "placed (UTC)", iso, "nowrap"], ["age_s", "age", dur],
      ["link", "orderLinkId", text, "mono"],
      ["link", "", (v, row) => button("Cancel", "danger small", () => cancelOrder(row))]]);
  },
  async positions() {
    await header();
    const [p, b, risk] = await Promise.all([getJSON(api("/api/positions")), getJSON(api("/api/balance")), getJSON(api("/api/risk/metrics"))]);
    const sec = byId("grids-section");
    if (sec) sec.hidden = !totals;
    if (totals) rowsTable("grids-table", p.grids, GRID_COLS);
    if (totals) {
      kvTable("ledger-table", Object.entries(p.ledger).map(([sym, l]) => [sym, `${posText(l.size)} @ avg ${num(l.avg_price)} · mark ${num(l.mark_price)}`]));
      kvTable("exchange-table", Object.entries(p.exchange || {}).map(([sym, x]) => [sym, `${posText(x.size)} @ ${num(x.avg_price)} · ${iso(x.ts)} UTC`]));
    } else {
      const l = p.ledger;
      kvTable("ledger-table", [["symbol", l.symbol], ["position", posText(l.size)], ["average entry", num(l.avg_price)],
        ["mark", num(l.mark_price)], ["notional", money(l.notional)], ["unrealized", signed(l.unrealized)]]);
      const x = p.exchange;
      kvTable("exchange-table", x ? [["symbol", x.symbol], ["position", posText(x.size)], ["average entry", num(x.avg_price)],
        ["mark", num(x.mark_price)], ["unrealised PnL", signed(x.unrealised_pnl)], ["cumulative realised", signed(x.cum_realised_pnl)],
        ["leverage", num(x.leverage)], ["liquidation price", num(x.liq_price)], ["strategy position then", posText(x.ledger_position)],
        ["snapshot", iso(x.ts) + " UTC"]] : []);
    }
    const st = b.strategy, w = b.wallet;
    const rows = [["capital", money(b.capital)], ["equity", money(st.equity)], ["realized", signed(st.realized)],
      ["unrealized", signed(st.unrealized)], ["grid profit", signed(st.grid_profit)], ["fees", money(st.fees)], ["funding", money(st.funding)]];
    if (w) rows.push(["wallet: total equity", money(w.total_equity)], ["wallet: balance", money(w.total_wallet_balance)],
      ["wallet: available", money(w.total_available_balance)], ["wallet: unrealised", signed(w.total_unrealised_pnl)]);
    else rows.push(["wallet", "not read yet"]);
    kvTable("balance-table", rows);
    if (totals) {
      kvTable("risk-table", [["equity", money(risk.equity)], ["exposure", pct(risk.exposure)], ["worst case", pct(risk.worst_exposure)],
        ["exposure cap", cap(risk.max_total_exposure_pct)], ["symbol share cap", cap(risk.max_symbol_share)],
        ["kill switch at", cap(risk.kill_switch_dd)], ["drawdown", pct(risk.drawdown)], ["stopped", risk.stopped],
        ["orders blocked", num(risk.blocked_orders, 0)]]);
    } else {
      kvTable("risk-table", [["equity", money(risk.equity)], ["exposure", pct(risk.exposure)],
        ["worst case (all resting orders of a side filled)", pct(risk.worst_case_exposure)], ["exposure cap", cap(risk.max_exposure_pct)],
        ["max position", risk.max_position ? num(risk.max_position) : "off"], ["resting buys", num(risk.resting_buy_qty, 6)],
        ["resting sells", num(risk.resting_sell_qty, 6)], ["kill switch at drawdown", cap(risk.kill_switch_dd)],
        ["day's max equity", money(risk.daily_max_equity)], ["drawdown", pct(risk.daily_drawdown)], ["stopped", risk.stopped],
        ["paused", risk.paused ? "yes" : "no"], ["orders blocked (grid / account)", `${risk.blocked_orders} / ${risk.blocked_by_account}`]]);
    }
  },
  async history() {
    await header();
    const [t, ev, m] = await Promise.all([getJSON(api("/api/trades/recent?limit=200")), getJSON(api("/api/events?limit=100")),
      getJSON(api("/api/chart/market"))]);
    rowsTable("trades-table", t.trades, [["exec_time", "time (UTC)", iso, "nowrap"], ["symbol", "symbol", text],
      ["side", "side", (v) => (v > 0 ? "Buy" : "Sell")], ["price", "price"], ["qty", "qty", (v) => num(v, 6)], ["fee", "fee", (v) => num(v, 6)],
      ["kind", "kind", text], ["slot", "slot", String], ["position", "position after", (v) => num(v, 6)],
      ["grid_profit", "grid profit", (v) => (v ? signed(v) : "–")], ["source", "via", text]]);
    rowsTable("events-table", ev, EVENT_COLS);
    setLabel("fills-symbol", totals ? `${m.symbol} (pick a symbol for another grid)` : m.symbol);
    marketPlot("fills-chart", m, false);
  },
  async settings() {
    const s = await header();
    const who = totals ? "every grid" : s.symbol;
    setLabel("target-note", `The buttons act on ${who}.`);
    const pr = await getJSON(api("/api/profiles"));
    const run = pr.running;
    kvTable("settings-table", [["symbol", run.symbol], ["profile", profileText(run.profile)], ["capital", money(run.capital)],
      ["leverage", num(run.leverage)], ...Object.entries(run.params).map(([k, v]) => [k, typeof v === "number" ? num(v, 8) : text(v)])]);
    fillPicker(pr);
  },
};

// ---- control -------------------------------------------------------------------------------
function button(label, cls, onClick) {
  const b = document.createElement("button"); b.textContent = label; b.className = cls;
  b.addEventListener("click", onClick); return b;
}
function ask(title, message, yes) {
  const d = byId("confirm");
  byId("confirm-title").textContent = title;
  byId("confirm-text").textContent = message;
  byId("confirm-yes").textContent = yes || "Confirm";
  return new Promise((resolve) => {
    d.addEventListener("close", () => resolve(d.returnValue === "ok"), { once: true });
    d.returnValue = "";
    d.showModal();
  });
}
async function post(path, body) {
  const tok = byId("token");
  const token = (tok && tok.value) || sessionStorage.getItem(TOKEN_KEY) || "";
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json",
    Authorization: "Bearer " + token }, body: body ? JSON.stringify(body) : "{}" });
  const out = await r.text();
  const res = byId("result");
  if (res) res.textContent = `HTTP ${r.status}: ${out}`;
  refresh();
  return r.ok;
}
async function positionText() {
  const p = await getJSON(api("/api/positions"));
  if (totals) return Object.entries(p.ledger).map(([sym, l]) => `${sym} ${posText(l.size)}`).join(", ");
  const l = p.ledger;
  return `${posText(l.size)}${l.size ? `, notional ${money(l.notional)}, unrealized ${signed(l.unrealized)}` : ""}`;
}
async function stopGrid() {
  const [o, pos] = await Promise.all([getJSON(api("/api/orders")), positionText()]);
  const who = totals ? "every grid" : symbol || "the grid";
  const ok = await ask("Stop trading?", `Stop pauses ${who} and cancels its ${o.orders.length} working order(s). `
    + `The position stays open (${pos}); it is not closed or hedged. Close it on the Positions page. Start rebuilds the grid at the last price.`,
  "Stop");
  if (ok) await post(api("/api/stop"));
}
async function closePosition() {
  const pos = await positionText();
  const ok = await ask("Close the position?", `This pauses ${totals ? "every grid" : symbol || "the grid"}, cancels its orders and `
    + `closes the position (${pos}) with a reduce-only market order at the market price (taker fee, slippage).`, "Close position");
  if (ok) await post(api("/api/position/close"));
}
async function cancelOrder(row) {
  const ok = await ask("Cancel this order?", `${row.side} ${num(row.qty, 6)} ${row.symbol} @ ${num(row.price)} (${row.link}). `
    + "A grid that keeps trading places this slot's order again at its next check.", "Cancel order");
  if (ok) await post("/api/orders/cancel?symbol=" + encodeURIComponent(row.symbol), { order_link_id: row.link });
}

let picked = null;
function fillPicker(pr) {
  const sel = byId("profile-pick");
  if (!sel || sel.options.length) return;
  const groups = [["promoted", pr.promoted], ["profiles", pr.named]];
  for (const [label, items] of groups) {
    const og = document.createElement("optgroup"); og.label = label;
    for (const it of items) {
      const o = document.createElement("option");
      o.value = JSON.stringify({ profile: it.profile, version: it.version });
      o.textContent = it.label + (it.promoted_at ? ` · ${iso(it.promoted_at)} UTC${it.note ? " · " + it.note : ""}` : "");
      og.append(o);
    }
    if (items.length) sel.append(og);
  }
  setLabel("profile-note", pr.note || `${pr.promoted.length} promoted version(s)`);
  sel.addEventListener("change", showDiff);
  showDiff();
}
async function showDiff() {
  const sel = byId("profile-pick");
  if (!sel.value) return;
  picked = JSON.parse(sel.value);
  let q = "/api/profiles/diff?profile=" + encodeURIComponent(picked.profile);
  if (picked.version) q += "&version=" + picked.version;
  try {
    const d = await getJSON(api(q));
    setLabel("diff-note", `${d.profile}${d.version ? " v" + d.version : ""}: ${d.n_changed} parameter(s) differ`);
    const f = (v) => (typeof v === "number" ? num(v, 8) : text(v));
    rowsTable("diff-table", d.rows, [["param", "parameter", text, "mono"], ["running", "running", f], ["chosen", "chosen", f],
      ["changed", "", (v) => (v ? "changed" : ""), "changed"]]);
    for (const tr of byId("diff-table").querySelectorAll("tr")) {
      if (tr.lastChild && tr.lastChild.textContent === "changed") tr.classList.add("diff");
    }
  } catch (err) { setLabel("diff-note", String(err.message)); }
}
async function handOver(e) {
  e.preventDefault();
  if (!picked) return;
  const ok = await ask("Hand over to this profile?", `${picked.profile}${picked.version ? " v" + picked.version : ""}: `
    + "the orders are cancelled and the grid is rebuilt at the last price with the chosen parameters; the position and the ledger carry over.", "Hand over");
  if (ok) await post(api("/api/profile/change"), picked);
}

function wire() {
  const tok = byId("token");
  if (tok) tok.value = sessionStorage.getItem(TOKEN_KEY) || "";
  const on = (id, fn) => { const el = byId(id); if (el) el.addEventListener("click", fn); };
  on("btn-start", () => post(api("/api/start")));
  on("btn-stop", stopGrid);
  on("btn-close", closePosition);
  const form = byId("profile-form");
  if (form) form.addEventListener("submit", handOver);
}

async function refresh() {
  try {
    await pages[page]();
    byId("updated").textContent = "updated " + iso(Date.now()) + " UTC";
  } catch (err) {
    byId("updated").textContent = "update failed: " + err.message;
  }
}

wire();
refresh();
setInterval(refresh, refreshMs);
