// fastfit live dashboard: a small SVG plotter and the page logic.  No dependencies, no
// network access beyond this server: /api/status, /api/params, /api/spectrum/<i> and
// the server-sent events of /api/events (docs/dashboard.md).
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
const COLORS = { data: "#1f6fd1", fit: "#e07b00", bad: "#d12f2f", second: "#1c8a4a", ref: "#8a93a3" };
const MAX_POINTS = 2000;        // parameter plot: rows drawn (the API thins, keeping extremes)

// ------------------------------------------------------------------ formatting
function fmt(v, digits) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential((digits || 3) - 1).replace("e+", "e");
  return Number(v.toPrecision(digits || 4)).toString();
}

function seconds(s) {
  return s < 1 ? `${Math.round(1000 * s)} ms` : `${fmt(s, 3)} s`;
}

function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (parent) parent.appendChild(e);
  return e;
}

// ------------------------------------------------------------------ axes
function linTicks(lo, hi, n) {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / Math.max(n, 1), mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => span / s <= n) || 10 * mag;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

function logTicks(lo, hi) {          // lo, hi: log10 of the range
  const out = [];
  const a = Math.floor(lo), b = Math.ceil(hi), every = Math.max(1, Math.ceil((b - a) / 8));
  for (let d = a; d <= b; d += every) if (d >= lo - 1e-9 && d <= hi + 1e-9) out.push(d);
  if (out.length < 2) for (const m of [2, 5]) for (let d = a; d <= b; d++) {
    const t = d + Math.log10(m);
    if (t >= lo && t <= hi) out.push(t);
  }
  return out.sort((x, y) => x - y);
}

