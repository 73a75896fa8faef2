// HeatmapGrid: one canvas heatmap whose array arrives from Python as a float32 buffer; gestures go
// back as custom messages (click, edit, draw) through one gesture channel (sender.js). Painting
// happens once per message, after all of its trait changes, in the same task (so the same frame).

import { createGrid } from "./painter.js";
import { createSender } from "./sender.js";

const SPEC = [
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
  "brush_value",
];

// One message sets several traits at once: run `fn` once after all of them, in the same task, so
// everything the message changed shows in the same animation frame (waiting for the next
// requestAnimationFrame would add up to a frame of latency to every drag step).
export function oncePerTask(fn) {
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

// a binary trait (a DataView from anywidget, or a buffer) as a typed array of its own copy
export function readTyped(dv, Type) {
  if (!dv || !dv.byteLength) return new Type(0);
  const buf = dv.buffer ? dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength) : dv;
  return new Type(buf);
}

export function readFloats(dv) {
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
    channel.ack(model.get("ack")); // after the paint: the answer to a gesture is on screen
  }
  const onChange = oncePerTask(paint);
  const names = ["data", "ack", ...SPEC];
  for (const n of names) model.on(`change:${n}`, onChange);
  paint();
  return () => {
    for (const n of names) model.off(`change:${n}`, onChange);
  };
}

export default { render };
