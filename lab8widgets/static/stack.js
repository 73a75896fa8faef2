// grid/colors.js
var NEG = [33, 102, 172];
var MID = [247, 247, 247];
var POS = [178, 24, 43];
function mix(a, b, t) {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));
}
function colorFor(v, lo, hi, cmap) {
  if (!Number.isFinite(v)) return ["#ff00ff", true];
  if (cmap === "diverging") {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const t2 = Math.max(-1, Math.min(1, v / m));
    const rgb = t2 < 0 ? mix(MID, NEG, -t2) : mix(MID, POS, t2);
    return [`rgb(${rgb[0]},${rgb[1]},${rgb[2]})`, Math.abs(t2) > 0.55];
  }
  const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0;
  const g = Math.round(255 * (1 - t));
  return [`rgb(${g},${g},${g})`, t > 0.55];
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
function tieColor(idx, n) {
  if (!(idx >= 0)) return ["rgb(236,236,236)", false];
  const hue = (idx * 360 / Math.max(n, 1) + 200) % 360;
  return [`hsl(${hue.toFixed(0)},70%,${idx % 2 ? 68 : 76}%)`, false];
}

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

// grid/perf.js
var CAP = 2e3;
var Ring = class {
  constructor(cap = CAP) {
    this.cap = cap;
    this.items = [];
  }
  push(v) {
    this.items.push(v);
    if (this.items.length > this.cap) this.items.splice(0, this.items.length - this.cap);
    return this.items.length;
  }
  get length() {
    return this.items.length;
  }
  toArray() {
    return this.items.slice();
  }
};
function perf() {
  if (!globalThis.__lab8) globalThis.__lab8 = { edits: new Ring(), paints: new Ring(), frames: new Ring() };
  return globalThis.__lab8;
}

// grid/painter.js
var marks = 0;
function createGrid(send) {
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
  let spec = { rows: 0, cols: 0, cell: 12 };
  let values = new Float32Array(0);
  let ties = null;
  let version = 0;
  let local = null;
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
    const showValues = spec.show_values && cell >= 16;
    const decimals = spec.decimals ?? 1;
    ctx.font = `${Math.max(7, Math.floor(cell / 3.2))}px sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    let sum = 0;
    let tied = 0;
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        let v = values[i];
        if (local?.has(i)) v = local.get(i);
        sum += Number.isFinite(v) ? v : 0;
        let rgb;
        let dark;
        if (ties) {
          [rgb, dark] = tieColor(ties[i], spec.n_ties || 1);
          if (ties[i] >= 0) tied += 1;
        } else {
          [rgb, dark] = colorFor(v, lo, hi, cmap);
        }
        ctx.fillStyle = rgb;
        ctx.fillRect(c * cell, r * cell, cell, cell);
        if (showValues && !(ties && ties[i] < 0)) {
          ctx.fillStyle = dark ? "#fff" : "#222";
          ctx.fillText(fmt(v, decimals), c * cell + cell / 2, r * cell + cell / 2 + 0.5);
        }
      }
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
    d.version = String(version);
    d.rows = String(rows);
    d.cols = String(cols);
    d.sum = sum.toFixed(4);
    d.highlight = JSON.stringify(spec.highlight || []);
    d.selected = JSON.stringify(sel);
    if (ties) d.tied = String(tied);
    perf().paints.push(performance.now());
  }
  function update(nextSpec, nextValues, nextTies = null) {
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
  let pending = null;
  let frame = 0;
  function flush() {
    frame = 0;
    if (!pending) return;
    const msg = pending;
    pending = null;
    perf().edits.push(performance.now());
    marks += 1;
    if (marks % CAP === 0) performance.clearMarks("lab8-edit");
    performance.mark("lab8-edit");
    send(msg);
  }
  function queue(msg) {
    pending = msg;
    if (!frame) frame = requestAnimationFrame(flush);
  }
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
      local = /* @__PURE__ */ new Map();
      drag.cells = ink([rc]);
      paint();
      queue({ event: "draw", cells: drag.cells, done: false });
    }
    ev.preventDefault();
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    if (spec.drawable) {
      const rc = cellAt(ev);
      if (!rc) return;
      drag.moved = true;
      drag.cells = drag.cells.concat(ink(lineCells(drag.last, rc)));
      drag.last = rc;
      paint();
      queue({ event: "draw", cells: drag.cells, done: false });
      return;
    }
    if (!spec.editable) return;
    const dy = drag.y0 - ev.clientY;
    if (!drag.moved && Math.abs(dy) < 3) return;
    drag.moved = true;
    const d = spec.decimals ?? 1;
    const value = Number((drag.v0 + Math.round(dy / 4) * (spec.step ?? 0.1)).toFixed(d));
    queue({ event: "edit", row: drag.rc[0], col: drag.rc[1], value, done: false });
  });
  const end = (ev) => {
    if (!drag) return;
    const d = drag;
    drag = null;
    if (spec.drawable) {
      if (pending) flush();
      send({ event: "draw", cells: d.cells, done: true });
      local = null;
      return;
    }
    if (d.moved && spec.editable) {
      if (pending) flush();
      return;
    }
    if (ev.type === "pointerup") send({ event: "click", row: d.rc[0], col: d.rc[1] });
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
      if (ok) send({ event: "edit", row: rc[0], col: rc[1], value: input.value, done: true });
      input.remove();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") close(true);
      if (e.key === "Escape") close(false);
    });
    input.addEventListener("blur", () => close(true));
  });
  return { el: root, update, paint };
}

// grid/index.js
function readFloats(dv) {
  if (!dv) return new Float32Array(0);
  const buf = dv.buffer ? dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength) : dv;
  return new Float32Array(buf);
}

// stack/index.js
var keyStr = (key) => key.join("-");
function legend() {
  const box = document.createElement("div");
  box.className = "lab8-stack-legend";
  const bar = document.createElement("canvas");
  bar.width = 84;
  bar.height = 8;
  bar.style.width = "84px";
  bar.style.height = "8px";
  const labels = document.createElement("div");
  labels.className = "lab8-stack-legend-labels";
  for (let i = 0; i < 3; i++) labels.appendChild(document.createElement("span"));
  box.append(bar, labels);
  return box;
}
function drawLegend(box, part) {
  const lo = part.vmin ?? -1;
  const hi = part.vmax ?? 1;
  const cmap = part.cmap || "diverging";
  const key = `${lo},${hi},${cmap}`;
  if (box.dataset.scale === key) return;
  const bar = box.firstChild;
  const ctx = bar.getContext("2d");
  for (let x = 0; x < bar.width; x++) {
    ctx.fillStyle = colorFor(lo + (hi - lo) * (x + 0.5) / bar.width, lo, hi, cmap)[0];
    ctx.fillRect(x, 0, 1, bar.height);
  }
  const mid = cmap === "gray" ? (lo + hi) / 2 : 0;
  const d = Math.abs(hi - lo) >= 10 ? 0 : Math.abs(hi - lo) >= 1 ? 1 : 2;
  [lo, mid, hi].forEach((v, i) => {
    box.lastChild.children[i].textContent = fmt(v, d);
  });
  box.dataset.scale = key;
}
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "lab8-stack";
  el.appendChild(root);
  const grids = /* @__PURE__ */ new Map();
  let legends = [];
  let layoutSig = "";
  let frameNo = 0;
  function build(groups, prefix) {
    root.replaceChildren();
    legends = [];
    const seen = /* @__PURE__ */ new Set();
    groups.forEach((g, gi) => {
      if (g.symbol) {
        const sym = document.createElement("div");
        sym.className = "lab8-stack-symbol";
        sym.textContent = g.symbol;
        root.appendChild(sym);
      }
      const col = document.createElement("div");
      const gk = Array.isArray(g.key) ? keyStr(g.key) : String(g.key);
      col.className = `lab8-stack-group ${prefix}col ${prefix}col-${gk}`;
      if (g.title || (g.notes || []).length) {
        const head = document.createElement("div");
        head.className = `lab8-stack-head ${prefix}head`;
        head.textContent = g.title || "";
        for (const n of g.notes || []) {
          if (!n) continue;
          const s = document.createElement("small");
          s.textContent = n;
          head.appendChild(s);
        }
        col.appendChild(head);
      }
      g.parts.forEach((part, pi) => {
        const box = document.createElement("div");
        box.className = "lab8-stack-part";
        box.style.gridTemplateColumns = `repeat(${part.columns || 1}, auto)`;
        for (const spec of part.grids) {
          const k = keyStr(spec.key);
          seen.add(k);
          let entry = grids.get(k);
          if (!entry) {
            const key = spec.key;
            entry = { grid: createGrid((msg) => model.send({ ...msg, key })), v: -1 };
            grids.set(k, entry);
          }
          entry.v = -1;
          const cell = document.createElement("div");
          cell.className = `lab8-stack-cell ${prefix}${k}`;
          cell.appendChild(entry.grid.el);
          box.appendChild(cell);
        }
        col.appendChild(box);
        if (part.legend) {
          const el2 = legend();
          legends.push([el2, gi, pi]);
          col.appendChild(el2);
        }
      });
      root.appendChild(col);
    });
    for (const k of [...grids.keys()]) if (!seen.has(k)) grids.delete(k);
  }
  function apply() {
    const groups = model.get("groups") || [];
    const prefix = model.get("css_prefix") || "";
    const values = readFloats(model.get("data"));
    const sig = JSON.stringify([
      prefix,
      groups.map((g) => [g.key, g.title, g.notes, g.symbol, g.parts.map((p) => [p.columns, p.legend, p.grids.map((s) => s.key)])])
    ]);
    if (sig !== layoutSig) {
      build(groups, prefix);
      layoutSig = sig;
    }
    for (const g of groups) {
      for (const part of g.parts) {
        for (const s of part.grids) {
          const entry = grids.get(keyStr(s.key));
          if (!entry || entry.v === s.v) continue;
          entry.v = s.v;
          const n = s.rows * s.cols;
          const spec = { cmap: part.cmap, vmin: part.vmin, vmax: part.vmax, ...s };
          const ties = s.ties_offset >= 0 ? values.subarray(s.ties_offset, s.ties_offset + n) : null;
          entry.grid.update(spec, values.subarray(s.offset, s.offset + n), ties);
        }
      }
    }
    for (const [el2, gi, pi] of legends) drawLegend(el2, groups[gi].parts[pi]);
    frameNo += 1;
    root.dataset.frame = String(frameNo);
    root.dataset.update = String(model.get("update"));
    perf().frames.push(performance.now());
  }
  let scheduled = false;
  const onChange = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      apply();
    });
  };
  const names = ["groups", "data", "css_prefix", "update"];
  for (const n of names) model.on(`change:${n}`, onChange);
  apply();
  return () => {
    for (const n of names) model.off(`change:${n}`, onChange);
  };
}
var index_default = { render };
export {
  index_default as default
};
