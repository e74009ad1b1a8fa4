// Ballast live dashboard. Plain JavaScript, no build step, no CDN: plotly.js is served by the
// site API from the installed plotly package. Live data: the site API's server-sent-events
// stream (/api/v1/stream, one "tick" event per control tick; schema in ballast/live/api.py),
// opened with a single-use stream ticket (POST /api/v1/stream-ticket), never a token in a URL.
// Actions go through the site API, which checks the token's role (the hidden controls for a
// viewer are a courtesy; the API refuses a viewer's action with 403).
"use strict";

const WINDOW_POINTS = 900; // ticks kept on the charts (15 min at a 1-s tick)
const TIMELINE_POLL_MS = 2000;
const RECONNECT_MS = 1000; // wait before a new stream ticket after the stream dropped
const TOKEN_KEY = "ballast.token";
// Marked on the power chart as dotted vertical lines: what changed the picture, and who.
const MARKER_KINDS = new Set(["dr_start", "dr_end", "ufr_trip", "ufr_restore", "watchdog", "watchdog_clear", "resume"]);
const MARKER_ACTIONS = new Set(["group.curtail", "group.resume", "policy.update", "dr.create", "dr.cancel", "ufr.reset"]);

const S = {
  token: null, meta: null, es: null, points: [], last: null, lastTickAt: 0,
  rule: null, ruleSince: null, ruleHistory: [], drawPending: false, timer: null, clockTimer: null,
  stats: { drawMs: [], lagMs: [] }, // last 100 chart redraws and tick-to-page delays (benchmarks)
};
const keep100 = (arr, v) => { arr.push(v); if (arr.length > 100) arr.shift(); };
window.ballastDashboard = S; // for debugging from the console and for the browser tests

const $ = (id) => document.getElementById(id);
const fmt = (x, d = 1) => (x === null || x === undefined || Number.isNaN(x) ? "–" : Number(x).toFixed(d));
const hhmmss = (iso) => (iso ? iso.slice(11, 19) : "–");
const utcOf = (s) => new Date(s * 1000).toISOString().replace(".000Z", "Z");
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const isOperator = () => S.meta && S.meta.principal.role === "operator";

function localTime(iso) {
  // The site's local time (scenario site.timezone), for display only; UTC everywhere else.
  try {
    const f = S.localFmt || (S.localFmt = new Intl.DateTimeFormat("en-US", { hourCycle: "h23",
      timeZone: S.meta.site.timezone, hour: "2-digit", minute: "2-digit", second: "2-digit",
      timeZoneName: "short" }));
    return `(${f.format(new Date(iso))} site)`;
  } catch (_) {
    return "";
  }
}

