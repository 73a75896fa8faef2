// HeatmapGrid: a canvas heatmap that renders a float32 array sent by Python and reports gestures
// (click, vertical drag to edit a cell, typed values, drawing) back as custom messages.
// Python stays the source of truth: the grid never changes its own data, it only asks.

import { colorFor, fmt, valueRange } from "./colors.js";

const perf = () => {
  if (!globalThis.__lab8) globalThis.__lab8 = { edits: [], paints: [] };
  return globalThis.__lab8;
};

function readValues(model) {
  const dv = model.get("data");
  const [rows, cols] = model.get("shape");
  if (!dv || !rows || !cols) return { rows: 0, cols: 0, values: new Float32Array(0) };
  const buf = dv.buffer ? dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength) : dv;
  return { rows, cols, values: new Float32Array(buf) };
}

function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "lab8-grid";
  const title = document.createElement("div");
  title.className = "lab8-grid-title";
  const canvas = document.createElement("canvas");
  canvas.className = "lab8-grid-canvas";
  const subtitle = document.createElement("div");
  subtitle.className = "lab8-grid-subtitle";
  const wrap = document.createElement("div");
  wrap.className = "lab8-grid-wrap";
  wrap.appendChild(canvas);
  root.append(title, wrap, subtitle);
  el.appendChild(root);
  const ctx = canvas.getContext("2d");
  let version = 0;
  let local = null; // cells painted by a drawing gesture before Python answers

  function paint() {
    const { rows, cols, values } = readValues(model);
    const cell = model.get("cell");
    const dpr = globalThis.devicePixelRatio || 1;
    const w = cols * cell;
    const h = rows * cell;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      canvas.style.width = `${w}px`;
      canvas.style.height = `${h}px`;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const [lo, hi] = valueRange(values, model.get("vmin"), model.get("vmax"), model.get("cmap"));
    const cmap = model.get("cmap");
    const showValues = model.get("show_values") && cell >= 18;
    const decimals = model.get("decimals");
    ctx.font = `${Math.max(8, Math.floor(cell / 3.2))}px sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    let sum = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        let v = values[r * cols + c];
        if (local && local.has(r * cols + c)) v = local.get(r * cols + c);
        sum += Number.isFinite(v) ? v : 0;
        const [rgb, dark] = colorFor(v, lo, hi, cmap);
        ctx.fillStyle = rgb;
        ctx.fillRect(c * cell, r * cell, cell, cell);
        if (showValues) {
          ctx.fillStyle = dark ? "#fff" : "#222";
          ctx.fillText(fmt(v, decimals), c * cell + cell / 2, r * cell + cell / 2 + 0.5);
        }
      }
    }
    if (cell >= 10) {
      ctx.strokeStyle = "rgba(0,0,0,0.12)";
      ctx.lineWidth = 1;
      ctx.beginPath();
      for (let r = 0; r <= rows; r++) {
        ctx.moveTo(0, r * cell + 0.5);
        ctx.lineTo(w, r * cell + 0.5);
      }
      for (let c = 0; c <= cols; c++) {
        ctx.moveTo(c * cell + 0.5, 0);
        ctx.lineTo(c * cell + 0.5, h);
      }
      ctx.stroke();
    }
    for (const [r0, c0, r1, c1] of model.get("highlight") || []) {
      ctx.fillStyle = "rgba(255, 165, 0, 0.25)";
      ctx.fillRect(c0 * cell, r0 * cell, (c1 - c0 + 1) * cell, (r1 - r0 + 1) * cell);
      ctx.strokeStyle = "#ff8c00";
      ctx.lineWidth = 2;
      ctx.strokeRect(c0 * cell + 1, r0 * cell + 1, (c1 - c0 + 1) * cell - 2, (r1 - r0 + 1) * cell - 2);
    }
    const sel = model.get("selected") || [];
    if (sel.length === 2) {
      ctx.strokeStyle = "#e6550d";
      ctx.lineWidth = 3;
      ctx.strokeRect(sel[1] * cell + 1.5, sel[0] * cell + 1.5, cell - 3, cell - 3);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1;
      ctx.strokeRect(sel[1] * cell + 3.5, sel[0] * cell + 3.5, cell - 7, cell - 7);
    }
    // Touch the DOM text only when it changed: rewriting it forces a layout on every repaint.
    const t = model.get("title");
    const st = model.get("subtitle");
    if (title.textContent !== t) title.textContent = t;
    if (subtitle.textContent !== st) subtitle.textContent = st;
    title.style.display = t ? "" : "none";
    subtitle.style.display = st ? "" : "none";
    const cursor = model.get("drawable") ? "crosshair" : model.get("editable") ? "ns-resize" : "pointer";
    if (canvas.style.cursor !== cursor) canvas.style.cursor = cursor;
    version += 1;
    root.dataset.version = String(version);
    root.dataset.rows = String(rows);
    root.dataset.cols = String(cols);
    root.dataset.sum = sum.toFixed(4);
    root.dataset.highlight = JSON.stringify(model.get("highlight") || []);
    root.dataset.selected = JSON.stringify(sel);
    perf().paints.push(performance.now());
    performance.mark("lab8-paint");
  }

  function cellAt(ev) {
    const rect = canvas.getBoundingClientRect();
    const cell = model.get("cell");
    const [rows, cols] = model.get("shape");
    const c = Math.floor((ev.clientX - rect.left) / cell);
    const r = Math.floor((ev.clientY - rect.top) / cell);
    if (r < 0 || c < 0 || r >= rows || c >= cols) return null;
    return [r, c];
  }

  // --- gestures -------------------------------------------------------------------------------
  let drag = null;
  let pending = null;
  let frame = 0;
  function flush() {
    frame = 0;
    if (!pending) return;
    const msg = pending;
    pending = null;
    perf().edits.push(performance.now());
    performance.mark("lab8-edit");
    model.send(msg);
  }
  function queue(msg) {
    pending = msg;
    if (!frame) frame = requestAnimationFrame(flush);
  }
  function drawAt(rc) {
    const [rows, cols] = model.get("shape");
    const cells = [];
    const v = model.get("brush_value");
    const { values } = readValues(model);
    for (const [dr, dc, s] of [
      [0, 0, 1],
      [0, 1, 0.6],
      [1, 0, 0.6],
      [1, 1, 0.4],
    ]) {
      const r = rc[0] + dr;
      const c = rc[1] + dc;
      if (r >= rows || c >= cols) continue;
      const key = r * cols + c;
      const old = local.has(key) ? local.get(key) : values[key];
      const nv = Math.max(old, v * s);
      local.set(key, nv);
      cells.push([r, c, nv]);
    }
    return cells;
  }

  canvas.addEventListener("pointerdown", (ev) => {
    const rc = cellAt(ev);
    if (!rc) return;
    canvas.setPointerCapture?.(ev.pointerId);
    const { cols, values } = readValues(model);
    drag = { rc, y0: ev.clientY, v0: values[rc[0] * cols + rc[1]], moved: false, cells: [] };
    if (model.get("drawable")) {
      local = new Map();
      drag.cells = drawAt(rc);
      paint();
      queue({ event: "draw", cells: drag.cells, done: false });
    }
    ev.preventDefault();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    if (model.get("drawable")) {
      const rc = cellAt(ev);
      if (!rc) return;
      drag.moved = true;
      drag.cells = drag.cells.concat(drawAt(rc));
      paint();
      queue({ event: "draw", cells: drag.cells, done: false });
      return;
    }
    if (!model.get("editable")) return;
    const dy = drag.y0 - ev.clientY;
    if (!drag.moved && Math.abs(dy) < 3) return;
    drag.moved = true;
    const step = model.get("step");
    const d = model.get("decimals");
    const value = Number((drag.v0 + Math.round(dy / 4) * step).toFixed(d));
    queue({ event: "edit", row: drag.rc[0], col: drag.rc[1], value, done: false });
  });
  const end = (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (model.get("drawable")) {
      if (pending) flush();
      model.send({ event: "draw", cells: d.cells, done: true });
      local = null;
      return;
    }
    if (d.moved && model.get("editable")) {
      if (pending) flush();
      return;
    }
    if (ev.type === "pointerup") model.send({ event: "click", row: d.rc[0], col: d.rc[1] });
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  // Double-click an editable cell to type a value; Python validates it (NaN, text, huge values).
  canvas.addEventListener("dblclick", (ev) => {
    if (!model.get("editable")) return;
    const rc = cellAt(ev);
    if (!rc) return;
    const cell = model.get("cell");
    const { cols, values } = readValues(model);
    const input = document.createElement("input");
    input.className = "lab8-grid-input";
    input.value = fmt(values[rc[0] * cols + rc[1]], model.get("decimals"));
    Object.assign(input.style, {
      position: "absolute",
      left: `${rc[1] * cell}px`,
      top: `${rc[0] * cell}px`,
      width: `${Math.max(cell, 56)}px`,
      height: `${cell}px`,
      boxSizing: "border-box",
      fontSize: "12px",
      zIndex: 2,
    });
    wrap.appendChild(input);
    input.focus();
    input.select();
    let closed = false;
    const close = (send) => {
      if (closed) return;
      closed = true;
      if (send) model.send({ event: "edit", row: rc[0], col: rc[1], value: input.value, done: true });
      input.remove();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") close(true);
      if (e.key === "Escape") close(false);
    });
    input.addEventListener("blur", () => close(true));
  });

  const names = [
    "data",
    "shape",
    "vmin",
    "vmax",
    "cmap",
    "cell",
    "show_values",
    "highlight",
    "selected",
    "title",
    "subtitle",
    "editable",
    "drawable",
    "decimals",
  ];
  // One message can change several traits (data, shape, vmin, vmax): paint once, after all of them.
  let scheduled = false;
  const onChange = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      paint();
    });
  };
  for (const n of names) model.on(`change:${n}`, onChange);
  paint();
  return () => {
    for (const n of names) model.off(`change:${n}`, onChange);
  };
}

export default { render };
