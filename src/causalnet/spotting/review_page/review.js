// The review page of a causalnet analysis (served by causalnet.spotting.review). No external resource.
"use strict";

const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
const GREY = "#999999";
const $ = (id) => document.getElementById(id);

const S = {
  data: null, fps: 1, n: 1, top: 1, bottom: 0, frame: 0, items: [], selected: null, dirty: false,
  view: { f0: 0, f1: 1 }, playing: false, loop: null, flowImages: {}, drag: null,
};

function colour(item) {
  return item.type === "micro" && item.label !== null && item.label !== undefined
    ? COLOURS[item.label % COLOURS.length] : GREY;
}

function className(label) {
  if (label === null || label === undefined) return "";
  return S.data.class_names[label] !== undefined ? S.data.class_names[label] : String(label);
}

function clampFrame(k) { return Math.max(0, Math.min(S.n - 1, Math.round(k))); }

function showError(text) { const e = $("error"); e.textContent = text; e.hidden = !text; }

// --- loading --------------------------------------------------------------------------------------------

async function load() {
  const response = await fetch("api/analysis", { cache: "no-store" });
  if (!response.ok) throw new Error(`the analysis could not be loaded (${response.status})`);
  const data = await response.json();
  S.data = data; S.fps = data.fps; S.n = data.n_frames;
  S.view = { f0: 0, f1: S.n };
  const saved = data.state && Array.isArray(data.state.items) ? data.state.items : null;
  if (saved) {
    S.items = saved.map((it, k) => {
      const orig = it.id !== null && it.id !== undefined ? data.intervals.find((x) => x.id === it.id) : null;
      return { ...(orig || {}), ...it, key: k, confidence: orig ? orig.confidence : null,
        probabilities: orig ? orig.probabilities : null, origLabel: orig ? orig.label : null };
    });
  } else {
    S.items = data.intervals.map((it, k) => ({ ...it, key: k, status: "pending", added: false,
      origLabel: it.label }));
  }
  const sig = data.signal;
  const values = [];
  if (sig) { for (const v of sig.values) if (v !== null) values.push(v); for (const v of sig.threshold) if (v !== null) values.push(v); }
  for (const c of data.candidates) if (c.score !== null) values.push(c.score);
  S.top = values.reduce((m, v) => Math.max(m, v), 1e-9);
  S.bottom = values.reduce((m, v) => Math.min(m, v), 0);
  setupHeader(); setupVideo(); setupFlow(); buildLegend(); buildTable();
  $("goto").max = S.n - 1;
  setFrame(0);
  window.addEventListener("resize", () => { drawTimeline(); drawOverlay(); });
  document.body.dataset.ready = "1";
}

function setupHeader() {
  const d = S.data;
  const name = [d.subject, d.video].filter((x) => x).join(" / ") || d.source;
  $("title").textContent = `Review: ${name}`;
  $("info").textContent = `${S.n} frames, ${S.fps} fps (${(S.n / S.fps).toFixed(2)} s); classes: ` +
    (d.class_names.length ? d.class_names.join(", ") : "none (spotted, not classified)");
  $("info").title = `recording: ${d.source}\nsaved to: ${d.save_path}`;
  $("save").title = `write the accepted intervals to ${d.save_path} (Ctrl-S)`;
  $("signal-note").textContent = d.signal ? `signal: ${d.signal.origin}` :
    `No spotting signal: ${d.signal_missing}. Intervals and candidates are shown.`;
}

function setupVideo() {
  const video = $("video");
  if (!S.data.media) {
    video.hidden = true;
    const m = $("video-missing"); m.hidden = false;
    m.textContent = `No video: ${S.data.media_missing}. The timeline, the table and saving work without it.`;
    return;
  }
  video.src = S.data.media.url;
  $("overlay").width = S.data.media.width; $("overlay").height = S.data.media.height;
  const onPresented = (now, meta) => {
    setFrame(Math.round(meta.mediaTime * S.fps));
    video.requestVideoFrameCallback(onPresented);
  };
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(onPresented);
  else video.addEventListener("timeupdate", () => setFrame(Math.floor(video.currentTime * S.fps)));
  video.addEventListener("seeked", () => { if (!("requestVideoFrameCallback" in video)) setFrame(Math.floor(video.currentTime * S.fps)); });
  video.addEventListener("pause", () => setPlaying(false));
  video.addEventListener("ended", () => setPlaying(false));
}

