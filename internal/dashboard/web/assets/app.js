// sagewall dashboard: analyze pasted records, watch the live stream.
// Plain JavaScript, no libraries: everything comes from this server.
"use strict";

const SAMPLES = {
  // KDDTrain+ lines: a SYN flood (neptune, DoS) and an ordinary FTP data transfer.
  attack: "0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19",
  normal: "0,tcp,ftp_data,SF,491,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,2,2,0.00,0.00,0.00,0.00,1.00,0.00,0.00,150,25,0.17,0.03,0.17,0.00,0.00,0.00,0.05,0.00,normal,20",
};

// Known categories' names and colours; any other category the server
// reports (e.g. "unclassified") is shown by its name in grey.
const CATEGORY = {
  normal: { label: "Normal", color: "#22a05a" },
  dos: { label: "DoS", color: "#e0453a" },
  probe: { label: "Probe", color: "#f08c1b" },
  r2l: { label: "R2L", color: "#7c4ddb" },
  u2r: { label: "U2R", color: "#d23c8f" },
  unclassified: { label: "Unclassified", color: "#64748b" },
};
const categoryOf = (name) => CATEGORY[name] || { label: String(name), color: "#94a3b8" };

const $ = (id) => document.getElementById(id);
const fmtInt = new Intl.NumberFormat("en-US");
const fmtRate = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
// pct formats a proportion; "–" when there is nothing to divide.
const pct = (n, d, digits = 1) => (d > 0 ? ((n / d) * 100).toFixed(digits) + " %" : "–");

// fill replaces node's children, skipping null ones (replaceChildren would
// show them as the text "null").
function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

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
  const c = categoryOf(name);
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
  // Whatever comes next, the results on screen no longer answer these records.
  const fail = (msg) => {
    banner.textContent = msg;
    banner.hidden = false;
    $("results").hidden = true;
    $("verdicts").tBodies[0].replaceChildren();
    lastResponse = null;
  };
  if (!records.trim()) {
    fail("Paste at least one record, or pick a sample.");
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
      fail(body.error || "the server answered " + resp.status);
      return;
    }
    lastResponse = body;
    renderResults(body);
  } catch (err) {
    fail("Could not reach the server: " + err.message);
  } finally {
    analyzing = false;
    btn.disabled = false;
    btn.textContent = "Analyze";
  }
}

