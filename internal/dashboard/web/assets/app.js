// sagewall dashboard: analyze pasted records, watch the live stream.
// Plain JavaScript, no libraries: everything comes from this server.
"use strict";

const SAMPLES = {
  // KDDTrain+ lines: a SYN flood (neptune, DoS) and an ordinary FTP data transfer.
  attack: "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19",
  normal: "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20",
};

const CATEGORY = {
  normal: { label: "Normal", color: "#22a05a" },
  dos: { label: "DoS", color: "#e0453a" },
  probe: { label: "Probe", color: "#f08c1b" },
  r2l: { label: "R2L", color: "#7c4ddb" },
  u2r: { label: "U2R", color: "#d23c8f" },
};

const $ = (id) => document.getElementById(id);
const fmtInt = new Intl.NumberFormat("en-US");
const fmtRate = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") node.className = v;
    else if (k === "style") setStyle(node, v);
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) {
    if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

// setStyle applies "prop: value; ..." through the CSSOM: the page's
// Content-Security-Policy forbids inline style attributes.
function setStyle(node, css) {
  for (const decl of css.split(";")) {
    const i = decl.indexOf(":");
    if (i > 0) node.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
  }
}

function scoreColor(score, threshold) {
  if (score >= threshold) return score >= 0.9 ? "#dc2626" : "#f97316";
  return score >= threshold / 2 ? "#eab308" : "#22a05a";
}

function categoryCell(name) {
  const c = CATEGORY[name] || { label: name, color: "#94a3b8" };
  return el("span", { class: "cat", style: "--swatch:" + c.color }, c.label);
}

// ---------- analyze ----------

let lastResponse = null;
let analyzing = false;

async function analyze() {
  const records = $("records").value;
  const threshold = Number($("threshold").value);
  const scorer = $("scorer").value || "local";
  const btn = $("analyze-btn");
  const banner = $("analyze-error");
  banner.hidden = true;
  if (!records.trim()) {
    banner.textContent = "Paste at least one record, or pick a sample.";
    banner.hidden = false;
    return;
  }
  analyzing = true;
  btn.disabled = true;
  btn.textContent = "Analyzing…";
  try {
    const resp = await fetch("api/analyze", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ records, threshold, scorer }),
    });
    const body = await resp.json().catch(() => ({ error: "the server answered " + resp.status }));
    if (!resp.ok) {
      banner.textContent = body.error || "the server answered " + resp.status;
      banner.hidden = false;
      return;
    }
    lastResponse = body;
    renderResults(body);
  } catch (err) {
    banner.textContent = "Could not reach the server: " + err.message;
    banner.hidden = false;
  } finally {
    analyzing = false;
    btn.disabled = false;
    btn.textContent = "Analyze";
  }
}

function renderResults(r) {
  $("results").hidden = false;
  const counts = $("result-counts");
  counts.replaceChildren(
    el("span", { class: "chip" }, r.counts.records + (r.counts.records === 1 ? " record" : " records")),
    el("span", { class: "chip attack" }, r.counts.attacks + (r.counts.attacks === 1 ? " attack" : " attacks")),
    el("span", { class: "chip normal" }, r.counts.normal + " normal"),
    r.counts.errors ? el("span", { class: "chip error" }, r.counts.errors + (r.counts.errors === 1 ? " bad line" : " bad lines")) : null,
    el("span", { class: "chip" }, r.model.name + " " + r.model.version + " · threshold " + r.threshold.toFixed(2)),
  );

  $("line-errors").replaceChildren(...r.errors.map((e) => {
    const parts = [el("b", {}, "Line " + e.line)];
    if (e.field) parts.push(" · field ", el("code", {}, e.field));
    if (e.value) parts.push(" · value ", el("code", {}, e.value));
    parts.push(" — " + e.reason);
    return el("div", { class: "line-error", "data-line": e.line }, ...parts);
  }));

  const showRaw = $("raw-toggle").checked;
  const rows = [];
  for (const v of r.verdicts) {
    const pct = Math.max(0, Math.min(1, v.score)) * 100;
    const bar = el("span", { class: "scorebar" },
      el("span", { style: "width:" + pct.toFixed(1) + "%;background:" + scoreColor(v.score, r.threshold) }),
      el("i", { style: "left:calc(" + (r.threshold * 100).toFixed(1) + "% - 1px)", title: "threshold" }));
    rows.push(el("tr", { class: v.attack ? "attack-row" : "" },
      el("td", { class: "num" }, v.line),
      el("td", {}, el("span", { class: "verdict " + (v.attack ? "attack" : "normal") }, v.attack ? "ATTACK" : "NORMAL")),
      el("td", {}, el("span", { class: "score" }, bar, v.score.toFixed(4))),
      el("td", {}, categoryCell(v.category), el("span", { class: "muted" }, " " + (v.category_probability * 100).toFixed(1) + "%")),
      el("td", { class: "conn" }, v.protocol_type + " · " + v.service + " · " + v.flag),
      el("td", {}, v.label ? v.label + (v.label_category ? " (" + v.label_category + ")" : "") : el("span", { class: "muted" }, "—")),
    ));
    if (showRaw) {
      rows.push(el("tr", { class: "raw-row" }, el("td", { colSpan: 6 }, el("pre", { class: "raw" }, rawText(v.raw)))));
    }
  }
  if (!rows.length) rows.push(el("tr", {}, el("td", { colSpan: 6, class: "empty" }, "No valid record to score.")));
  $("verdicts").tBodies[0].replaceChildren(...rows);
}

