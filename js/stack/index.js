// HeatmapStack: many heatmaps in one widget, in titled groups; the grids of one part of a group
// share one colour scale (and may show its legend). All values travel in one float32 buffer, so a
// change that touches many grids (a kernel drag repainting a whole conv chain) is one message from
// Python and is painted in one pass, so in one animation frame. The layout (`groups`: titles,
// props, scales, offsets) only travels when it changes; a grid is repainted when its props or its
// slice of the buffer changed. Gestures go back with the grid's key (a list) through one gesture
// channel for the whole stack (sender.js), acknowledged by `ack` in Python's answer.

import { colorFor, fmt } from "../grid/colors.js";
import { oncePerTask, readFloats } from "../grid/index.js";
import { createGrid } from "../grid/painter.js";
import { perf } from "../grid/perf.js";
import { createSender } from "../grid/sender.js";

// whether a grid's new slice differs from what it painted (NaN-safe, ±0 alike)
function differs(a, b) {
  if (a === b) return false;
  if (!a || !b || a.length !== b.length) return true;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i] && !(a[i] !== a[i] && b[i] !== b[i])) return true;
  }
  return false;
}

const keyStr = (key) => key.join("-");

// A part's colour bar and its -v / 0 / +v labels; drawn again in place when the scale changes (the
// DOM is never rebuilt for that: removing a canvas mid-drag would drop its pointer capture).
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
    ctx.fillStyle = colorFor(lo + ((hi - lo) * (x + 0.5)) / bar.width, lo, hi, cmap)[0];
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
  const channel = createSender((msg) => model.send(msg));
  const grids = new Map(); // key string → { grid, spec: painted props, values: painted copy }
  let legends = []; // [element, group index, part index]
  let layoutSig = "";
  let groupsSeen = null;
  let frameNo = 0;

  function build(groups, prefix) {
    root.replaceChildren();
    legends = [];
    const seen = new Set();
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
            const keyed = {
              queue: (gk, msg) => channel.queue(gk, { ...msg, key }),
              send: (msg) => channel.send({ ...msg, key }),
              drop: (gk) => channel.drop(gk),
              busy: () => channel.busy(),
              onIdle: (fn) => channel.onIdle(fn),
            };
            entry = { grid: createGrid(keyed, k), spec: null, values: null };
            grids.set(k, entry);
          }
          entry.spec = null; // repaint after a re-layout
          const cell = document.createElement("div");
          cell.className = `lab8-stack-cell ${prefix}${k}`;
          cell.appendChild(entry.grid.el);
          box.appendChild(cell);
        }
        col.appendChild(box);
        if (part.legend) {
          const el = legend();
          legends.push([el, gi, pi]);
          col.appendChild(el);
        }
      });
      root.appendChild(col);
    });
    for (const [k, entry] of [...grids]) {
      if (seen.has(k)) continue;
      entry.grid.dispose();
      grids.delete(k);
    }
  }

  function apply() {
    const groups = model.get("groups") || [];
    const prefix = model.get("css_prefix") || "";
    const values = readFloats(model.get("data"));
    const relaid = groups !== groupsSeen;
    if (relaid) {
      // the layout (groups, parts, grid keys, heads, legends) decides the DOM
      const sig = JSON.stringify([
        prefix,
        groups.map((g) => [g.key, g.title, g.notes, g.symbol, g.parts.map((p) => [p.columns, p.legend, p.grids.map((s) => s.key)])]),
      ]);
      if (sig !== layoutSig) {
        build(groups, prefix);
        layoutSig = sig;
      }
      groupsSeen = groups;
    }
    for (const g of groups) {
      for (const part of g.parts) {
        for (const s of part.grids) {
          const entry = grids.get(keyStr(s.key));
          if (!entry) continue;
          const n = s.rows * s.cols;
          const slice = values.subarray(s.offset, s.offset + n);
          const ties = s.ties_offset >= 0 ? values.subarray(s.ties_offset, s.ties_offset + n) : null;
          const spec = relaid || !entry.spec ? { cmap: part.cmap, vmin: part.vmin, vmax: part.vmax, ...s } : entry.spec;
          const same =
            entry.spec &&
            (spec === entry.spec || JSON.stringify(spec) === JSON.stringify(entry.spec)) &&
            !differs(slice, entry.values) &&
            !differs(ties, entry.ties);
          if (same) continue;
          entry.spec = spec;
          entry.values = slice.slice();
          entry.ties = ties?.slice() ?? null;
          entry.grid.update(spec, slice, ties);
        }
      }
    }
    for (const [el, gi, pi] of legends) drawLegend(el, groups[gi].parts[pi]);
    frameNo += 1;
    root.dataset.frame = String(frameNo);
    root.dataset.update = String(model.get("update"));
    perf().frames.push(performance.now());
    channel.ack(model.get("ack")); // after the paint: the answer to a gesture is on screen
  }

  const onChange = oncePerTask(apply); // groups, data, update of one message: one paint
  const names = ["groups", "data", "css_prefix", "update", "ack"];
  for (const n of names) model.on(`change:${n}`, onChange);
  apply();
  return () => {
    for (const n of names) model.off(`change:${n}`, onChange);
  };
}

export default { render };