function renderResults(r) {
  $("results").hidden = false;
  fill($("result-counts"),
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

// ---------- threshold and what-if ----------

// The threshold control judges pasted records and drives the what-if view;
// the pipeline's own threshold is fixed by its model and configuration.
function threshold() { return Number($("threshold").value); }

let whatIfTimer = 0;
let whatIfSeq = 0;

// refreshWhatIf asks how the control's threshold would do on the labelled
// records so far; only the newest answer is shown.
async function refreshWhatIf() {
  const seq = ++whatIfSeq;
  const t = threshold();
  try {
    const resp = await fetch("api/whatif?threshold=" + t.toFixed(3));
    if (!resp.ok || seq !== whatIfSeq) return;
    renderWhatIf(await resp.json());
  } catch (err) {
    // The live state badge already says when the server is away.
  }
}

function scheduleWhatIf() {
  clearTimeout(whatIfTimer);
  whatIfTimer = setTimeout(refreshWhatIf, 120);
}

function renderWhatIf(w) {
  $("whatif-threshold").textContent = w.threshold.toFixed(3);
  const flagged = w.true_positives + w.false_positives;
  $("whatif-note").textContent = w.labelled
    ? "· " + fmtInt.format(w.labelled) + " labelled records of the live stream, exact to 0.001"
    : "· no labelled record in the live stream yet";
  $("whatif-precision").textContent = pct(w.true_positives, flagged);
  $("whatif-precision-sub").textContent = fmtInt.format(w.true_positives) + " attacks of " + fmtInt.format(flagged) + " flagged";
  $("whatif-detection").textContent = pct(w.true_positives, w.attacks);
  $("whatif-detection-sub").textContent = fmtInt.format(w.true_positives) + " of " + fmtInt.format(w.attacks) + " attacks";
  $("whatif-false-alarms").textContent = pct(w.false_positives, w.normal);
  $("whatif-false-alarms-sub").textContent = fmtInt.format(w.false_positives) + " of " + fmtInt.format(w.normal) + " normal";
  $("whatif-missed").textContent = fmtInt.format(w.false_negatives);
  $("whatif-missed-sub").textContent = pct(w.false_negatives, w.attacks) + " of attacks";
}

// ---------- live ----------

const live = {
  summary: null, // the newest summary received
  shown: null, // the one on screen (older while paused)
  paused: false,
  pausedAt: 0, // newest alert id when paused: the history is shown up to it
  listedNewest: -1, // newest alert id when the list was last fetched
  fetching: false,
  again: false, // the list changed while it was being fetched
  view: 0, // counts pauses and resumes: a list fetched for an older view is not shown
  lastFetch: 0,
  legend: false,
};

function setLiveState(state, text) {
  $("live-state").dataset.state = state;
  $("live-state-text").textContent = text;
}

function startLive() {
  $("live").hidden = false;
  $("whatif").hidden = false;
  const source = new EventSource("api/live");
  source.addEventListener("summary", (ev) => {
    setLiveState("on", live.paused ? "live · paused" : "live");
    const s = JSON.parse(ev.data);
    live.summary = s;
    if (live.paused) {
      const fresh = s.history.newest_id - live.pausedAt;
      $("pause-state").textContent = "Paused · " + fmtInt.format(fresh) + (fresh === 1 ? " new alert" : " new alerts") + " since";
      return;
    }
    renderLive(s);
  });
  source.onerror = () => setLiveState("lost", "reconnecting…");
  refreshWhatIf();
  setInterval(() => { if (!live.paused) refreshWhatIf(); }, 2000);
}

function togglePause() {
  live.paused = !live.paused;
  live.view++;
  const btn = $("pause");
  btn.setAttribute("aria-pressed", String(live.paused));
  btn.textContent = live.paused ? "Resume" : "Pause";
  document.body.classList.toggle("paused", live.paused);
  if (live.paused) {
    live.pausedAt = live.shown ? live.shown.history.newest_id : 0;
    $("pause-state").textContent = "Paused · the server keeps collecting";
    setLiveState("on", "live · paused");
  } else {
    $("pause-state").textContent = "";
    setLiveState("on", "live");
    if (live.summary) renderLive(live.summary);
    refreshWhatIf();
  }
  updateExportLinks();
  fetchAlerts();
}

function renderLive(s) {
  live.shown = s;
  const rps = s.records_per_second, aps = s.alerts_per_second;
  $("kpi-rps").textContent = fmtRate.format(rps) + "/s";
  $("kpi-aps").textContent = fmtRate.format(aps) + "/s";
  $("kpi-aps-sub").textContent = pct(aps, rps) + " of records · score ≥ " + s.alert_threshold.toFixed(2);
  $("kpi-flagged").textContent = pct(s.attacks, s.verdicts);
  $("kpi-flagged-sub").textContent = fmtInt.format(s.attacks) + " of the verdicts";
  $("kpi-verdicts").textContent = fmtInt.format(s.verdicts);
  $("kpi-dead").textContent = fmtInt.format(s.pipeline.dead_letters);
  $("kpi-dead-sub").textContent = pct(s.pipeline.dead_letters, s.pipeline.consumed, 2) + " of records read";
  $("kpi-lag").textContent = s.pipeline.lag_known ? fmtInt.format(s.pipeline.lag) : "–";
  $("kpi-accuracy").textContent = s.confusion.labelled ? (s.confusion.accuracy * 100).toFixed(2) + " %" : "–";
  $("kpi-accuracy-sub").textContent = "of " + fmtInt.format(s.confusion.labelled) + " labelled";
  if (s.model && s.model.name) $("model-badge").textContent = s.model.name + " " + s.model.version;
  if (s.threshold) $("pipeline-threshold").textContent = s.threshold.toFixed(4);
  $("alert-threshold").textContent = s.alert_threshold.toFixed(2);
  $("alert-threshold-note").textContent = "· score ≥ " + s.alert_threshold.toFixed(2) + ", the newest " +
    fmtInt.format(s.history.capacity) + " kept, newest first";
  if (!live.legend) {
    live.legend = true;
    fill($("legend"), ...s.series.classes.map((k) =>
      el("span", {}, el("i", { style: "background:" + categoryOf(k).color }), categoryOf(k).label)));
  }
  if (s.history.newest_id !== live.listedNewest) scheduleAlerts();
  renderConfusion(s.confusion, s.series.classes);
  chartState.summary = s;
  drawChart();
}

// ---------- alerts: filter, list, export ----------

// filterQuery is the filters as API query parameters; while paused, only
// alerts up to the pause, so the list and the exports stay what is shown.
function filterQuery() {
  const q = new URLSearchParams();
  const set = (name, id) => { const v = $(id).value.trim(); if (v) q.set(name, v); };
  set("category", "f-category");
  set("service", "f-service");
  set("host", "f-host");
  set("min", "f-min");
  set("max", "f-max");
  set("q", "f-q");
  if (live.paused) q.set("until", String(live.pausedAt));
  return q;
}

function updateExportLinks() {
  for (const format of ["json", "csv"]) {
    const q = filterQuery();
    q.set("format", format);
    $("export-" + format).href = "api/alerts/export?" + q.toString();
  }
}

// scheduleAlerts refreshes the list at most once a second as alerts come.
function scheduleAlerts() {
  if (live.fetching) { live.again = true; return; }
  const wait = 1000 - (Date.now() - live.lastFetch);
  if (wait > 0) {
    if (!live.again) { live.again = true; setTimeout(() => { live.again = false; fetchAlerts(); }, wait); }
    return;
  }
  fetchAlerts();
}

let filterTimer = 0;
function filtersChanged() {
  updateExportLinks();
  clearTimeout(filterTimer);
  filterTimer = setTimeout(fetchAlerts, 200);
}

async function fetchAlerts() {
  if (live.fetching) { live.again = true; return; }
  live.fetching = true;
  live.lastFetch = Date.now();
  const view = live.view;
  const q = filterQuery();
  q.set("limit", "200");
  const banner = $("alerts-error");
  try {
    const resp = await fetch("api/alerts?" + q.toString());
    const body = await resp.json().catch(() => ({ error: "the server answered " + resp.status }));
    if (view !== live.view) {
      // Asked before a pause or resume: fetch the list of the view on screen.
      live.again = true;
      return;
    }
    if (!resp.ok) {
      // A list under an error would look like the answer to the new filter.
      banner.textContent = body.error || "the server answered " + resp.status;
      banner.hidden = false;
      $("alerts").tBodies[0].replaceChildren();
      $("alerts-status").textContent = "";
      return;
    }
    banner.hidden = true;
    live.listedNewest = body.newest_id;
    renderAlerts(body);
  } catch (err) {
    banner.textContent = "Could not reach the server: " + err.message;
    banner.hidden = false;
  } finally {
    live.fetching = false;
    if (live.again && (!live.paused || view !== live.view)) { live.again = false; scheduleAlerts(); }
  }
}

// setOptions fills a filter's choices from what the history holds, keeping
// the analyst's choice even when no kept alert has it any more.
function setOptions(select, facets, label) {
  const chosen = select.value;
  const options = [el("option", { value: "" }, "any")];
  const seen = new Set();
  for (const f of facets) {
    seen.add(f.value);
    options.push(el("option", { value: f.value }, label(f.value) + " (" + fmtInt.format(f.count) + ")"));
  }
  if (chosen && !seen.has(chosen)) options.push(el("option", { value: chosen }, label(chosen) + " (0)"));
  select.replaceChildren(...options);
  select.value = chosen;
}

function renderAlerts(page) {
  setOptions($("f-category"), page.categories, (v) => categoryOf(v).label);
  setOptions($("f-service"), page.services, (v) => v);
  const shown = page.alerts.length;
  $("alerts-status").textContent = (shown < page.matched ? "The newest " + fmtInt.format(shown) + " of " : "") +
    fmtInt.format(page.matched) + (page.matched === 1 ? " matching alert" : " matching alerts") +
    " · " + fmtInt.format(page.kept) + " kept" + (live.paused ? " · paused" : "");

  const rows = page.alerts.map((a) => {
    const features = a.protocol_type + " · " + a.service + " · " + a.flag;
    const conn = a.flow ? [el("div", { class: "flow" }, a.flow), el("div", { class: "muted" }, features)] : [features];
    if (a.why) conn.push(el("div", { class: "why muted" }, "why: " + a.why));
    const category = [categoryCell(a.category)];
    if (a.attack) {
      category.push(el("div", { class: "attack muted", title: a.attack }, a.attack.split("; ").map((t) => t.split(" ")[0]).join(" · ")));
    }
    const row = el("tr", { class: "alert-row", tabIndex: 0, "data-id": a.id, title: "Open alert " + a.id },
      el("td", { class: "conn when" }, new Date(a.time).toLocaleTimeString("en-GB")),
      el("td", { class: "category" }, ...category),
      el("td", { class: "num conn score-cell" }, a.score.toFixed(4)),
      el("td", { class: "conn connection" }, ...conn),
      el("td", { class: "label" }, a.label || el("span", { class: "muted" }, "—")),
      el("td", { class: "src" }, a.hosts && a.hosts.uid ? a.source + " · " + a.hosts.uid : a.source));
    row.addEventListener("click", () => openAlert(a.id, row));
    row.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); openAlert(a.id, row); } });
    return row;
  });
  if (!rows.length) {
    rows.push(el("tr", {}, el("td", { colSpan: 6, class: "empty" }, page.kept ? "No alert matches the filters." : "No alert yet.")));
  }
  $("alerts").tBodies[0].replaceChildren(...rows);
}