// ---------------------------------------------------------------- API calls
async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${S.token}` }, opts.headers || {});
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method: opts.method || "GET", headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  let data = null;
  try { data = await r.json(); } catch (_) { data = null; }
  if (!r.ok) {
    const detail = data && data.detail ? (typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)) : r.statusText;
    const err = new Error(`${r.status}: ${detail}`);
    err.status = r.status;
    throw err;
  }
  return data;
}

function toast(msg, isError = false) {
  const t = $("toast");
  t.textContent = msg;
  t.className = isError ? "toast error" : "toast";
  t.hidden = false;
  clearTimeout(t._timer);
  t._timer = setTimeout(() => { t.hidden = true; }, 4000);
}

async function act(label, path, opts) {
  try {
    const res = await api(path, opts);
    toast(`${label}: done`);
    pollTimeline();
    return res;
  } catch (e) {
    toast(`${label}: refused (${e.message})`, true);
    return null;
  }
}

// ---------------------------------------------------------------- login
async function login(token) {
  S.token = token;
  try {
    S.meta = await api("/dashboard/api/meta");
  } catch (e) {
    S.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    $("login-error").textContent = e.status === 401 ? "Unknown token." : `Cannot reach the site API (${e.message}).`;
    showLogin();
    return false;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("login-error").textContent = "";
  start();
  return true;
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  $("login-error").textContent = "";
  if (S.es) S.es.close();
  clearInterval(S.timer);
  clearInterval(S.clockTimer);
  clearTimeout(S.reconnectTimer);
  Object.assign(S, { token: null, meta: null, es: null, points: [], last: null, ruleHistory: [],
    markers: [], localFmt: null });
  setConn("off", "not connected");
  showLogin();
}

function showLogin() {
  $("app").hidden = true;
  $("who").hidden = true;
  $("login").hidden = false;
  $("token").value = "";
  $("token").focus();
}

// ---------------------------------------------------------------- start
function applyStyle(style) {
  const root = document.documentElement.style;
  for (const k of ["ai", "renewable", "import", "limit"]) root.setProperty(`--${k}`, style.assets[k]);
  document.documentElement.style.fontFamily = style.font;
}

function start() {
  const m = S.meta;
  applyStyle(m.style);
  $("login").hidden = true;
  $("app").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = m.principal.name;
  $("who-role").textContent = m.principal.role;
  $("who-role").className = `badge ${m.principal.role}`;
  $("site-name").textContent = m.site.name;
  $("limit-mw").textContent = fmt(m.site.import_limit_mw);
  document.body.classList.toggle("operator", isOperator());
  for (const el of document.querySelectorAll(".op-only")) el.hidden = !isOperator();
  for (const el of document.querySelectorAll("#policy-form input")) el.disabled = !isOperator();
  buildGroupRows();
  loadPolicy();
  pollTimeline();
  S.timer = setInterval(pollTimeline, TIMELINE_POLL_MS);
  S.clockTimer = setInterval(checkFresh, 1000);
  seedThenStream();
}

async function seedThenStream() {
  // The last minutes the server kept (same documents as the stream), then the live stream.
  try {
    const recent = await api(`/dashboard/api/recent?limit=${WINDOW_POINTS}`);
    for (const doc of recent) ingest(doc);
    if (recent.length) scheduleDraw();
  } catch (e) {
    toast(`History: ${e.message}`, true);
  }
  openStream();
}

async function openStream() {
  // The token never goes into a URL: POST for a short-lived, single-use stream ticket (bearer
  // header), then open the EventSource with it. A ticket is good for one connection, so
  // EventSource's own retry (same URL) would be refused: on error, close and reconnect with a
  // new ticket.
  if (S.es) S.es.close();
  S.es = null;
  clearTimeout(S.reconnectTimer);
  if (!S.token) return;
  const gen = (S.streamGen = (S.streamGen || 0) + 1);
  let ticket;
  try {
    ticket = (await api("/api/v1/stream-ticket", { method: "POST" })).ticket;
  } catch (e) {
    setConn("off", "reconnecting…");
    if (e.status === 401) checkToken();
    else S.reconnectTimer = setTimeout(openStream, RECONNECT_MS);
    return;
  }
  if (gen !== S.streamGen || !S.token) return; // signed out or reopened meanwhile
  const es = new EventSource(`/api/v1/stream?ticket=${encodeURIComponent(ticket)}`);
  S.es = es;
  es.addEventListener("tick", (e) => onTick(JSON.parse(e.data)));
  es.onopen = () => setConn("stale", "connected, waiting for a tick");
  es.onerror = () => {
    es.close();
    if (S.es !== es) return;
    setConn("off", "reconnecting…");
    checkToken();
    S.reconnectTimer = setTimeout(openStream, RECONNECT_MS);
  };
}

async function checkToken() {
  // After a restart with new tokens, this page's token is refused: back to the sign-in form.
  if (!S.token || Date.now() - (S.tokenCheckedAt || 0) < 5000) return;
  S.tokenCheckedAt = Date.now();
  try {
    await api("/dashboard/api/meta");
  } catch (e) {
    if (e.status === 401) {
      logout();
      $("login-error").textContent = "The site no longer accepts this token; sign in again.";
    }
  }
}

function setConn(cls, text) {
  $("conn-dot").className = `dot ${cls}`;
  $("conn-text").textContent = text;
}

function checkFresh() {
  if (!S.last) return;
  const age = (Date.now() - S.lastTickAt) / 1000;
  const tick = S.meta ? S.meta.site.tick_s : 1;
  if (!S.es || S.es.readyState === EventSource.CLOSED) setConn("off", "reconnecting…");
  else if (age > Math.max(3 * tick, 3)) {
    setConn("stale", `no tick for ${age.toFixed(0)} s`);
    checkHealth();
  }
}

// ---------------------------------------------------------------- per tick
function ingest(doc) {
  // Add one tick to the chart buffer and the rule history; false if already seen.
  const lastTick = S.points.length ? S.points[S.points.length - 1].tick : -1;
  if (doc.tick === lastTick) return false; // the stream repeats the latest tick on connect
  if (doc.tick < lastTick) S.points = []; // a runtime with a fresh store: start over
  const byName = Object.fromEntries(doc.groups.map((g) => [g.name, g]));
  const p = doc.power_mw;
  const point = {
    tick: doc.tick, time: doc.time.replace("Z", ""), import: p.import, ai: p.ai, renewables: p.renewables,
    miners: p.miners, limit: p.import_limit, price: doc.market.price_usd_per_mwh,
    hashprice: doc.market.hashprice_usd_per_ph_day, groups: {},
  };
  for (const gm of S.meta.groups) {
    const g = byName[gm.name];
    point.groups[gm.name] = g ? g.power_mw : null; // the server's figure (live/devices.py)
  }
  S.points.push(point);
  if (S.points.length > WINDOW_POINTS) S.points.splice(0, S.points.length - WINDOW_POINTS);
  if (doc.binding_rule !== S.rule) {
    if (S.rule !== null) S.ruleHistory.unshift({ time: doc.time, from: S.rule, to: doc.binding_rule });
    S.ruleHistory = S.ruleHistory.slice(0, 8);
    S.rule = doc.binding_rule;
    S.ruleSince = doc.time;
  }
  return true;
}

function scheduleDraw() {
  if (S.drawPending) return;
  S.drawPending = true;
  requestAnimationFrame(() => { S.drawPending = false; drawCharts(); });
}

function onTick(doc) {
  S.last = doc;
  S.lastTickAt = Date.now();
  keep100(S.stats.lagMs, S.lastTickAt - 1000 * doc.time_s);
  setConn("live", "live");
  const isNew = ingest(doc);
  const byName = Object.fromEntries(doc.groups.map((g) => [g.name, g]));
  renderTiles(doc);
  renderWhy(doc);
  renderGroups(doc, byName);
  renderPrograms(doc);
  if (isNew) scheduleDraw();
}

function setTile(id, value, digits = 1) {
  $(id).querySelector("[data-v]").textContent = fmt(value, digits);
}

function renderTiles(doc) {
  const p = doc.power_mw;
  $("tick-time").textContent = hhmmss(doc.time);
  $("tick-local").textContent = localTime(doc.time);
  $("tick-no").textContent = doc.tick;
  setTile("tile-import", p.import);
  setTile("tile-ai", p.ai);
  setTile("tile-miners", p.miners);
  setTile("tile-renewables", p.renewables);
  setTile("tile-frequency", doc.frequency_hz, 3);
  setTile("tile-price", doc.market.price_usd_per_mwh, 2);
  $("hashprice").textContent = fmt(doc.market.hashprice_usd_per_ph_day, 2);
  const rp = doc.market.replay_time; // market replay of the scenario's series (demos, dry runs)
  // live.market feeds: source, age of the value and the stale fallback in force, per feed
  const feeds = Object.entries(doc.market.feeds || {}).map(([kind, f]) => `${kind}: ${f.source}, `
    + (f.age_s === null ? "no value yet" : `${Math.round(f.age_s)} s old`)
    + (f.fallback ? ` (stale: ${f.fallback})` : ""));
  $("replay").textContent = (rp ? `· replay of ${rp.slice(0, 16).replace("T", " ")} UTC` : "")
    + (feeds.length ? ` · ${feeds.join(" · ")}` : "");
  $("miners-planned").textContent = fmt(p.miners_planned);
  const head = p.import === null ? null : p.import_limit - p.import;
  $("headroom-mw").textContent = fmt(head);
  const tile = $("tile-import");
  tile.classList.toggle("over", head !== null && head < 0);
  tile.classList.toggle("near", head !== null && head >= 0 && head < 0.05 * p.import_limit);
  showSafe(doc.safe_mode, doc.safe_mode_reason);
}

function showSafe(on, reason) {
  // the runtime says why (watchdog: meter stale or refused; fail-safe: ticks failing)
  $("safe-banner").hidden = !on;
  if (on) $("safe-reason").textContent = reason || "every miner asleep";
}

async function checkHealth() {
  // ticks stopped arriving: ask /healthz (public), which stays current while ticks fail
  try {
    const h = await (await fetch("/healthz")).json();
    showSafe(h.safe_mode, h.safe_mode_reason);
  } catch (e) { /* the server itself is gone: the connection badge says so */ }
}

function renderWhy(doc) {
  const r = doc.binding_rule;
  const el = $("rule-name");
  el.textContent = r.replace(/_/g, " ");
  el.className = `rule ${r}`;
  el.dataset.rule = r;
  $("rule-since").textContent = hhmmss(S.ruleSince);
  $("rule-text").textContent = S.meta.rules[r] || "";
  $("rule-history").innerHTML = S.ruleHistory
    .map((h) => `<li>${hhmmss(h.time)} ${esc(h.from.replace(/_/g, " "))} → <b>${esc(h.to.replace(/_/g, " "))}</b></li>`)
    .join("");
}

function buildGroupRows() {
  const body = $("groups").querySelector("tbody");
  body.innerHTML = "";
  for (const gm of S.meta.groups) {
    const tr = document.createElement("tr");
    tr.dataset.group = gm.name;
    tr.innerHTML =
      `<td><span class="swatch" style="background:${esc(gm.colour)}"></span><b>${esc(gm.name)}</b>` +
      ` <span class="muted small">${esc(gm.model)} · ×${fmt(gm.miners_per_device, 0)}</span></td>` +
      `<td><span class="mode" data-f="mode">–</span></td><td data-f="running">–</td><td data-f="asleep">–</td>` +
      `<td data-f="non_compliant">–</td><td data-f="unreachable">–</td><td data-f="target_running">–</td>` +
      `<td data-f="mw">–</td>` +
      `<td class="op-only"><button type="button" class="curtail danger">Curtail</button>` +
      `<button type="button" class="resume primary" hidden>Resume</button></td>`;
    const enc = encodeURIComponent(gm.name);
    tr.querySelector(".curtail").addEventListener("click", () =>
      act(`Curtail ${gm.name}`, `/api/v1/groups/${enc}/curtail`, { method: "POST" }));
    tr.querySelector(".resume").addEventListener("click", () =>
      act(`Resume ${gm.name}`, `/api/v1/groups/${enc}/resume`, { method: "POST" }));
    if (!isOperator()) tr.querySelector(".op-only").remove(); // a viewer gets no controls at all
    body.appendChild(tr);
  }
}

function renderGroups(doc, byName) {
  for (const gm of S.meta.groups) {
    const g = byName[gm.name];
    const tr = $("groups").querySelector(`tr[data-group="${CSS.escape(gm.name)}"]`);
    if (!g || !tr) continue;
    for (const f of ["running", "asleep", "non_compliant", "unreachable", "target_running"]) {
      const td = tr.querySelector(`[data-f="${f}"]`);
      td.textContent = g[f];
      if (f === "non_compliant" || f === "unreachable") td.classList.toggle("bad", g[f] > 0);
    }
    tr.querySelector('[data-f="mw"]').textContent = fmt(g.power_mw);
    const mode = tr.querySelector('[data-f="mode"]');
    mode.textContent = g.mode.replace(/_/g, " ");
    mode.className = `mode ${g.mode}`;
    tr.dataset.mode = g.mode;
    const c = tr.querySelector(".curtail");
    const r = tr.querySelector(".resume");
    if (c && r) { c.hidden = g.mode === "curtailed"; r.hidden = g.mode !== "curtailed"; }
  }
}

function renderPrograms(doc) {
  const ul = $("programs");
  const items = doc.active_events.map((e) => {
    if (e.kind === "dr") {
      const cancel = isOperator() ? ` <button type="button" class="cancel-dr" data-id="${esc(e.id)}">Cancel</button>` : "";
      return `<li class="dr" data-kind="dr"><b>Demand response</b> ${esc(e.id)}: reduce ${fmt(e.reduction_mw)} MW ` +
        `(import ${fmt(e.baseline_import_mw)} → ≤ ${fmt(e.target_import_mw)} MW) until ${hhmmss(e.end)} UTC; ` +
        `miner cap ${fmt(e.cap_mw)} MW${e.shortfall_mw > 0 ? `, <b>shortfall ${fmt(e.shortfall_mw)} MW</b>` : ""}${cancel}</li>`;
    }
    if (e.kind === "ufr") {
      const reset = isOperator() ? ' <button type="button" class="reset-ufr">Reset relay</button>' : "";
      return `<li class="ufr" data-kind="ufr"><b>Under-frequency relay tripped</b>: ${esc(e.groups.join(", "))} asleep${reset}</li>`;
    }
    if (e.kind === "watchdog") {
      return `<li class="watchdog" data-kind="watchdog"><b>Watchdog</b>: meter silent for ${fmt(e.meter_age_s)} s, safe state</li>`;
    }
    // grid programs (live.grid_programs): the server's caps and floors, shown as sent
    if (e.kind === "eea") {
      return `<li class="eea" data-kind="eea"><b>EEA level ${esc(String(e.level))}</b> since ${hhmmss(e.since)} UTC: ` +
        (e.cap_mw === null ? "no curtailment at this level" : `miner cap ${fmt(e.cap_mw)} MW`) + "</li>";
    }
    if (e.kind === "4cp_alert") {
      return `<li class="fourcp" data-kind="4cp_alert"><b>4CP alert</b> (${esc(e.source)}) until ${hhmmss(e.end)} UTC: ` +
        `miner cap ${fmt(e.cap_mw)} MW</li>`;
    }
    if (e.kind === "deployment") {
      return `<li class="deployment" data-kind="deployment"><b>${esc(e.program)} deployed</b> (${esc(e.source)}) until ` +
        `${hhmmss(e.end)} UTC: ${fmt(e.commit_mw)} MW below ${fmt(e.reference_mw)} MW, miner cap ${fmt(e.cap_mw)} MW</li>`;
    }
    if (e.kind === "reserve") {
      const sold = Object.entries(e.sold_mw).map(([k, v]) => `${esc(k)} ${fmt(v)} MW`).join(", ");
      return `<li class="reserve" data-kind="reserve"><b>Reserves sold</b>: ${sold}; miner floor ${fmt(e.floor_mw)} MW</li>`;
    }
    return `<li data-kind="${esc(e.kind)}">${esc(JSON.stringify(e))}</li>`;
  });
  const html = items.length ? items.join("") : '<li class="none muted">No active programs or events.</li>';
  if (ul._html !== html) { ul.innerHTML = html; ul._html = html; }
}

// ---------------------------------------------------------------- charts
function baseLayout(title, yTitle) {
  const st = S.meta.style;
  return {
    title: { text: title, font: { size: 15 } }, font: { family: st.font }, paper_bgcolor: "#fff",
    plot_bgcolor: "#fff", margin: { l: 60, r: 20, t: 40, b: 40 }, hovermode: "x unified",
    legend: { orientation: "h", y: -0.18 }, uirevision: "keep",
    xaxis: { gridcolor: "#ebf0f8", title: { text: "UTC" } },
    yaxis: { gridcolor: "#ebf0f8", zerolinecolor: "#ebf0f8", title: { text: yTitle }, rangemode: "tozero" },
  };
}

function powerTraces() {
  const st = S.meta.style;
  const x = S.points.map((p) => p.time);
  const traces = [{
    x, y: S.points.map((p) => p.ai), name: st.labels.ai, type: "scatter", mode: "lines",
    stackgroup: "load", line: { width: 0 }, fillcolor: st.assets.ai, marker: { color: st.assets.ai },
  }];
  for (const gm of S.meta.groups) {
    traces.push({
      x, y: S.points.map((p) => p.groups[gm.name]), name: `Miners ${gm.name}`, type: "scatter",
      mode: "lines", stackgroup: "load", line: { width: 0 }, fillcolor: gm.colour, marker: { color: gm.colour },
    });
  }
  traces.push({ x, y: S.points.map((p) => p.renewables), name: st.labels.renewable, type: "scatter",
    mode: "lines", line: { color: st.assets.renewable, width: 1.5 } });
  traces.push({ x, y: S.points.map((p) => p.import), name: st.labels.import, type: "scatter",
    mode: "lines", line: { color: st.assets.import, width: 2 } });
  return traces;
}

function drawCharts() {
  if (!window.Plotly || !S.meta || !S.points.length) return;
  const t0 = performance.now();
  const st = S.meta.style;
  const limit = S.meta.site.import_limit_mw;
  const pl = baseLayout("Campus power (live)", "MW");
  pl.shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: limit, y1: limit,
    layer: "above", line: { color: st.assets.limit, dash: "dash", width: 2 } }];
  pl.annotations = [{ xref: "paper", x: 0, y: limit, yanchor: "bottom", xanchor: "left",
    text: "import limit", showarrow: false, font: { color: st.assets.limit },
    bgcolor: "rgba(255,255,255,0.85)" }];
  const x0 = S.points[0].time;
  for (const m of S.markers || []) {
    const x = utcOf(m.t).replace("Z", "");
    if (x < x0) continue;
    pl.shapes.push({ type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
      line: { color: "#64748b", dash: "dot", width: 1 } });
    pl.annotations.push({ xref: "x", yref: "paper", x, y: 1, yanchor: "bottom", textangle: -30,
      text: m.label, showarrow: false, font: { size: 10, color: "#475569" } });
  }
  pl.margin = Object.assign({}, pl.margin, { t: 70 });
  const cfg = { displaylogo: false, responsive: true };
  Plotly.react("power-chart", powerTraces(), pl, cfg);

  const x = S.points.map((p) => p.time);
  const price = [{ x, y: S.points.map((p) => p.price), name: "Power price", type: "scatter", mode: "lines",
    line: { color: st.assets.price, width: 1.5 } }];
  for (const gm of S.meta.groups) {
    const k = gm.breakeven_usd_per_mwh_per_usd_per_ph_day;
    price.push({ x, y: S.points.map((p) => p.hashprice * k), name: `breakeven ${gm.name}`, type: "scatter",
      mode: "lines", line: { color: gm.colour, width: 2 } });
  }
  const ppl = baseLayout("Power price against each miner group's breakeven (pool fee and cooling incl.)", "USD/MWh");
  const ys = price.flatMap((t) => t.y).filter((v) => v !== null && Number.isFinite(v));
  const lo = Math.min(0, ...ys), hi = Math.max(1, ...ys);
  ppl.yaxis.range = [lo - 0.05 * (hi - lo), hi + 0.1 * (hi - lo)];
  ppl.yaxis.rangemode = "normal";
  Plotly.react("price-chart", price, ppl, cfg);
  keep100(S.stats.drawMs, performance.now() - t0);
}

// ---------------------------------------------------------------- policy, DR
async function loadPolicy() {
  try {
    const pol = await api("/api/v1/policy");
    $("pol-price").value = pol.price_usd_per_mwh;
    $("pol-hashprice").value = pol.hashprice_usd_per_ph_day;
    $("pol-margin").value = pol.import_margin_mw;
    $("pol-econ").checked = pol.economic_dispatch;
  } catch (e) {
    toast(`Policy: ${e.message}`, true);
  }
}

async function savePolicy(ev) {
  ev.preventDefault();
  const body = { economic_dispatch: $("pol-econ").checked };
  const fields = { price_usd_per_mwh: "pol-price", hashprice_usd_per_ph_day: "pol-hashprice",
    import_margin_mw: "pol-margin" };
  for (const [key, id] of Object.entries(fields)) {
    const v = $(id).value.trim();
    if (v !== "") body[key] = Number(v); // an emptied field stays as it is, never becomes 0
  }
  if (await act("Policy", "/api/v1/policy", { method: "PUT", body })) loadPolicy();
}

async function startDr(ev) {
  ev.preventDefault();
  const body = { reduction_mw: Number($("dr-mw").value), duration_s: 60 * Number($("dr-min").value) };
  await act("Demand-response event", "/api/v1/dr-events", { method: "POST", body });
}

// ---------------------------------------------------------------- timeline
async function pollTimeline() {
  if (!S.token) return;
  let events, audit, commands;
  try {
    [events, audit, commands] = await Promise.all([api("/api/v1/events?limit=60"),
      api("/api/v1/audit?limit=40"), api("/api/v1/commands?limit=40")]);
  } catch (e) {
    if (e.status === 401) checkToken();
    return; // the connection indicator already tells
  }
  S.markers = events.filter((e) => MARKER_KINDS.has(e.kind))
    .map((e) => ({ t: e.time_s, label: e.kind.replace(/_/g, " ") }))
    .concat(audit.filter((a) => MARKER_ACTIONS.has(a.action) && a.result === "ok")
      .map((a) => ({ t: a.time_s, label: a.action + (a.payload && a.payload.group ? ` ${a.payload.group}` : "") })));
  const rows = events.map((e) => ({ t: e.time_s, cls: /trip|watchdog$|shutdown/.test(e.kind) ? "warn" : "event",
    kind: e.kind.replace(/_/g, " "), text: e.message }))
    .concat(audit.map((a) => ({ t: a.time_s, cls: "audit", kind: a.action,
      text: `${a.actor} (${a.role}) ${a.payload && a.payload.group ? a.payload.group + " " : ""}→ ${a.result}` })))
    // fleet commands only when some miners did not comply (the rest is routine)
    .concat(commands.filter((c) => c.failed > 0).map((c) => ({ t: c.time_s, cls: "warn",
      kind: `${c.command} failed`,
      text: `${c.group_name ? c.group_name + ": " : ""}${c.ok}/${c.miners} complied; ` +
        (c.failures || []).slice(0, 4).map((f) => `${f[0]} ${f[1]}`).join(", ") +
        ((c.failures || []).length > 4 ? ", …" : "") })));
  rows.sort((a, b) => b.t - a.t);
  const html = rows.slice(0, 80).map((r) => `<li class="${r.cls}"><span class="time">${hhmmss(utcOf(r.t))}</span>` +
    `<span class="kind">${esc(r.kind)}</span><span>${esc(r.text)}</span></li>`).join("");
  const ol = $("timeline");
  if (ol._html !== html) { ol.innerHTML = html || '<li class="muted">No events yet.</li>'; ol._html = html; }
}

// ---------------------------------------------------------------- wiring
document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value.trim()); });
  $("logout").addEventListener("click", logout);
  $("policy-form").addEventListener("submit", savePolicy);
  $("dr-form").addEventListener("submit", startDr);
  $("programs").addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b) return;
    if (b.classList.contains("cancel-dr")) act("Cancel DR event", `/api/v1/dr-events/${encodeURIComponent(b.dataset.id)}`, { method: "DELETE" });
    if (b.classList.contains("reset-ufr")) act("Reset UFR relay", "/api/v1/ufr/reset", { method: "POST" });
  });
  window.addEventListener("resize", () => { if (S.points.length) drawCharts(); });
  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) login(saved); else showLogin();
});