// rawText pretty-prints the raw response with the feature vector on one line.
function rawText(raw) {
  const { features, ...rest } = raw;
  const head = JSON.stringify(rest, null, 2);
  return head.slice(0, -2) + ',\n  "features": ' + JSON.stringify(features) + "\n}";
}

// ---------- live ----------

const chartState = { summary: null };

function setLiveState(state, text) {
  $("live-state").dataset.state = state;
  $("live-state-text").textContent = text;
}

function startLive() {
  $("live").hidden = false;
  $("legend").replaceChildren(...Object.values(CATEGORY).map((c) =>
    el("span", {}, el("i", { style: "background:" + c.color }), c.label)));
  const source = new EventSource("api/live");
  source.addEventListener("summary", (ev) => {
    setLiveState("on", "live");
    renderLive(JSON.parse(ev.data));
  });
  source.onerror = () => setLiveState("lost", "reconnecting…");
}

function renderLive(s) {
  $("kpi-rps").textContent = fmtRate.format(s.records_per_second);
  $("kpi-aps").textContent = fmtRate.format(s.alerts_per_second);
  $("kpi-verdicts").textContent = fmtInt.format(s.verdicts);
  $("kpi-attacks").textContent = fmtInt.format(s.attacks);
  $("kpi-dead").textContent = fmtInt.format(s.pipeline.dead_letters);
  $("kpi-lag").textContent = s.pipeline.lag_known ? fmtInt.format(s.pipeline.lag) : "–";
  $("kpi-accuracy").textContent = s.confusion.labelled ? (s.confusion.accuracy * 100).toFixed(2) + "%" : "–";
  if (s.model && s.model.name) $("model-badge").textContent = s.model.name + " " + s.model.version;
  $("alert-threshold-note").textContent = "· score ≥ " + s.alert_threshold.toFixed(2) + ", newest first";

  // Who talked to whom (when the record named its connection), then what the model saw.
  // An explained alert (model.explain) adds why, in words.
  const connectionCell = (a) => {
    const features = a.protocol_type + " · " + a.service + " · " + a.flag;
    const cell = a.flow ? [el("div", { class: "flow" }, a.flow), el("div", { class: "muted" }, features)] : [features];
    if (a.why) cell.push(el("div", { class: "why muted" }, "why: " + a.why));
    return cell;
  };
  // The category, with its ATT&CK technique IDs (full names on hover).
  const alertCategoryCell = (a) => a.attack
    ? [categoryCell(a.category), el("div", { class: "attack muted", title: a.attack },
        a.attack.split("; ").map((t) => t.split(" ")[0]).join(" · "))]
    : [categoryCell(a.category)];
  const alertRows = s.recent_alerts.map((a) => el("tr", {},
    el("td", { class: "conn" }, new Date(a.time).toLocaleTimeString("en-GB")),
    el("td", {}, ...alertCategoryCell(a)),
    el("td", { class: "num conn" }, a.score.toFixed(4)),
    el("td", { class: "conn" }, ...connectionCell(a)),
    el("td", {}, a.label || el("span", { class: "muted" }, "—")),
    el("td", { class: "src" }, a.uid ? a.source + " · " + a.uid : a.source)));
  if (!alertRows.length) alertRows.push(el("tr", {}, el("td", { colSpan: 6, class: "empty" }, "No alert yet.")));
  $("alerts").tBodies[0].replaceChildren(...alertRows);

  renderConfusion(s.confusion, s.series.classes);
  chartState.summary = s;
  drawChart();
}

function renderConfusion(c, classes) {
  const table = $("confusion");
  const head = el("tr", {}, el("th", { class: "corner" }, "actual ↓ predicted →"),
    ...classes.map((k) => el("th", {}, CATEGORY[k].label)));
  let max = 0;
  for (const row of c.matrix) for (const n of row) max = Math.max(max, n);
  const body = classes.map((k, a) => el("tr", {},
    el("th", { class: "rowhead" }, categoryCell(k)),
    ...c.matrix[a].map((n, p) => {
      const alpha = max ? 0.08 + 0.6 * Math.sqrt(n / max) : 0;
      const rgb = a === p ? "34,160,90" : "224,69,58";
      return el("td", { class: a === p ? "diag" : "", style: n ? "background:rgba(" + rgb + "," + alpha.toFixed(3) + ")" : "" }, fmtInt.format(n));
    })));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
  const pct = (x) => (c.labelled ? (x * 100).toFixed(2) + "%" : "–");
  $("rates").replaceChildren(
    el("span", {}, "accuracy ", el("b", {}, pct(c.accuracy))),
    el("span", {}, "category accuracy ", el("b", {}, pct(c.category_accuracy))),
    el("span", {}, "detection rate ", el("b", {}, pct(c.detection_rate))),
    el("span", {}, "false alarms ", el("b", {}, pct(c.false_alarm_rate))),
    el("span", { class: "muted" }, fmtInt.format(c.labelled) + " labelled"));
}