// ---------- the alert drawer ----------

// drawerKeys: Escape closes the open drawer, and Tab cycles through its
// controls instead of leaving it for the page behind (it is a modal dialog).
function drawerKeys(ev) {
  const drawer = $("drawer");
  if (drawer.hidden) return;
  if (ev.key === "Escape") {
    closeDrawer();
    return;
  }
  if (ev.key !== "Tab") return;
  const focusable = [...drawer.querySelectorAll("button, a[href], input, select, textarea, [tabindex]:not([tabindex='-1'])")]
    .filter((e) => !e.disabled && e.offsetParent !== null);
  if (!focusable.length) return;
  const first = focusable[0], last = focusable[focusable.length - 1];
  const inside = drawer.contains(document.activeElement);
  if (!inside || (ev.shiftKey && document.activeElement === first)) {
    ev.preventDefault();
    (ev.shiftKey ? last : first).focus();
  } else if (!ev.shiftKey && document.activeElement === last) {
    ev.preventDefault();
    first.focus();
  }
}

let drawerReturn = null;

function closeDrawer() {
  $("drawer").hidden = true;
  $("drawer-backdrop").hidden = true;
  document.body.classList.remove("drawer-open");
  if (drawerReturn) drawerReturn.focus();
  drawerReturn = null;
}

