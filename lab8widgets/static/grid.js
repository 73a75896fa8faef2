// grid/brush.js
var BRUSH = [
  [0, 0, 1],
  [-1, 0, 0.85],
  [1, 0, 0.85],
  [0, -1, 0.85],
  [0, 1, 0.85],
  [-1, -1, 0.45],
  [-1, 1, 0.45],
  [1, -1, 0.45],
  [1, 1, 0.45]
];
function lineCells(a, b) {
  let [r0, c0] = a;
  const [r1, c1] = b;
  const dr = Math.abs(r1 - r0);
  const dc = Math.abs(c1 - c0);
  const sr = r0 < r1 ? 1 : -1;
  const sc = c0 < c1 ? 1 : -1;
  let err = dc - dr;
  const out = [[r0, c0]];
  while (r0 !== r1 || c0 !== c1) {
    const e2 = 2 * err;
    if (e2 > -dr) {
      err -= dr;
      c0 += sc;
    }
    if (e2 < dc) {
      err += dc;
      r0 += sr;
    }
    out.push([r0, c0]);
  }
  return out;
}
function paintBrush(centres, rows, cols, value, ink, base) {
  const changed = /* @__PURE__ */ new Map();
  for (const [r0, c0] of centres) {
    for (const [dr, dc, s] of BRUSH) {
      const r = r0 + dr;
      const c = c0 + dc;
      if (r < 0 || c < 0 || r >= rows || c >= cols) continue;
      const key = r * cols + c;
      const old = ink.has(key) ? ink.get(key) : base(key);
      const nv = Math.max(old, value * s);
      if (nv !== old || !ink.has(key)) {
        ink.set(key, nv);
        changed.set(key, [r, c, nv]);
      }
    }
  }
  return [...changed.values()];
}

// grid/colors.js
var NEG = [33, 102, 172];
var MID = [247, 247, 247];
var POS = [178, 24, 43];
function mix(a, b, t, out) {
  out[0] = Math.round(a[0] + (b[0] - a[0]) * t);
  out[1] = Math.round(a[1] + (b[1] - a[1]) * t);
  out[2] = Math.round(a[2] + (b[2] - a[2]) * t);
  return out;
}
var MAGENTA = [255, 0, 255];
function rgbInto(out, v, lo, hi, cmap) {
  if (!Number.isFinite(v)) {
    out[0] = MAGENTA[0];
    out[1] = MAGENTA[1];
    out[2] = MAGENTA[2];
    return true;
  }
  if (cmap === "diverging") {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const t2 = Math.max(-1, Math.min(1, v / m));
    if (t2 < 0) mix(MID, NEG, -t2, out);
    else mix(MID, POS, t2, out);
    return Math.abs(t2) > 0.55;
  }
  const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0;
  const g = Math.round(255 * (1 - t));
  out[0] = g;
  out[1] = g;
  out[2] = g;
  return t > 0.55;
}
function valueRange(values, vmin, vmax, cmap) {
  let lo = vmin;
  let hi = vmax;
  if (lo !== null && hi !== null) return [lo, hi];
  let amax = 0;
  let mn = Infinity;
  let mx = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    amax = Math.max(amax, Math.abs(v));
    mn = Math.min(mn, v);
    mx = Math.max(mx, v);
  }
  if (cmap === "diverging") {
    if (lo === null) lo = -(amax || 1);
    if (hi === null) hi = amax || 1;
  } else {
    if (lo === null) lo = Number.isFinite(mn) ? Math.min(mn, 0) : 0;
    if (hi === null) hi = Number.isFinite(mx) && mx > lo ? mx : lo + 1;
  }
  return [lo, hi];
}
function fmt(v, decimals) {
  if (!Number.isFinite(v)) return String(v);
  const s = v.toFixed(decimals);
  return s === `-${0 .toFixed(decimals)}` ? 0 .toFixed(decimals) : s;
}
function tieRgbInto(out, idx, n) {
  if (!(idx >= 0)) {
    out[0] = 236;
    out[1] = 236;
    out[2] = 236;
    return false;
  }
  const h = Number(((idx * 360 / Math.max(n, 1) + 200) % 360).toFixed(0)) / 360;
  const l = idx % 2 ? 0.68 : 0.76;
  const s = 0.7;
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const p = 2 * l - q;
  const hue = (t) => {
    const u = t < 0 ? t + 1 : t > 1 ? t - 1 : t;
    if (u < 1 / 6) return p + (q - p) * 6 * u;
    if (u < 1 / 2) return q;
    if (u < 2 / 3) return p + (q - p) * (2 / 3 - u) * 6;
    return p;
  };
  out[0] = Math.round(255 * hue(h + 1 / 3));
  out[1] = Math.round(255 * hue(h));
  out[2] = Math.round(255 * hue(h - 1 / 3));
  return false;
}