function niceCeil(v) {
  if (v <= 0) return 10;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function drawChart() {
  const s = chartState.summary;
  const canvas = $("chart");
  if (!s || !canvas.clientWidth) return;
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);

  // Leave out the second still filling, so the right edge does not dip, and
  // the empty seconds before the stream started (keeping at least a minute).
  const full = s.series.counts[0].length - 1;
  const totalsAll = new Array(full).fill(0);
  for (const series of s.series.counts) for (let i = 0; i < full; i++) totalsAll[i] += series[i];
  let from = totalsAll.findIndex((v) => v > 0);
  from = from < 0 ? full - 60 : Math.max(0, Math.min(from, full - 60));
  const counts = s.series.counts.map((series) => series.slice(from, full));
  const totals = totalsAll.slice(from);
  const n = totals.length;
  const top = niceCeil(Math.max(...totals) * 1.1);
  const left = 58, right = 12, topPad = 8, bottom = 24;
  const pw = w - left - right, ph = h - topPad - bottom;
  const x = (i) => left + (n <= 1 ? 0 : (i / (n - 1)) * pw);
  const y = (v) => topPad + ph - (v / top) * ph;

  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#64748b";
  ctx.strokeStyle = "#e8edf3";
  ctx.lineWidth = 1;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let k = 0; k <= 4; k++) {
    const v = (top / 4) * k, yy = Math.round(y(v)) + 0.5;
    ctx.beginPath(); ctx.moveTo(left, yy); ctx.lineTo(w - right, yy); ctx.stroke();
    ctx.fillText(fmtInt.format(Math.round(v)), left - 8, yy);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const step = [10, 15, 30, 60, 120].find((t) => n / t <= 6) || 120;
  for (let ago = 0; ago < n; ago += step) {
    const label = ago === 0 ? "now" : ago % 60 === 0 ? "−" + ago / 60 + " min" : "−" + ago + " s";
    ctx.fillText(label, Math.max(left + 16, Math.min(x(n - 1 - ago), w - right - 14)), topPad + ph + 7);
  }

  // Stacked areas, normal at the bottom.
  const base = new Array(n).fill(0);
  s.series.classes.forEach((k, idx) => {
    const series = counts[idx];
    const upper = base.map((b, i) => b + series[i]);
    ctx.beginPath();
    ctx.moveTo(x(0), y(upper[0]));
    for (let i = 1; i < n; i++) ctx.lineTo(x(i), y(upper[i]));
    for (let i = n - 1; i >= 0; i--) ctx.lineTo(x(i), y(base[i]));
    ctx.closePath();
    ctx.fillStyle = CATEGORY[k].color + "cc";
    ctx.fill();
    for (let i = 0; i < n; i++) base[i] = upper[i];
  });
  ctx.strokeStyle = "#cbd5e1";
  ctx.beginPath(); ctx.moveTo(left + 0.5, topPad); ctx.lineTo(left + 0.5, topPad + ph + 0.5); ctx.lineTo(w - right, topPad + ph + 0.5); ctx.stroke();
}

// ---------- start ----------

async function init() {
  const slider = $("threshold");
  const showThreshold = () => { $("threshold-value").textContent = Number(slider.value).toFixed(2); };
  slider.addEventListener("input", showThreshold);
  // Re-score what is on screen when the analyst settles on a threshold.
  slider.addEventListener("change", () => { if (lastResponse && !analyzing) analyze(); });
  $("sample-attack").addEventListener("click", () => { $("records").value = SAMPLES.attack; });
  $("sample-normal").addEventListener("click", () => { $("records").value = SAMPLES.normal; });
  $("clear").addEventListener("click", () => {
    $("records").value = "";
    $("results").hidden = true;
    $("analyze-error").hidden = true;
    lastResponse = null;
  });
  $("analyze-btn").addEventListener("click", analyze);
  $("records").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) analyze();
  });
  $("raw-toggle").addEventListener("change", () => { if (lastResponse) renderResults(lastResponse); });
  $("scorer").addEventListener("change", () => { if (lastResponse && !analyzing) analyze(); });
  window.addEventListener("resize", drawChart);

  try {
    const info = await (await fetch("api/info")).json();
    $("scorer").replaceChildren(...info.scorers.map((s) =>
      el("option", { value: s.id }, s.label + " — " + s.model.name + " " + s.model.version)));
    slider.value = info.threshold;
    showThreshold();
    const local = info.scorers[0].model;
    $("model-badge").textContent = local.name + " " + local.version;
    if (info.live) startLive();
  } catch (err) {
    const banner = $("analyze-error");
    banner.textContent = "Could not load the dashboard settings: " + err.message;
    banner.hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", init);