async function openAlert(id, from) {
  drawerReturn = from || null;
  $("drawer-title").textContent = "Alert " + id;
  fill($("drawer-body"), el("p", { class: "muted" }, "Loading…"));
  $("drawer").hidden = false;
  $("drawer-backdrop").hidden = false;
  document.body.classList.add("drawer-open");
  $("drawer-close").focus();
  try {
    const resp = await fetch("api/alerts/" + encodeURIComponent(id));
    const body = await resp.json().catch(() => ({ error: "the server answered " + resp.status }));
    if (!resp.ok) {
      fill($("drawer-body"), el("div", { class: "banner error" }, body.error || "the server answered " + resp.status));
      return;
    }
    renderDrawer(body);
  } catch (err) {
    fill($("drawer-body"), el("div", { class: "banner error" }, "Could not reach the server: " + err.message));
  }
}

// facts renders name/value pairs, leaving out the empty ones.
function facts(pairs) {
  return el("dl", { class: "facts" }, ...pairs.filter(([, v]) => v !== "" && v !== null && v !== undefined)
    .flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v instanceof Node ? v : String(v))]));
}

function section(title, ...content) {
  return el("section", { class: "drawer-section" }, el("h3", {}, title), ...content);
}

function renderDrawer(d) {
  const v = d.verdict || {};
  const h = d.hosts;
  const parts = [
    el("div", { class: "drawer-summary" }, categoryCell(d.category),
      el("span", { class: "score-big" }, d.score.toFixed(4)),
      el("span", { class: "muted" }, new Date(d.time).toLocaleString("en-GB"))),
    section("Hosts", h ? facts([
      ["source", h.src_ip ? h.src_ip + (h.transport !== "icmp" ? " port " + h.src_port : " type " + h.src_port) : ""],
      ["destination", h.dst_ip ? h.dst_ip + (h.transport !== "icmp" ? " port " + h.dst_port : " code " + h.dst_port) : ""],
      ["transport", h.transport],
      ["uid", h.uid],
      ["sensor", h.sensor],
    ]) : el("p", { class: "muted" }, "The record named no connection (an NSL-KDD line carries features, not hosts).")),
    section("Source", facts([
      ["topic", d.position.topic],
      ["partition", d.position.partition],
      ["offset", d.position.offset],
      ["key", d.source],
    ])),
    section("Verdict", facts([
      ["category", categoryOf(d.category).label],
      ["score", d.score],
      ["model", v.model ? v.model.name + " " + v.model.version : ""],
      ["pipeline threshold", v.threshold],
      ["label", d.label],
      ["ATT&CK", d.attack],
    ])),
  ];
  parts.push(section("Explanation", d.explanation.length
    ? el("table", { class: "explain" },
      el("thead", {}, el("tr", {}, el("th", {}, "Why"), el("th", {}, "Feature"), el("th", { class: "num" }, "Value"), el("th", { class: "num" }, "Push"))),
      el("tbody", {}, ...d.explanation.map((c) => el("tr", {},
        el("td", {}, c.why), el("td", { class: "conn" }, c.feature),
        el("td", { class: "num conn" }, c.value === null ? "missing" : String(c.value)),
        el("td", { class: "num conn " + (c.contribution > 0 ? "up" : "down") }, (c.contribution > 0 ? "+" : "") + c.contribution.toFixed(3))))))
    : el("p", { class: "muted" }, "Not explained: the pipeline explains alerts when model.explain is on (at most model.explain_per_batch a batch).")));
  if (v.record) {
    parts.push(section("Raw record", el("dl", { class: "facts record" },
      ...Object.entries(v.record).flatMap(([k, x]) => [el("dt", {}, k), el("dd", {}, String(x))]))));
  }
  parts.push(section("Verdict JSON", el("pre", { class: "raw", id: "drawer-json" }, JSON.stringify(v, null, 2))));
  fill($("drawer-body"), ...parts);
}