function setupFlow() {
  const toggle = $("flow-toggle");
  if (!S.data.flows.length) {
    toggle.disabled = true;
    $("flow-note").textContent = `not available: ${S.data.flow_missing || "no flow overlay in the review files"}`;
    return;
  }
  $("flow-note").textContent = "flow from the interval's spotted onset to the frame shown (colour: direction, " +
    "opacity: magnitude), within the spotted intervals";
  toggle.addEventListener("change", drawOverlay);
}

// --- the frame shown --------------------------------------------------------------------------------------

function seek(k) {
  k = clampFrame(k);
  const video = $("video");
  if (S.data.media && video.readyState >= 1) {
    video.currentTime = (k + 0.5) / S.fps;  // the middle of frame k: its time stamp is k / fps
  } else {
    setFrame(k);
  }
}

function setFrame(k) {
  k = clampFrame(k);
  S.frame = k;
  const shown = $("frame-shown");
  shown.dataset.frame = String(k);
  shown.textContent = `frame ${k} / ${S.n - 1} \u00b7 ${(k / S.fps).toFixed(3)} s`;
  if (document.activeElement !== $("goto")) $("goto").value = k;
  if (S.playing && S.loop && k > S.loop[1]) { seek(S.loop[0]); return; }
  if (k < S.view.f0 || k >= S.view.f1) {  // keep the cursor in view
    const span = S.view.f1 - S.view.f0;
    setView(k - span * 0.1, k - span * 0.1 + span);
  }
  drawTimeline(); drawOverlay(); markCurrentRows();
}

function setPlaying(on) {
  S.playing = on;
  $("play").textContent = on ? "\u23F8 pause" : "\u25B6 play";
  if (!on) S.loop = null;
}

function togglePlay() {
  const video = $("video");
  if (!S.data.media) return;
  if (video.paused) { video.playbackRate = Number($("speed").value); video.play(); setPlaying(true); }
  else video.pause();
}

function playInterval(item) {
  const video = $("video");
  if (!S.data.media) return;
  const pad = Math.round(0.1 * S.fps);
  S.loop = [clampFrame(item.onset - pad), clampFrame(item.offset + pad)];
  if ($("speed").value === "1") $("speed").value = "0.25";
  video.playbackRate = Number($("speed").value);
  const loop = S.loop;
  seek(loop[0]);
  video.play(); S.playing = true; S.loop = loop;
  $("play").textContent = "\u23F8 pause";
}

// --- the flow overlay ---------------------------------------------------------------------------------------

function drawOverlay() {
  const canvas = $("overlay");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (!S.data || !S.data.media || !$("flow-toggle").checked) return;
  const k = S.frame;
  const index = S.data.flows.findIndex((f) => k >= f.first && k <= f.last);
  if (index < 0) return;
  const f = S.data.flows[index];
  let img = S.flowImages[index];
  if (!img) {
    img = new Image();
    img.onload = drawOverlay;
    img.src = f.url;
    S.flowImages[index] = img;
    return;
  }
  if (!img.complete) return;
  const t = k - f.first;
  const sx = (t % f.cols) * f.tile_w, sy = Math.floor(t / f.cols) * f.tile_h;
  ctx.drawImage(img, sx, sy, f.tile_w, f.tile_h, 0, 0, canvas.width, canvas.height);
}

// --- the timeline ------------------------------------------------------------------------------------------

