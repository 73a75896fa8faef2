// SelectionLayer: a LinkedScatter's canvas laid over its bqplot figure. It draws a large view's
// selection as dots, and names the point under the pointer in brush and lasso modes (bqplot's
// selector covers the plot there, so its own tooltips never show). Why a canvas for the selection:
// bqplot redraws a Lines or Scatter mark through a d3 transition even at duration 0 (the whole path
// string parsed and rebuilt), then Chromium lays out, pre-paints and hit-tests the changed SVG;
// with thousands of selected points that was 25-30 ms a brush, more than the rest of the gesture
// together. Here a selection is one message of int32 indices and one canvas pass; the SVG does not
// change at all.
//
// Where a point goes: the layer reads it from bqplot itself. The figure's last Scatter dots are the
// view's points in order (LinkedScatter's base marks); the dots at the extremes in x and in y (the
// `anchors` Python sends) give each axis's affine map (in log10 for a log scale). It is read again
// whenever bqplot moves a dot or the layer is resized, never during a gesture.

import { oncePerTask, readTyped } from "../grid/index.js";

// an axis's scale function before its affine map: log10 on a log axis
const axisFn = (log) => (log ? Math.log10 : (v) => v);

// pixel = a * f(value) + b through two points (f: log10 on a log scale); one distinct value: a = 0
export function fitAxis(v0, v1, p0, p1, log) {
  const f = axisFn(log);
  const d = f(v1) - f(v0);
  if (!Number.isFinite(d) || d === 0) return [0, p0];
  const a = (p1 - p0) / d;
  return [a, p0 - a * f(v0)];
}

// the shown points' indices, grouped by colour code (each group is stamped in one colour)
export function byColour(shown, codes) {
  const groups = new Map();
  for (const i of shown) {
    const c = codes.length > i ? codes[i] : 0;
    if (!groups.has(c)) groups.set(c, []);
    groups.get(c).push(i);
  }
  return groups;
}

// a dot of radius r (device pixels) as coverage over a (2h+1)² box: 1 inside, fading across the
// edge pixel (the anti-aliasing a canvas arc would give)
export function dotMask(r) {
  const h = Math.ceil(r + 0.5);
  const side = 2 * h + 1;
  const a = new Float32Array(side * side);
  for (let dy = -h; dy <= h; dy++)
    for (let dx = -h; dx <= h; dx++)
      a[(dy + h) * side + dx + h] = Math.max(0, Math.min(1, r + 0.5 - Math.hypot(dx, dy)));
  return { h, side, a };
}