// grid/perf.js
var CAP = 2e3;
var Ring = class {
  constructor(cap = CAP) {
    this.cap = cap;
    this.items = [];
    this.start = 0;
  }
  push(v) {
    if (this.items.length < this.cap) {
      this.items.push(v);
    } else {
      this.items[this.start] = v;
      this.start = (this.start + 1) % this.cap;
    }
    return this.items.length;
  }
  get length() {
    return this.items.length;
  }
  toArray() {
    return this.items.slice(this.start).concat(this.items.slice(0, this.start));
  }
};
function perf() {
  if (!globalThis.__lab8) globalThis.__lab8 = { edits: new Ring(), paints: new Ring(), frames: new Ring() };
  return globalThis.__lab8;
}

// grid/painter.js
var LATE_MS = 16;
function createGrid(channel, gridKey = 0) {
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
  const ctx = canvas.getContext("2d");
  const cells = document.createElement("canvas");
  const cellsCtx = cells.getContext("2d");
  let image = null;
  let spec = { rows: 0, cols: 0, cell: 12 };
  let values = new Float32Array(0);
  let ties = null;
  let version = 0;
  let local = null;
  let drawing = false;
  let lateTimer = 0;
  const rgb = [0, 0, 0];
  const unsubscribe = channel.onIdle(() => {
    if (local && !drawing && !drag) dropOverlay();
  });
  function dropOverlay() {
    const stale = [...local].some(([i, v]) => values[i] !== Math.fround(v));
    local = null;
    clearTimeout(lateTimer);
    if (stale) paint();
  }
  function paintCells(rows, cols, lo, hi, cmap, w, h) {
    if (cells.width !== cols || cells.height !== rows || !image) {
      cells.width = cols;
      cells.height = rows;
      image = cellsCtx.createImageData(cols, rows);
    }
    const px = image.data;
    let sum = 0;
    let tied = 0;
    const n = rows * cols;
    for (let i = 0; i < n; i++) {
      let v = values[i];
      if (local?.has(i)) v = local.get(i);
      sum += Number.isFinite(v) ? v : 0;
      if (ties) {
        tieRgbInto(rgb, ties[i], spec.n_ties || 1);
        if (ties[i] >= 0) tied += 1;
      } else {
        rgbInto(rgb, v, lo, hi, cmap);
      }
      const o = 4 * i;
      px[o] = rgb[0];
      px[o + 1] = rgb[1];
      px[o + 2] = rgb[2];
      px[o + 3] = 255;
    }
    cellsCtx.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, 0, 0, w, h);
    return [sum, tied];
  }
  function paintValues(rows, cols, cell, lo, hi, cmap) {
    const decimals = spec.decimals ?? 1;
    ctx.font = `${Math.max(7, Math.floor(cell / 3.2))}px sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        if (ties && ties[i] < 0) continue;
        let v = values[i];
        if (local?.has(i)) v = local.get(i);
        const dark = ties ? false : rgbInto(rgb, v, lo, hi, cmap);
        ctx.fillStyle = dark ? "#fff" : "#222";
        ctx.fillText(fmt(v, decimals), c * cell + cell / 2, r * cell + cell / 2 + 0.5);
      }
    }
  }
  function paint() {
    const { rows, cols, cell } = spec;
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
    const cmap = spec.cmap || "diverging";
    const [lo, hi] = valueRange(values, spec.vmin ?? null, spec.vmax ?? null, cmap);
    let sum = 0;
    let tied = 0;
    if (rows > 0 && cols > 0) {
      [sum, tied] = paintCells(rows, cols, lo, hi, cmap, w, h);
      if (spec.show_values && cell >= 16) paintValues(rows, cols, cell, lo, hi, cmap);
    }
    if (cell >= 10) {
      ctx.strokeStyle = ties ? "rgba(255,255,255,0.9)" : "rgba(0,0,0,0.12)";
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
    for (const [r0, c0, r1, c1] of spec.highlight || []) {
      ctx.fillStyle = "rgba(255, 165, 0, 0.25)";
      ctx.fillRect(c0 * cell, r0 * cell, (c1 - c0 + 1) * cell, (r1 - r0 + 1) * cell);
      ctx.strokeStyle = "#ff8c00";
      ctx.lineWidth = 2;
      ctx.strokeRect(c0 * cell + 1, r0 * cell + 1, (c1 - c0 + 1) * cell - 2, (r1 - r0 + 1) * cell - 2);
    }
    const sel = spec.selected || [];
    if (sel.length === 2) {
      ctx.strokeStyle = "#e6550d";
      ctx.lineWidth = 3;
      ctx.strokeRect(sel[1] * cell + 1.5, sel[0] * cell + 1.5, cell - 3, cell - 3);
      ctx.strokeStyle = "#fff";
      ctx.lineWidth = 1;
      ctx.strokeRect(sel[1] * cell + 3.5, sel[0] * cell + 3.5, cell - 7, cell - 7);
    }
    const t = spec.title || "";
    const st = spec.subtitle || "";
    if (title.textContent !== t) title.textContent = t;
    if (subtitle.textContent !== st) subtitle.textContent = st;
    title.style.display = t ? "" : "none";
    subtitle.style.display = st ? "" : "none";
    const cursor = spec.drawable ? "crosshair" : spec.editable ? "ns-resize" : "pointer";
    if (canvas.style.cursor !== cursor) canvas.style.cursor = cursor;
    version += 1;
    const d = root.dataset;
    const put = (k, v) => {
      if (d[k] !== v) d[k] = v;
    };
    put("rows", String(rows));
    put("cols", String(cols));
    put("sum", sum.toFixed(4));
    put("highlight", JSON.stringify(spec.highlight || []));
    put("selected", JSON.stringify(sel));
    if (ties) put("tied", String(tied));
    d.version = String(version);
    perf().paints.push(performance.now());
  }
  function update(nextSpec, nextValues, nextTies = null) {
    clearTimeout(lateTimer);
    spec = nextSpec;
    values = nextValues;
    ties = nextTies;
    paint();
  }
  function cellAt(ev) {
    const rect = canvas.getBoundingClientRect();
    const { cell, rows, cols } = spec;
    const c = Math.floor((ev.clientX - rect.left) / cell);
    const r = Math.floor((ev.clientY - rect.top) / cell);
    if (r < 0 || c < 0 || r >= rows || c >= cols) return null;
    return [r, c];
  }
  let drag = null;
  function ink(centres) {
    const base = (key) => values[key];
    return paintBrush(centres, spec.rows, spec.cols, spec.brush_value ?? 1, local, base);
  }
  canvas.addEventListener("pointerdown", (ev) => {
    const rc = cellAt(ev);
    if (!rc) return;
    canvas.setPointerCapture?.(ev.pointerId);
    drag = { rc, last: rc, y0: ev.clientY, v0: values[rc[0] * spec.cols + rc[1]], moved: false, cells: [] };
    if (spec.drawable) {
      drawing = true;
      local = local ?? /* @__PURE__ */ new Map();
      drag.cells = ink([rc]);
      paint();
      channel.queue(gridKey, { event: "draw", cells: drag.cells, done: false });
    }
    ev.preventDefault();
  });
  function editStep(ev) {
    if (!drag || spec.drawable || !spec.editable) return;
    const dy = drag.y0 - ev.clientY;
    if (!drag.moved && Math.abs(dy) < 3) return;
    drag.moved = true;
    const d = spec.decimals ?? 1;
    const value = Number((drag.v0 + Math.round(dy / 4) * (spec.step ?? 0.1)).toFixed(d));
    if (drag.value === value) return;
    drag.value = value;
    channel.queue(gridKey, { event: "edit", row: drag.rc[0], col: drag.rc[1], value, done: false });
    local = /* @__PURE__ */ new Map([[drag.rc[0] * spec.cols + drag.rc[1], value]]);
    clearTimeout(lateTimer);
    lateTimer = setTimeout(paint, LATE_MS);
  }
  canvas.addEventListener("pointerrawupdate", editStep);
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    if (!spec.drawable) {
      editStep(ev);
      return;
    }
    const rc = cellAt(ev);
    if (!rc) return;
    drag.moved = true;
    drag.cells = drag.cells.concat(ink(lineCells(drag.last, rc)));
    drag.last = rc;
    paint();
    channel.queue(gridKey, { event: "draw", cells: drag.cells, done: false });
  });
  const end = (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (spec.drawable) {
      drawing = false;
      channel.drop(gridKey);
      channel.send({ event: "draw", cells: d.cells, done: true });
      return;
    }
    if (d.moved && spec.editable) {
      if (!channel.busy() && local) dropOverlay();
      return;
    }
    if (ev.type === "pointerup") channel.send({ event: "click", row: d.rc[0], col: d.rc[1] });
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("dblclick", (ev) => {
    if (!spec.editable) return;
    const rc = cellAt(ev);
    if (!rc) return;
    const { cell, cols } = spec;
    const input = document.createElement("input");
    input.className = "lab8-grid-input";
    input.value = fmt(values[rc[0] * cols + rc[1]], spec.decimals ?? 1);
    Object.assign(input.style, {
      position: "absolute",
      left: `${rc[1] * cell}px`,
      top: `${rc[0] * cell}px`,
      width: `${Math.max(cell, 56)}px`,
      height: `${cell}px`,
      boxSizing: "border-box",
      fontSize: "12px",
      zIndex: 2
    });
    wrap.appendChild(input);
    input.focus();
    input.select();
    let closed = false;
    const close = (ok) => {
      if (closed) return;
      closed = true;
      if (ok) channel.send({ event: "edit", row: rc[0], col: rc[1], value: input.value, done: true });
      input.remove();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") close(true);
      if (e.key === "Escape") close(false);
    });
    input.addEventListener("blur", () => close(true));
  });
  return { el: root, update, paint, dispose: unsubscribe };
}

// grid/sender.js
var marks = 0;
function mark() {
  perf().edits.push(performance.now());
  marks += 1;
  if (marks % CAP === 0) performance.clearMarks("lab8-edit");
  performance.mark("lab8-edit");
}
function createSender(send, { timeout = 500, now = () => performance.now() } = {}) {
  let seq = Math.floor(Math.random() * 2 ** 30);
  let inflight = 0;
  let sentAt = 0;
  let timer = 0;
  const pending = /* @__PURE__ */ new Map();
  const idle = /* @__PURE__ */ new Set();
  function post(msg, traced) {
    seq += 1;
    inflight = seq;
    sentAt = now();
    if (traced) mark();
    send({ ...msg, seq });
    return seq;
  }
  function arm() {
    if (timer) return;
    timer = setTimeout(
      () => {
        timer = 0;
        if (!inflight || !pending.size) return;
        if (now() - sentAt >= timeout) drain();
        else arm();
      },
      Math.max(1, timeout - (now() - sentAt))
    );
  }
  function drain() {
    if (pending.size) {
      const [key, msg] = pending.entries().next().value;
      pending.delete(key);
      post(msg, true);
      return;
    }
    inflight = 0;
    for (const fn of idle) fn();
  }
  return {
    // a drag step of grid `key`: now if the channel is free, else it replaces that grid's queued step
    queue(key, msg) {
      if (inflight && now() - sentAt > timeout) inflight = 0;
      if (!inflight) {
        post(msg, true);
        return;
      }
      pending.set(key, msg);
      arm();
    },
    // a message that must not be dropped or delayed (a click, the end of a stroke, a typed value)
    send(msg) {
      return post(msg, false);
    },
    // forget grid `key`'s queued step (its final message supersedes it)
    drop(key) {
      pending.delete(key);
    },
    // Python handled message `s` (and every earlier one of this view)
    ack(s) {
      if (inflight && s >= inflight) drain();
    },
    busy() {
      return inflight !== 0 || pending.size > 0;
    },
    onIdle(fn) {
      idle.add(fn);
      return () => idle.delete(fn);
    }
  };
}

// grid/index.js
var SPEC = [
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
  "step",
  "brush_value"
];
function oncePerTask(fn) {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      fn();
    });
  };
}
function readTyped(dv, Type) {
  if (!dv || !dv.byteLength) return new Type(0);
  const buf = dv.buffer ? dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength) : dv;
  return new Type(buf);
}
function readFloats(dv) {
  return readTyped(dv, Float32Array);
}
function render({ model, el }) {
  const channel = createSender((msg) => model.send(msg));
  const grid = createGrid(channel);
  el.appendChild(grid.el);
  let painted = null;
  function paint() {
    const [rows, cols] = model.get("shape");
    const spec = { rows, cols };
    for (const n of SPEC) spec[n] = model.get(n);
    const data = model.get("data");
    const sig = JSON.stringify(spec);
    if (data !== painted?.data || sig !== painted?.sig) {
      const values = readFloats(data);
      grid.update(spec, values.length === rows * cols ? values : new Float32Array(rows * cols));
      painted = { data, sig };
    }
    channel.ack(model.get("ack"));
  }
  const onChange = oncePerTask(paint);
  const names = ["data", "ack", ...SPEC];
  for (const n of names) model.on(`change:${n}`, onChange);
  paint();
  return () => {
    for (const n of names) model.off(`change:${n}`, onChange);
  };
}
var index_default = { render };
export {
  index_default as default,
  oncePerTask,
  readFloats,
  readTyped
};