function extent(arrays, log) {
  let lo = Infinity, hi = -Infinity;
  for (const a of arrays) for (const v of a) {
    if (v === null || !isFinite(v) || (log && v <= 0)) continue;
    const w = log ? Math.log10(v) : v;
    if (w < lo) lo = w;
    if (w > hi) hi = w;
  }
  if (lo === Infinity) return null;
  if (lo === hi) { const d = log ? 0.5 : (Math.abs(lo) || 1) * 0.05; lo -= d; hi += d; }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

// A plot: axes (linear or log) and series of markers, lines and error bars, drawn as a
// handful of SVG paths whatever the number of points.
class Plot {
  constructor(id, opts) {
    this.box = document.getElementById(id);
    this.opts = opts || {};
    this.series = [];
    this.renders = 0;
  }

  draw(series, opts) {
    this.series = series;
    if (opts) Object.assign(this.opts, opts);
    this.render();
  }

  render() {
    const box = this.box, o = this.opts;
    const W = Math.max(box.clientWidth, 200), H = Math.max(box.clientHeight, 120);
    const m = { l: 62, r: 12, t: 10, b: 36 };
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    const scaled = this.series.filter(s => !s.noscale), ys = [];
    for (const s of scaled) {
      ys.push(s.y);
      if (s.err) ys.push(s.y.map((v, i) => (v === null || s.err[i] === null ? null : v + s.err[i])),
        s.y.map((v, i) => (v === null || s.err[i] === null ? null : v - s.err[i])));
    }
    let xr = extent(scaled.map(s => s.x), o.xlog) || extent(this.series.map(s => s.x), o.xlog);
    let yr = extent(ys, o.ylog) || extent(this.series.map(s => s.y), o.ylog);
    const npts = this.series.reduce((n, s) => n + s.y.filter(v => v !== null && isFinite(v)).length, 0);
    if (!xr || !yr) {
      svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "muted" }, root).textContent = o.empty || "no data yet";
      return this.finish(root, 0);
    }
    const pw = W - m.l - m.r, ph = H - m.t - m.b;
    if (o.equal) {                   // same ohms per pixel on both axes (Nyquist)
      const sx = (xr[1] - xr[0]) / pw, sy = (yr[1] - yr[0]) / ph, s = Math.max(sx, sy);
      const cx = (xr[0] + xr[1]) / 2, cy = (yr[0] + yr[1]) / 2;
      xr = [cx - s * pw / 2, cx + s * pw / 2];
      yr = [cy - s * ph / 2, cy + s * ph / 2];
    }
    const X = v => m.l + (((o.xlog ? Math.log10(v) : v) - xr[0]) / (xr[1] - xr[0])) * pw;
    const Y = v => m.t + ph - (((o.ylog ? Math.log10(v) : v) - yr[0]) / (yr[1] - yr[0])) * ph;
    const ok = (x, y) => x !== null && y !== null && isFinite(x) && isFinite(y) && (!o.xlog || x > 0) && (!o.ylog || y > 0);
    // grid, ticks, labels
    const xt = o.xlog ? logTicks(xr[0], xr[1]) : linTicks(xr[0], xr[1], Math.max(2, Math.floor(pw / 80)));
    const yt = o.ylog ? logTicks(yr[0], yr[1]) : linTicks(yr[0], yr[1], Math.max(2, Math.floor(ph / 40)));
    let grid = "";
    for (const t of xt) { const px = m.l + (t - xr[0]) / (xr[1] - xr[0]) * pw; grid += `M${px} ${m.t}V${m.t + ph}`;
      svg("text", { x: px, y: m.t + ph + 14, "text-anchor": "middle" }, root).textContent = o.xlog ? fmt(Math.pow(10, t), 2) : fmt(t, 4); }
    for (const t of yt) { const py = m.t + ph - (t - yr[0]) / (yr[1] - yr[0]) * ph; grid += `M${m.l} ${py}H${m.l + pw}`;
      svg("text", { x: m.l - 4, y: py + 4, "text-anchor": "end" }, root).textContent = o.ylog ? fmt(Math.pow(10, t), 2) : fmt(t, 4); }
    svg("path", { d: grid, class: "grid" }, root);
    svg("rect", { x: m.l, y: m.t, width: pw, height: ph, class: "axis" }, root);
    svg("text", { x: m.l + pw / 2, y: H - 4, "text-anchor": "middle" }, root).textContent = o.xlabel || "";
    svg("text", { x: 12, y: m.t + ph / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${m.t + ph / 2})` }, root).textContent = o.ylabel || "";
    const clip = "clip-" + this.box.id;
    svg("rect", { x: m.l, y: m.t, width: pw, height: ph }, svg("clipPath", { id: clip }, svg("defs", {}, root)));
    const g = svg("g", { "clip-path": `url(#${clip})` }, root);
    // series
    for (const s of this.series) {
      const color = s.color || COLORS.data, r = s.size || 3;
      if (s.err) {
        let d = "";
        s.y.forEach((y, i) => {
          const e = s.err[i], x = s.x[i];
          if (!ok(x, y) || e === null || !isFinite(e) || e <= 0) return;
          const lo = o.ylog && y - e <= 0 ? m.t + ph : Y(y - e);
          d += `M${X(x).toFixed(1)} ${lo.toFixed(1)}V${Y(y + e).toFixed(1)}`;
        });
        if (d) svg("path", { d, stroke: color, "stroke-opacity": 0.45, fill: "none" }, g);
      }
      if (s.line) {
        let d = "", pen = false;
        s.y.forEach((y, i) => {
          const x = s.x[i];
          if (!ok(x, y)) { pen = false; return; }
          d += `${pen ? "L" : "M"}${X(x).toFixed(1)} ${Y(y).toFixed(1)}`;
          pen = true;
        });
        if (d) svg("path", { d, stroke: color, "stroke-width": s.width || 1.6, fill: "none", "stroke-dasharray": s.dash || "" }, g);
      }
      if (s.marker) {
        let d = "";
        s.y.forEach((y, i) => {
          const x = s.x[i];
          if (!ok(x, y)) return;
          const px = X(x), py = Y(y);
          d += s.marker === "cross"
            ? `M${px - r} ${py - r}L${px + r} ${py + r}M${px - r} ${py + r}L${px + r} ${py - r}`
            : `M${(px - r).toFixed(1)} ${py.toFixed(1)}a${r} ${r} 0 1 0 ${2 * r} 0a${r} ${r} 0 1 0 ${-2 * r} 0`;
        });
        if (d) svg("path", s.marker === "cross" ? { d, stroke: color, "stroke-width": 1.8, fill: "none" }
          : { d, fill: color, "fill-opacity": 0.75, stroke: "none" }, g);
      }
    }
    // legend
    let ly = m.t + 12;
    for (const s of this.series.filter(s => s.label)) {
      svg("text", { x: m.l + pw - 6, y: ly, "text-anchor": "end", fill: s.color || COLORS.data }, root).textContent = s.label;
      ly += 14;
    }
    this.finish(root, npts);
  }

  finish(root, npts) {
    this.box.replaceChildren(root);
    this.renders += 1;
    this.box.dataset.points = String(npts);
    this.box.dataset.rendered = String(this.renders);
  }
}

// ------------------------------------------------------------------ state
const plots = {
  nyquist: new Plot("nyquist-plot", { equal: true, xlabel: "Z′ (Ω)", ylabel: "−Z″ (Ω)", empty: "waiting for the first spectrum" }),
  modulus: new Plot("bode-modulus-plot", { xlog: true, ylog: true, xlabel: "f (Hz)", ylabel: "|Z| (Ω)" }),
  phase: new Plot("bode-phase-plot", { xlog: true, xlabel: "f (Hz)", ylabel: "−phase (°)" }),
  params: new Plot("params-plot", { empty: "no fitted spectra yet" }),
  kk: new Plot("kk-plot", { xlog: true, xlabel: "f (Hz)", ylabel: "residual (% of |Z|)" }),
};
const state = { status: null, run: null, param: null, columns: [], labels: {}, units: {},
  spectrumKey: null, paramsKey: null, busy: {}, next: {}, source: null, ended: false };
const $ = id => document.getElementById(id);

function message(text) {
  const m = $("message");
  m.hidden = !text;
  m.textContent = text || "";
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// run `job` now, or as soon as the running one of that name finishes (never two at
// once; of the jobs asked for meanwhile only the last one runs)
function single(name, job) {
  if (state.ended) return;
  if (state.busy[name]) { state.next[name] = job; return; }
  state.busy[name] = true;
  Promise.resolve().then(job).catch(e => { if (!state.ended) message(`${name}: ${e.message}`); }).finally(() => {
    state.busy[name] = false;
    const next = state.next[name];
    if (next) { state.next[name] = null; single(name, next); }
  });
}

// the run shown, once the store has it (a stream names its run before the first fit)
function runReady() { return state.run && state.status && state.status.runs.includes(state.run); }
function runQuery() { return runReady() ? `run=${encodeURIComponent(state.run)}` : ""; }

// ------------------------------------------------------------------ status
function onStatus(s) {
  state.status = s;
  $("store-name").textContent = s.store.split(/[\\/]/).pop();
  $("spectrum-count").textContent = String(s.spectra);
  $("fitted-count").textContent = s.run ? String(s.fitted) : "–";
  $("failed-count").textContent = s.run ? String(s.failed) : "–";
  const st = s.stream;
  $("read-count").textContent = st && st.read !== undefined ? String(st.read) : String(s.spectra);
  $("points-count").textContent = st && st.points !== undefined ? String(st.points) : "–";
  $("latency").textContent = st && st.latency_s !== null && st.latency_s !== undefined
    ? seconds(st.latency_s) + (st.latency_median_s ? ` (median ${seconds(st.latency_median_s)})` : "") : "–";
  $("circuit").textContent = s.circuit || "";
  const sel = $("run-select");
  if (sel.options.length !== s.runs.length || [...sel.options].some((o, i) => o.value !== s.runs[i])) {
    sel.replaceChildren(...s.runs.map(r => new Option(r, r)));
  }
  if (!state.run && s.run) state.run = s.run;
  sel.value = state.run || "";
  message(s.spectra === 0 && s.error ? s.error : "");
  if (st && st.running === false) setConnection("stream ended", "");
  if (s.latest) {
    const l = s.latest;
    const key = [l.spectrum, runReady(), l.fitted, l.fit_status, l.chi2_red].join("|");
    if (key !== state.spectrumKey) { state.spectrumKey = key; single("spectrum", () => loadSpectrum(l.spectrum)); }
  }
  const pkey = [s.run, s.params_version, s.fitted].join("|");
  if (runReady() && pkey !== state.paramsKey) { state.paramsKey = pkey; single("params", loadParams); }
}

function setConnection(text, cls) {
  const b = $("connection");
  b.textContent = text;
  b.className = "badge " + (cls || "");
}

function connect() {
  if (state.source) state.source.close();
  const q = runQuery();
  const es = new EventSource("/api/events" + (q ? "?" + q : ""));
  state.source = es;
  es.addEventListener("status", ev => { setConnection("live", "live"); onStatus(JSON.parse(ev.data)); });
  es.addEventListener("end", () => { es.close(); state.ended = true; setConnection("server stopped", "down"); });
  es.onerror = () => { if (es.readyState !== EventSource.CLOSED) setConnection("reconnecting", "down"); };
}

// ------------------------------------------------------------------ spectrum
async function loadSpectrum(i) {
  const q = runQuery(), key = state.spectrumKey;
  const sp = await getJSON(`/api/spectrum/${i}?wait=0.3` + (q ? "&" + q : ""));
  if (sp.pending) {            // model curve and KK residuals still being computed: ask again
    setTimeout(() => { if (state.spectrumKey === key) single("spectrum", () => loadSpectrum(i)); }, 700);
  }
  $("spectrum-link").href = `/api/spectrum/${i}` + (q ? "?" + q : "");
  $("spectrum-title").textContent = `#${sp.spectrum}` + (sp.time !== null ? `, t = ${fmt(sp.time, 5)} s` : "") + `, ${sp.n_points} points`;
  const f = sp.freq, re = sp.Z.re, im = sp.Z.im, keep = sp.mask;
  const kept = (a, want) => a.map((v, j) => (keep[j] === want ? v : null));
  const negIm = im.map(v => -v), mod = re.map((v, j) => Math.hypot(v, im[j]));
  const ph = re.map((v, j) => -Math.atan2(im[j], v) * 180 / Math.PI);
  const nyq = [{ x: kept(re, true), y: kept(negIm, true), marker: "circle", label: "measured" }];
  const bm = [{ x: f, y: kept(mod, true), marker: "circle" }], bp = [{ x: f, y: kept(ph, true), marker: "circle" }];
  if (keep.some(v => !v)) {
    nyq.push({ x: kept(re, false), y: kept(negIm, false), marker: "cross", color: COLORS.bad, label: "excluded by KK" });
    bm.push({ x: f, y: kept(mod, false), marker: "cross", color: COLORS.bad });
    bp.push({ x: f, y: kept(ph, false), marker: "cross", color: COLORS.bad });
  }
  if (sp.curve) {
    const c = sp.curve, cm = c.re.map((v, j) => Math.hypot(v, c.im[j]));
    nyq.push({ x: c.re, y: c.im.map(v => -v), line: true, color: COLORS.fit, label: "fit", noscale: true });
    bm.push({ x: c.freq, y: cm, line: true, color: COLORS.fit, noscale: true });
    bp.push({ x: c.freq, y: c.re.map((v, j) => -Math.atan2(c.im[j], v) * 180 / Math.PI), line: true, color: COLORS.fit, noscale: true });
  }
  plots.nyquist.draw(nyq);
  plots.modulus.draw(bm);
  plots.phase.draw(bp);
  drawKK(sp);
  fitTable(sp);
}

function drawKK(sp) {
  const k = sp.kk, note = $("kk-note");
  if (!k) {
    plots.kk.draw([], { empty: sp.pending ? "computing…" : "no KK residuals for this spectrum" });
    note.textContent = (sp.notes || []).join("; ");
    return;
  }
  const pct = a => a.map(v => (v === null ? null : 100 * v));
  const f = sp.freq, t = 100 * k.threshold;
  plots.kk.draw([
    { x: [f[0], f[f.length - 1]], y: [t, t], line: true, color: COLORS.ref, dash: "4 3", width: 1 },
    { x: [f[0], f[f.length - 1]], y: [-t, -t], line: true, color: COLORS.ref, dash: "4 3", width: 1 },
    { x: f, y: pct(k.residuals_real), marker: "circle", line: true, width: 1, label: "real" },
    { x: f, y: pct(k.residuals_imag), marker: "circle", line: true, width: 1, color: COLORS.second, label: "imaginary" },
  ]);
  const stored = sp.kk_stored ? `; stored test of the run: ${sp.kk_stored.valid ? "valid" : "NOT valid"}` : "";
  note.textContent = `lin-KK: M = ${k.M}, µ = ${fmt(k.mu, 3)}, ${k.valid ? "valid" : "NOT valid"} ` +
    `(points within ±${fmt(t, 3)} %)${stored}`;
}

function fitTable(sp) {
  const body = $("fit-table").tBodies[0], rows = [];
  const row = (a, b) => { const tr = document.createElement("tr"); for (const v of [a, b]) { const td = document.createElement("td"); td.textContent = v; tr.appendChild(td); } rows.push(tr); };
  if (!sp.params) row("fit", "none yet for this spectrum");
  else {
    for (const n in sp.params) row(n, `${fmt(sp.params[n])} ± ${fmt(sp.stderr[n], 2)} ${(sp.units || {})[n] || ""}`);
    row("χ²_red", fmt(sp.chi2_red, 3));
    row("status", `${sp.fit_status} (${sp.ok ? "converged" : "not converged"})`);
  }
  body.replaceChildren(...rows);
}

// ------------------------------------------------------------------ parameters
async function loadParams() {
  const s = state.status;
  if (!runReady() || !s.params.length) return;
  if (!state.param || !state.columns.includes(state.param)) state.param = state.param || s.params[0];
  const q = `run=${encodeURIComponent(s.run)}&columns=${encodeURIComponent(state.param)}&max_points=${MAX_POINTS}`;
  const p = await getJSON(`/api/params?${q}`);
  $("params-link").href = `/api/params?run=${encodeURIComponent(s.run)}`;
  const names = p.params.concat(p.derived);
  state.columns = names;
  state.units = p.units;
  state.labels = p.labels;
  const sel = $("param-select");
  if (sel.options.length !== names.length || [...sel.options].some((o, i) => o.value !== names[i])) {
    sel.replaceChildren(...names.map(n => new Option(p.labels[n] ? `${n} – ${p.labels[n]}` : n, n)));
  }
  if (!names.length) return;
  if (!names.includes(state.param)) { state.param = names[0]; sel.value = state.param; return loadParams(); }
  sel.value = state.param;
  drawParams(p);
}

function drawParams(p) {
  const c = p.columns, name = state.param, byTime = $("x-select").value === "time";
  let x = byTime ? c.time : c.spectrum, xlabel = "spectrum index";
  if (byTime) {
    const span = Math.max(...x.filter(v => v !== null)) - Math.min(...x.filter(v => v !== null));
    const [div, unit] = span > 3 * 3600 ? [3600, "h"] : span > 180 ? [60, "min"] : [1, "s"];
    x = x.map(v => (v === null ? null : v / div));
    xlabel = `time (${unit})`;
    if (c.time.every(v => v === null)) { x = c.spectrum; xlabel = "spectrum index (no times)"; }
  }
  const y = c[name], err = c[`${name}_stderr`] || null;
  const good = c.status.map(v => v >= 0), unit = p.units[name] || "";
  const pick = (a, want) => a && a.map((v, i) => (good[i] === want ? v : null));
  const series = [{ x, y: pick(y, true), err: pick(err, true), marker: "circle", size: 2.5, label: "fit" }];
  if (good.some(v => !v)) series.push({ x, y: pick(y, false), marker: "cross", color: COLORS.bad, label: "failed fit" });
  plots.params.draw(series, { xlabel, ylabel: `${name}${unit ? ` (${unit})` : ""}`, ylog: $("log-y").checked });
  $("param-note").textContent = `${p.n} spectra` + (p.thinned ? `, ${p.rows} drawn (extremes kept)` : "") +
    (err ? "" : "; no error bars (the store keeps no covariance)");
}

// ------------------------------------------------------------------ wiring
$("run-select").addEventListener("change", e => {
  state.run = e.target.value; state.param = null; state.spectrumKey = null; state.paramsKey = null;
  connect();
});
$("param-select").addEventListener("change", e => { state.param = e.target.value; single("params", loadParams); });
$("x-select").addEventListener("change", () => single("params", loadParams));
$("log-y").addEventListener("change", () => single("params", loadParams));
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => Object.values(plots).forEach(p => p.render()), 150);
});
window.addEventListener("unhandledrejection", e => { e.preventDefault(); message(String(e.reason)); });

getJSON("/api/status").then(onStatus).catch(e => message(e.message));
connect();