export function hexRgb(color) {
  const m = /^#?([0-9a-f]{6})$/i.exec(color || "");
  const v = m ? parseInt(m[1], 16) : 0x1f77b4;
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

// paint a dot centred on pixel (x, y) over what is there (source-over, straight alpha): thousands
// of dots written as pixels take a few ms, where canvas arcs or image blits took 10-20 ms
export function stampDot(image, x, y, mask, rgb) {
  const { width: W, height: H, data: px } = image;
  const { h, side, a } = mask;
  for (let dy = -h; dy <= h; dy++) {
    const yy = y + dy;
    if (yy < 0 || yy >= H) continue;
    for (let dx = -h; dx <= h; dx++) {
      const xx = x + dx;
      const s = a[(dy + h) * side + dx + h];
      if (xx < 0 || xx >= W || s === 0) continue;
      const o = (yy * W + xx) * 4;
      const d = (px[o + 3] / 255) * (1 - s);
      const out = s + d;
      px[o] = (rgb[0] * s + px[o] * d) / out;
      px[o + 1] = (rgb[1] * s + px[o + 1] * d) / out;
      px[o + 2] = (rgb[2] * s + px[o + 2] * d) / out;
      px[o + 3] = out * 255;
    }
  }
}

// point i's place on the canvas (CSS pixels) through an axis map {ax, bx, ay, by}
export function projector(xy, map, xLog, yLog) {
  const fx = axisFn(xLog);
  const fy = axisFn(yLog);
  return {
    x: (i) => map.ax * fx(xy[2 * i]) + map.bx,
    y: (i) => map.ay * fy(xy[2 * i + 1]) + map.by,
  };
}

// the point drawn nearest to (px, py) on the canvas, within `within` pixels (-1: none)
export function nearest(xy, map, xLog, yLog, px, py, within) {
  const at = projector(xy, map, xLog, yLog);
  let best = -1;
  let bestD = within * within;
  for (let i = 0; i < xy.length / 2; i++) {
    const dx = at.x(i) - px;
    const dy = at.y(i) - py;
    const d = dx * dx + dy * dy;
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

function render({ model, el }) {
  const canvas = document.createElement("canvas");
  canvas.className = "lab8-scatter-canvas";
  el.appendChild(canvas);
  let xy = new Float64Array(0);
  let codes = new Uint8Array(0);
  let map = null; // {ax, bx, ay, by}: canvas pixels from data
  let watched = null;
  let frame = 0;
  let image = null; // the canvas's pixels, reused
  let seen = new Uint32Array(0); // per pixel: the pass and colour of the dot stamped there
  let pass = 0;

  const read = () => {
    xy = readTyped(model.get("xy"), Float64Array);
    codes = readTyped(model.get("codes"), Uint8Array);
    map = null;
  };

  // bqplot's dots: the figure's last n `.object_grp` (the view's base marks, in point order)
  function dots() {
    const box = el.parentElement;
    const all = box ? box.querySelectorAll(".object_grp") : [];
    const n = xy.length / 2;
    return all.length >= n ? Array.prototype.slice.call(all, all.length - n) : null;
  }

  function anchor() {
    const pts = dots();
    const anchors = model.get("anchors");
    if (!pts || anchors.length !== 4) return null;
    const cr = canvas.getBoundingClientRect();
    const at = (i) => {
      const m = pts[i].getScreenCTM();
      return m ? [m.e - cr.left, m.f - cr.top] : null;
    };
    const [ix0, ix1, iy0, iy1] = anchors;
    const p = [at(ix0), at(ix1), at(iy0), at(iy1)];
    if (p.some((q) => !q)) return null;
    const [ax, bx] = fitAxis(xy[2 * ix0], xy[2 * ix1], p[0][0], p[1][0], model.get("x_log"));
    const [ay, by] = fitAxis(xy[2 * iy0 + 1], xy[2 * iy1 + 1], p[2][1], p[3][1], model.get("y_log"));
    return { ax, bx, ay, by };
  }

  function draw() {
    watch();
    watchHover();
    const shown = readTyped(model.get("shown"), Int32Array);
    const dpr = window.devicePixelRatio || 1;
    const w = el.clientWidth;
    const h = el.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
      map = null;
    }
    const ctx = canvas.getContext("2d");
    const W = canvas.width;
    const H = canvas.height;
    if (!image || image.width !== W || image.height !== H) {
      image = W && H ? ctx.createImageData(W, H) : null;
      seen = new Uint32Array(W * H);
    } else image.data.fill(0);
    let n = 0;
    if (shown.length && !map) map = anchor();
    if (shown.length && map && image) {
      const colors = model.get("colors");
      const at = projector(xy, map, model.get("x_log"), model.get("y_log"));
      const mask = dotMask(model.get("radius") * dpr);
      pass = (pass % 0xffffff) + 1;
      for (const [c, idx] of byColour(shown, codes)) {
        const rgb = hexRgb(colors[c % colors.length]);
        const mark = (pass * 256 + (c & 0xff)) >>> 0;
        for (const i of idx) {
          // device pixels, rounded; a pixel that already holds this colour's dot in this pass is
          // not stamped again (dense regions repeat a lot)
          const x = Math.round(at.x(i) * dpr);
          const y = Math.round(at.y(i) * dpr);
          if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
          n += 1;
          if (x >= 0 && y >= 0 && x < W && y < H) {
            if (seen[y * W + x] === mark) continue;
            seen[y * W + x] = mark;
          }
          stampDot(image, x, y, mask, rgb);
        }
      }
    }
    if (image) ctx.putImageData(image, 0, 0);
    // what is on screen, for tests and benchmarks (an attribute change they can observe)
    el.dataset.drawn = String(n);
    el.dataset.frame = String(++frame);
  }

  // drawn in the task that brought the change (after its other changes): the next frame shows
  // it, with whatever else that burst of messages changed
  const schedule = oncePerTask(draw);

  // bqplot moved or made dots (new data, new domain, a resize): read the anchors again
  const moved = new MutationObserver((records) => {
    for (const r of records) {
      const t = r.target;
      const grp = r.type === "attributes" ? t.classList && t.classList.contains("object_grp") : r.addedNodes.length;
      if (grp) {
        map = null;
        if (readTyped(model.get("shown"), Int32Array).length) schedule();
        return;
      }
    }
  });
  function watch() {
    const box = el.parentElement;
    if (!box || watched === box) return;
    watched = box;
    moved.disconnect();
    moved.observe(box, { subtree: true, childList: true, attributes: true, attributeFilter: ["transform"] });
  }
  const resized = new ResizeObserver(() => {
    map = null;
    schedule(); // also where the layer first finds its figure (attached by then)
  });
  resized.observe(el);

  const onPoints = () => {
    read();
    schedule();
  };
  const pointTraits = ["xy", "codes", "anchors", "x_log", "y_log"];
  for (const name of pointTraits) model.on(`change:${name}`, onPoints);
  const redraw = ["shown", "colors", "radius"];
  for (const name of redraw) model.on(`change:${name}`, schedule);
  // hover: in brush and lasso modes bqplot's selector covers the plot, so its own tooltips never
  // show; the layer finds the point under the pointer itself (nearest within a few pixels)
  const tip = document.createElement("div");
  tip.className = "lab8-scatter-tip";
  tip.style.display = "none";
  document.body.appendChild(tip);
  const hideTip = () => {
    if (tip.style.display !== "none") tip.style.display = "none";
  };
  function onMove(e) {
    if (!model.get("hover") || e.buttons || !xy.length) return hideTip();
    if (!map) map = anchor();
    if (!map) return hideTip();
    const cr = canvas.getBoundingClientRect();
    const i = nearest(xy, map, model.get("x_log"), model.get("y_log"), e.clientX - cr.left, e.clientY - cr.top, model.get("radius") + 4);
    const label = i < 0 ? null : model.get("names")[i];
    if (label == null) return hideTip();
    const f = (v) => (Number.isFinite(v) ? +v.toPrecision(4) : v);
    tip.textContent = `${label}  (${f(xy[2 * i])}, ${f(xy[2 * i + 1])})`;
    tip.style.left = `${e.clientX + 12}px`;
    tip.style.top = `${e.clientY + 12}px`;
    tip.style.display = "block";
    el.dataset.hovered = String(i);
  }
  let hoverBox = null;
  function watchHover() {
    const box = el.parentElement;
    if (!box || hoverBox === box) return;
    hoverBox = box;
    box.addEventListener("pointermove", onMove, { passive: true });
    box.addEventListener("pointerleave", hideTip, { passive: true });
    box.addEventListener("pointerdown", hideTip, { passive: true });
  }
  model.on("change:hover", hideTip);

  read();
  schedule();
  return () => {
    tip.remove();
    model.off("change:hover", hideTip);
    if (hoverBox) {
      hoverBox.removeEventListener("pointermove", onMove);
      hoverBox.removeEventListener("pointerleave", hideTip);
      hoverBox.removeEventListener("pointerdown", hideTip);
    }
    for (const name of pointTraits) model.off(`change:${name}`, onPoints);
    for (const name of redraw) model.off(`change:${name}`, schedule);
    moved.disconnect();
    resized.disconnect();
  };
}

export default { render };