function setView(f0, f1) {
  const minSpan = Math.min(S.n, 20);
  let span = Math.max(minSpan, Math.min(S.n, f1 - f0));
  f0 = Math.max(0, Math.min(S.n - span, f0));
  S.view = { f0, f1: f0 + span };
  const tl = $("timeline");
  tl.dataset.f0 = String(S.view.f0); tl.dataset.f1 = String(S.view.f1);
  $("view-range").textContent = `frames ${Math.floor(S.view.f0)}\u2013${Math.ceil(S.view.f1) - 1} ` +
    `(${(S.view.f0 / S.fps).toFixed(2)}\u2013${(S.view.f1 / S.fps).toFixed(2)} s)`;
}

function zoom(factor, centre) {
  const { f0, f1 } = S.view;
  if (centre === undefined) centre = S.frame + 0.5;
  setView(centre - (centre - f0) * factor, centre + (f1 - centre) * factor);
  drawTimeline();
}

function frameToX(k, width) { return (k - S.view.f0) / (S.view.f1 - S.view.f0) * width; }

function drawTimeline() {
  if (!S.data) return;
  const canvas = $("timeline");
  const dpr = window.devicePixelRatio || 1;
  const W = Math.max(100, canvas.clientWidth), H = Math.max(100, canvas.clientHeight);
  if (canvas.width !== Math.round(W * dpr)) { canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr); }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, W, H);
  const axisH = 18, laneH = S.data.annotated.length ? 14 : 0;
  const plotTop = 16, plotBottom = H - axisH - laneH - 4;
  const range = S.top * 1.1 - S.bottom;
  const y = (v) => plotBottom - ((v - S.bottom) / range) * (plotBottom - plotTop);
  const x = (k) => frameToX(k, W);
  // intervals
  for (const it of S.items) {
    const x0 = x(it.onset), x1 = x(it.offset + 1);
    if (x1 < 0 || x0 > W) continue;
    const conf = it.confidence === null || it.confidence === undefined ? 0.5 : it.confidence;
    ctx.globalAlpha = it.status === "rejected" ? 0.08 : 0.15 + 0.45 * conf;
    ctx.fillStyle = colour(it);
    ctx.fillRect(x0, plotTop, Math.max(1, x1 - x0), plotBottom - plotTop);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = colour(it);
    ctx.lineWidth = S.selected === it.key ? 3 : it.status === "accepted" ? 2 : 1;
    ctx.setLineDash(it.status === "pending" ? [4, 3] : []);
    ctx.strokeRect(x0, plotTop, Math.max(1, x1 - x0), plotBottom - plotTop);
    ctx.setLineDash([]);
    const xa = x(it.apex + 0.5);
    ctx.beginPath(); ctx.moveTo(xa, plotTop); ctx.lineTo(xa, plotBottom); ctx.stroke();
    const text = `#${it.key + 1} ${it.type === "micro" ? className(it.label) || "micro" : "macro"}` +
      (it.confidence !== null && it.confidence !== undefined && it.label === it.origLabel ? ` ${it.confidence.toFixed(2)}` : "") +
      (it.status === "rejected" ? " (rejected)" : it.status === "accepted" ? " \u2713" : "");
    ctx.fillStyle = "#222"; ctx.font = "11px system-ui, sans-serif";
    if (x1 - x0 > 10) ctx.fillText(text, Math.max(0, x0) + 2, plotTop - 4);
  }
  // re-alignments
  ctx.strokeStyle = "#aaa"; ctx.setLineDash([2, 3]); ctx.lineWidth = 1;
  for (const r of S.data.realigned) { const xr = x(r); if (xr >= 0 && xr <= W) { ctx.beginPath(); ctx.moveTo(xr, plotTop); ctx.lineTo(xr, plotBottom); ctx.stroke(); } }
  ctx.setLineDash([]);
  // signal and threshold (min/max per pixel column when zoomed out)
  const sig = S.data.signal;
  if (sig) {
    drawSeries(ctx, sig.values, x, y, W, "#333333", []);
    drawSeries(ctx, sig.threshold, x, y, W, "#d62728", [6, 4]);
  }
  // candidates: blink x, head motion +
  ctx.strokeStyle = "#444"; ctx.lineWidth = 1.5;
  for (const c of S.data.candidates) {
    if (c.kind !== "blink" && c.kind !== "head motion") continue;
    const cx = x(c.peak + 0.5), cy = y(c.score || 0);
    if (cx < -5 || cx > W + 5) continue;
    ctx.beginPath();
    if (c.kind === "blink") { ctx.moveTo(cx - 4, cy - 4); ctx.lineTo(cx + 4, cy + 4); ctx.moveTo(cx + 4, cy - 4); ctx.lineTo(cx - 4, cy + 4); }
    else { ctx.moveTo(cx - 5, cy); ctx.lineTo(cx + 5, cy); ctx.moveTo(cx, cy - 5); ctx.lineTo(cx, cy + 5); }
    ctx.stroke();
  }
  // ground truth lane
  if (laneH) {
    const ly = plotBottom + 4;
    for (const a of S.data.annotated) {
      ctx.fillStyle = colour(a);
      ctx.fillRect(x(a.onset), ly + 2, Math.max(1, x(a.offset + 1) - x(a.onset)), laneH - 4);
    }
  }
  // axis (seconds)
  const axisY = H - axisH;
  ctx.strokeStyle = "#888"; ctx.beginPath(); ctx.moveTo(0, axisY); ctx.lineTo(W, axisY); ctx.stroke();
  const spanS = (S.view.f1 - S.view.f0) / S.fps;
  const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
  const step = steps.find((s) => spanS / s <= 12) || 1200;
  ctx.fillStyle = "#444"; ctx.font = "10px system-ui, sans-serif";
  for (let t = Math.ceil(S.view.f0 / S.fps / step) * step; t * S.fps <= S.view.f1; t += step) {
    const tx = x(t * S.fps);
    ctx.beginPath(); ctx.moveTo(tx, axisY); ctx.lineTo(tx, axisY + 4); ctx.stroke();
    ctx.fillText(`${+t.toFixed(3)} s`, tx + 2, axisY + 13);
  }
  // cursor: the frame shown
  const xc = x(S.frame + 0.5);
  ctx.strokeStyle = "#1a73e8"; ctx.lineWidth = 2;
  ctx.beginPath(); ctx.moveTo(xc, 0); ctx.lineTo(xc, axisY); ctx.stroke();
  canvas.dataset.cursor = String(S.frame);
  canvas.dataset.cursorX = String(xc);
}