function renderConfusion(c, classes) {
  const table = $("confusion");
  const head = el("tr", {}, el("th", { class: "corner" }, "actual ↓ predicted →"),
    ...classes.map((k) => el("th", {}, categoryOf(k).label)));
  let max = 0;
  for (const row of c.matrix) for (const n of row) max = Math.max(max, n);
  // A row per actual class, a column per verdict category: no record is
  // actually unclassified, so there is one row fewer than columns.
  const body = c.matrix.map((row, a) => el("tr", {},
    el("th", { class: "rowhead" }, categoryCell(classes[a])),
    ...row.map((n, p) => {
      const alpha = max ? 0.08 + 0.6 * Math.sqrt(n / max) : 0;
      const rgb = a === p ? "34,160,90" : "224,69,58";
      return el("td", { class: a === p ? "diag" : "", style: n ? "background:rgba(" + rgb + "," + alpha.toFixed(3) + ")" : "" }, fmtInt.format(n));
    })));
  table.replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
  const rate = (x) => (c.labelled ? (x * 100).toFixed(2) + " %" : "–");
  $("rates").replaceChildren(
    el("span", {}, "accuracy ", el("b", {}, rate(c.accuracy))),
    el("span", {}, "category accuracy ", el("b", {}, rate(c.category_accuracy))),
    el("span", {}, "detection rate ", el("b", {}, rate(c.detection_rate))),
    el("span", {}, "false alarms ", el("b", {}, rate(c.false_alarm_rate))),
    el("span", { class: "muted" }, fmtInt.format(c.labelled) + " labelled"));
}
const chartState = { summary: null };

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
    ctx.fillStyle = categoryOf(k).color + "cc";
    ctx.fill();
    for (let i = 0; i < n; i++) base[i] = upper[i];
  });
  ctx.strokeStyle = "#cbd5e1";
  ctx.beginPath(); ctx.moveTo(left + 0.5, topPad); ctx.lineTo(left + 0.5, topPad + ph + 0.5); ctx.lineTo(w - right, topPad + ph + 0.5); ctx.stroke();
}

// ---------- start ----------

async function init() {
  const slider = $("threshold");
  const showThreshold = () => { $("threshold-value").textContent = threshold().toFixed(2); };
  slider.addEventListener("input", () => {
    showThreshold();
    if (!$("live").hidden) scheduleWhatIf();
  });
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

  $("pause").addEventListener("click", togglePause);
  const filters = $("filters");
  filters.addEventListener("input", filtersChanged);
  filters.addEventListener("change", filtersChanged);
  filters.addEventListener("submit", (ev) => { ev.preventDefault(); fetchAlerts(); });
  filters.addEventListener("reset", () => setTimeout(filtersChanged, 0));
  $("drawer-close").addEventListener("click", closeDrawer);
  $("drawer-backdrop").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", drawerKeys);

  try {
    const info = await (await fetch("api/info")).json();
    $("scorer").replaceChildren(...info.scorers.map((s) =>
      el("option", { value: s.id }, s.label + " — " + s.model.name + " " + s.model.version)));
    slider.value = info.threshold;
    showThreshold();
    $("pipeline-threshold").textContent = info.threshold.toFixed(4);
    const local = info.scorers[0].model;
    $("model-badge").textContent = local.name + " " + local.version;
    if (info.live) {
      updateExportLinks();
      startLive();
    } else {
      $("threshold-scope").textContent = "Applies to the records you analyze below; this process runs no pipeline.";
    }
  } catch (err) {
    const banner = $("analyze-error");
    banner.textContent = "Could not load the dashboard settings: " + err.message;
    banner.hidden = false;
  }
}

document.addEventListener("DOMContentLoaded", init);
