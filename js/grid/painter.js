// One heatmap on a canvas: paints a spec ({rows, cols, cell, cmap, vmin, vmax, ...}) and its values,
// and turns pointer gestures into messages (click, vertical drag = edit, typed value, drawing).
// It never changes its own data: it asks Python through its widget's gesture channel (sender.js)
// and repaints what comes back. Until Python answers, a stroke being drawn is shown at once from the
// gesture itself (an overlay), and a dragged cell with the answer or, if that is late, a frame after
// the gesture; Python's arrays replace the overlay as soon as the channel is idle (every message
// answered), so what stays on screen is Python's.
// HeatmapGrid (one widget, one grid) and HeatmapStack (one widget, many grids) both use it.
//
// Cells are painted as one ImageData (one pixel per cell, scaled up without smoothing): no colour
// string is built and parsed per cell, so a whole conv chain repaints in about a millisecond.

import { lineCells, paintBrush } from "./brush.js";
import { fmt, rgbInto, tieRgbInto, valueRange } from "./colors.js";
import { perf } from "./perf.js";

// how long a dragged cell waits for Python's answer before it is painted alone (about a frame)
const LATE_MS = 16;

export function createGrid(channel, gridKey = 0) {
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
  const cells = document.createElement("canvas"); // one pixel per cell, drawn scaled onto `canvas`
  const cellsCtx = cells.getContext("2d");
  let image = null;
  let spec = { rows: 0, cols: 0, cell: 12 };
  let values = new Float32Array(0);
  let ties = null; // per-cell tie index (a matrix of shared weights), -1 for a structural zero
  let version = 0;
  let local = null; // cell index → value shown before Python answers (a stroke, a dragged cell)
  let drawing = false;
  let lateTimer = 0;
  const rgb = [0, 0, 0];

  // the overlay goes once Python has answered every message: its arrays are the truth again
  const unsubscribe = channel.onIdle(() => {
    if (local && !drawing && !drag) dropOverlay();
  });

  // Python's arrays are the truth again; repaint only if they differ from what the overlay showed
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
    // Touch the DOM text only when it changed: rewriting it forces a layout on every repaint.
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
      if (d[k] !== v) d[k] = v; // an unchanged attribute is not written again
    };
    put("rows", String(rows));
    put("cols", String(cols));
    put("sum", sum.toFixed(4));
    put("highlight", JSON.stringify(spec.highlight || []));
    put("selected", JSON.stringify(sel));
    if (ties) put("tied", String(tied));
    d.version = String(version); // last: observers of data-version see the other attributes set
    perf().paints.push(performance.now());
  }

  function update(nextSpec, nextValues, nextTies = null) {
    clearTimeout(lateTimer); // this paint shows the dragged cell too
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

  // --- gestures: a drag step goes to Python at once, or replaces the one waiting (sender.js) -----
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
      local = local ?? new Map(); // the last stroke stays until Python has it
      drag.cells = ink([rc]);
      paint();
      channel.queue(gridKey, { event: "draw", cells: drag.cells, done: false });
    }
    ev.preventDefault();
  });
  // A drag step of an editable cell: 4 px = one step. Chromium holds `pointermove` back until
  // the next animation frame; `pointerrawupdate` (where there is one) comes as the pointer moves,
  // so the step goes to Python up to a frame sooner. Both call this; a step is sent once.
  function editStep(ev) {
    if (!drag || spec.drawable || !spec.editable) return;
    const dy = drag.y0 - ev.clientY;
    if (!drag.moved && Math.abs(dy) < 3) return;
    drag.moved = true;
    const d = spec.decimals ?? 1;
    const value = Number((drag.v0 + Math.round(dy / 4) * (spec.step ?? 0.1)).toFixed(d));
    if (drag.value === value) return; // the same step again: nothing to show or send
    drag.value = value;
    channel.queue(gridKey, { event: "edit", row: drag.rc[0], col: drag.rc[1], value, done: false });
    // The dragged cell shows its new value with Python's answer (the whole chain, one frame), or
    // on its own a frame from now if the answer is late. Painting it at once would add a frame's
    // work (style, paint, commit) just when the answer arrives, and delay the chain by as much.
    local = new Map([[drag.rc[0] * spec.cols + drag.rc[1], value]]);
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
      channel.drop(gridKey); // the final stroke carries every cell
      channel.send({ event: "draw", cells: d.cells, done: true });
      return;
    }
    if (d.moved && spec.editable) {
      if (!channel.busy() && local) dropOverlay(); // Python already answered the last step
      return;
    }
    if (ev.type === "pointerup") channel.send({ event: "click", row: d.rc[0], col: d.rc[1] });
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);

  // Double-click an editable cell to type a value; Python validates it (NaN, text, huge values).
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
      zIndex: 2,
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