function drawSeries(ctx, values, x, y, W, colourName, dash) {
  const f0 = Math.max(0, Math.floor(S.view.f0)), f1 = Math.min(S.n, Math.ceil(S.view.f1));
  const perPx = (f1 - f0) / W;
  ctx.strokeStyle = colourName; ctx.lineWidth = 1; ctx.setLineDash(dash);
  ctx.beginPath();
  let pen = false;
  if (perPx <= 2) {
    for (let k = f0; k < f1; k++) {
      const v = values[k];
      if (v === null) { pen = false; continue; }
      if (pen) ctx.lineTo(x(k + 0.5), y(v)); else ctx.moveTo(x(k + 0.5), y(v));
      pen = true;
    }
  } else {
    for (let px = 0; px < W; px++) {
      const a = Math.floor(f0 + px * perPx), b = Math.min(f1, Math.floor(f0 + (px + 1) * perPx));
      let lo = Infinity, hi = -Infinity;
      for (let k = a; k < b; k++) { const v = values[k]; if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
      if (lo === Infinity) { pen = false; continue; }
      if (pen) ctx.lineTo(px, y(lo)); else ctx.moveTo(px, y(lo));
      ctx.lineTo(px, y(hi));
      pen = true;
    }
  }
  ctx.stroke(); ctx.setLineDash([]);
}

function buildLegend() {
  const legend = $("legend");
  const entries = [["line", "#333333", "spotting signal (contrast)"], ["dash", "#d62728", "threshold"]];
  S.data.class_names.forEach((name, k) => entries.push(["box", COLOURS[k % COLOURS.length], name]));
  entries.push(["box", GREY, "macro / not classified"]);
  entries.push(["text", "#444", "\u00d7 blink (dropped)"], ["text", "#444", "+ head motion (dropped)"]);
  entries.push(["text", "#1a73e8", "| frame shown"], ["text", "#666", "opacity: confidence; dashed: not reviewed, bold: accepted"]);
  if (S.data.annotated.length) entries.push(["text", "#444", "bottom lane: ground truth"]);
  for (const [kind, c, label] of entries) {
    const span = document.createElement("span");
    if (kind !== "text") {
      const sw = document.createElement("span");
      sw.className = "sw";
      sw.style.background = kind === "box" ? c : "transparent";
      if (kind !== "box") sw.style.borderTop = `2px ${kind === "dash" ? "dashed" : "solid"} ${c}`;
      span.appendChild(sw);
    } else span.style.color = c;
    span.appendChild(document.createTextNode(label));
    legend.appendChild(span);
  }
}

function setupTimelineMouse() {
  const canvas = $("timeline");
  const frameAt = (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = ev.clientX - r.left - canvas.clientLeft;  // in the drawing area (inside the border)
    return S.view.f0 + px / canvas.clientWidth * (S.view.f1 - S.view.f0);
  };
  canvas.addEventListener("wheel", (ev) => { ev.preventDefault(); zoom(ev.deltaY > 0 ? 1.25 : 0.8, frameAt(ev)); }, { passive: false });
  canvas.addEventListener("mousedown", (ev) => { S.drag = { x: ev.clientX, f0: S.view.f0, moved: false }; });
  window.addEventListener("mousemove", (ev) => {
    if (!S.drag) return;
    const dx = ev.clientX - S.drag.x;
    if (Math.abs(dx) > 3) S.drag.moved = true;
    if (!S.drag.moved) return;
    const span = S.view.f1 - S.view.f0;
    const f0 = S.drag.f0 - dx / canvas.clientWidth * span;
    setView(f0, f0 + span);
    drawTimeline();
  });
  window.addEventListener("mouseup", (ev) => {
    if (S.drag && !S.drag.moved && ev.target === canvas) seek(Math.floor(frameAt(ev)));
    S.drag = null;
  });
}

// --- the table -----------------------------------------------------------------------------------------------

function cell(tr, child) { const td = document.createElement("td"); if (child) td.appendChild(child); tr.appendChild(td); return td; }

function button(text, title, onClick, cls) {
  const b = document.createElement("button");
  b.textContent = text; b.title = title; if (cls) b.className = cls;
  b.addEventListener("click", (ev) => { ev.stopPropagation(); onClick(); });
  return b;
}

function buildTable() {
  const body = document.querySelector("#intervals tbody");
  body.textContent = "";
  S.items.sort((a, b) => a.onset - b.onset || a.offset - b.offset);
  for (const it of S.items) {
    const tr = document.createElement("tr");
    tr.dataset.key = String(it.key);
    tr.className = it.status + (S.selected === it.key ? " selected" : "");
    tr.addEventListener("click", () => select(it, true));
    cell(tr).textContent = `#${it.key + 1}${it.added ? " (new)" : ""}`;
    const st = cell(tr); st.className = "status"; st.textContent = it.status === "pending" ? "not reviewed" : it.status;
    for (const field of ["onset", "apex", "offset"]) {
      const wrap = document.createElement("span");
      const input = document.createElement("input");
      input.type = "number"; input.min = "0"; input.max = String(S.n - 1); input.step = "1";
      input.value = it[field]; input.className = field; input.title = `${field} (frame index)`;
      input.addEventListener("click", (ev) => ev.stopPropagation());
      input.addEventListener("change", () => setField(it, field, Number(input.value), input));
      wrap.appendChild(input);
      wrap.appendChild(button("\u2190 shown", `set the ${field} to the frame shown`, () => setField(it, field, S.frame, input), `small set-${field}`));
      cell(tr, wrap);
    }
    cell(tr).textContent = `${((it.offset - it.onset + 1) / S.fps).toFixed(3)} s`;
    const type = document.createElement("select"); type.className = "type";
    for (const t of ["micro", "macro"]) { const o = document.createElement("option"); o.value = t; o.textContent = t; type.appendChild(o); }
    type.value = it.type;
    type.addEventListener("click", (ev) => ev.stopPropagation());
    type.addEventListener("change", () => { it.type = type.value; changed(); });
    cell(tr, type);
    const label = document.createElement("select"); label.className = "label";
    const none = document.createElement("option"); none.value = ""; none.textContent = "\u2014 (none)"; label.appendChild(none);
    const names = S.data.class_names.length ? S.data.class_names : ["negative", "positive", "surprise"];
    names.forEach((name, k) => { const o = document.createElement("option"); o.value = String(k); o.textContent = name; label.appendChild(o); });
    label.value = it.label === null || it.label === undefined ? "" : String(it.label);
    label.addEventListener("click", (ev) => ev.stopPropagation());
    label.addEventListener("change", () => { it.label = label.value === "" ? null : Number(label.value); changed(); });
    cell(tr, label);
    const conf = cell(tr);
    if (it.confidence !== null && it.confidence !== undefined) {
      conf.textContent = `${className(it.origLabel)} ${it.confidence.toFixed(2)}`;
      if (it.probabilities) conf.title = it.probabilities.map((p, k) => `${className(k)} ${p === null || p === "" ? "?" : Number(p).toFixed(3)}`).join("\n");
    } else conf.textContent = "\u2014";
    const actions = document.createElement("span");
    actions.appendChild(button("accept", "accept this interval (A)", () => setStatus(it, "accepted"), "accept"));
    actions.appendChild(button("reject", "reject this interval (R)", () => setStatus(it, "rejected"), "reject"));
    actions.appendChild(button("go", "show its apex and zoom the timeline to it", () => select(it, true), "go"));
    actions.appendChild(button("play slow", "play it in a loop, slowly", () => { select(it, false); playInterval(it); }, "play-interval"));
    cell(tr, actions);
    body.appendChild(tr);
  }
  const counts = { pending: 0, accepted: 0, rejected: 0 };
  for (const it of S.items) counts[it.status]++;
  $("counts").textContent = `${S.items.length} interval(s): ${counts.accepted} accepted, ${counts.rejected} rejected, ` +
    `${counts.pending} not reviewed \u2014 only accepted intervals are written to the annotations file`;
  markCurrentRows();
}

function markCurrentRows() {
  for (const tr of document.querySelectorAll("#intervals tbody tr")) {
    const it = S.items.find((x) => String(x.key) === tr.dataset.key);
    tr.classList.toggle("current", !!it && S.frame >= it.onset && S.frame <= it.offset);
  }
}

function select(it, goTo) {
  S.selected = it.key;
  if (goTo) {
    const pad = Math.max(10, Math.round((it.offset - it.onset + 1) * 1.5));
    setView(it.onset - pad, it.offset + 1 + pad);
    seek(it.apex);
  }
  buildTable(); drawTimeline();
}

function setField(it, field, value, input) {
  const next = { onset: it.onset, apex: it.apex, offset: it.offset, [field]: Math.round(value) };
  if (!Number.isFinite(value) || !(0 <= next.onset && next.onset <= next.apex && next.apex <= next.offset && next.offset < S.n)) {
    input.classList.add("invalid");
    showError(`#${it.key + 1}: ${field} ${value} would break 0 \u2264 onset \u2264 apex \u2264 offset \u2264 ${S.n - 1}; not changed`);
    input.value = it[field];
    return;
  }
  input.classList.remove("invalid"); showError("");
  it[field] = next[field];
  changed();
}

function setStatus(it, status) { it.status = status; S.selected = it.key; changed(); }

function changed() { S.dirty = true; $("save-status").textContent = "unsaved changes"; $("save-status").dataset.saved = ""; buildTable(); drawTimeline(); }

function addInterval() {
  const half = Math.max(1, Math.round(0.1 * S.fps));
  const key = S.items.reduce((m, it) => Math.max(m, it.key), -1) + 1;
  const it = { key, id: null, onset: clampFrame(S.frame - half), apex: S.frame, offset: clampFrame(S.frame + half),
    type: "micro", label: null, status: "accepted", added: true, confidence: null, probabilities: null, origLabel: null };
  S.items.push(it); S.selected = key; changed();
}

async function save() {
  const items = S.items.map((it) => ({ id: it.id === undefined ? null : it.id, onset: it.onset, apex: it.apex,
    offset: it.offset, type: it.type, label: it.label === undefined ? null : it.label, status: it.status, added: !!it.added }));
  const status = $("save-status");
  status.textContent = "saving\u2026"; status.dataset.saved = "";
  try {
    const response = await fetch("api/save", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ items }) });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error || `error ${response.status}`);
    S.dirty = false;
    status.textContent = `saved ${result.written} accepted interval(s) to ${result.path} ` +
      `(${result.rejected} rejected, ${result.pending} not reviewed: not in the file)`;
    status.dataset.saved = "ok";
    showError("");
  } catch (err) {
    status.textContent = "not saved"; status.dataset.saved = "error";
    showError(`Saving failed: ${err.message}`);
  }
}

// --- keys and buttons ----------------------------------------------------------------------------------------

function setupControls() {
  $("play").addEventListener("click", togglePlay);
  $("step-back").addEventListener("click", () => seek(S.frame - 1));
  $("step-fwd").addEventListener("click", () => seek(S.frame + 1));
  $("back10").addEventListener("click", () => seek(S.frame - 10));
  $("fwd10").addEventListener("click", () => seek(S.frame + 10));
  $("speed").addEventListener("change", () => { $("video").playbackRate = Number($("speed").value); });
  $("goto").addEventListener("change", () => { const v = Number($("goto").value); if (Number.isFinite(v)) seek(v); });
  $("zoom-in").addEventListener("click", () => zoom(0.5));
  $("zoom-out").addEventListener("click", () => zoom(2));
  $("zoom-fit").addEventListener("click", () => { setView(0, S.n); drawTimeline(); });
  $("save").addEventListener("click", save);
  $("add").addEventListener("click", addInterval);
  setupTimelineMouse();
  window.addEventListener("beforeunload", (ev) => { if (S.dirty) { ev.preventDefault(); ev.returnValue = ""; } });
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") { ev.preventDefault(); save(); return; }
    const tag = (ev.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "select" || tag === "textarea") return;
    const it = S.items.find((x) => x.key === S.selected);
    if (ev.key === "ArrowLeft") seek(S.frame - (ev.shiftKey ? 10 : 1));
    else if (ev.key === "ArrowRight") seek(S.frame + (ev.shiftKey ? 10 : 1));
    else if (ev.key === " ") togglePlay();
    else if (it && (ev.key === "a" || ev.key === "r")) setStatus(it, ev.key === "a" ? "accepted" : "rejected");
    else if (it && (ev.key === "o" || ev.key === "p" || ev.key === "f")) {
      const field = { o: "onset", p: "apex", f: "offset" }[ev.key];
      const input = document.querySelector(`tr[data-key="${it.key}"] input.${field}`);
      setField(it, field, S.frame, input);
    } else return;
    ev.preventDefault();
  });
}

// a small API for scripts and tests: the frame shown, going to a frame, the intervals
window.review = {
  frame: () => S.frame, seek, items: () => S.items.map((it) => ({ ...it })),
  frameToX: (k) => frameToX(k, $("timeline").clientWidth), view: () => ({ ...S.view }),
};

document.addEventListener("DOMContentLoaded", () => {
  setupControls();
  load().catch((err) => showError(`The review page could not start: ${err.message}`));
});
