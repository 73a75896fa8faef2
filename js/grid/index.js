// HeatmapGrid: one canvas heatmap whose array arrives from Python as a float32 buffer; gestures go
// back as custom messages (click, edit, draw). Painting happens once per message, after all of its
// trait changes, in the next animation frame.

import { createGrid } from "./painter.js";

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

export function readFloats(dv) {
  if (!dv) return new Float32Array(0);
  const buf = dv.buffer ? dv.buffer.slice(dv.byteOffset, dv.byteOffset + dv.byteLength) : dv;
  return new Float32Array(buf);
}

function render({ model, el }) {
  const grid = createGrid((msg) => model.send(msg));
  el.appendChild(grid.el);
  function paint() {
    const [rows, cols] = model.get("shape");
    const spec = { rows, cols };
    for (const n of SPEC) spec[n] = model.get(n);
    const values = readFloats(model.get("data"));
    grid.update(spec, values.length === rows * cols ? values : new Float32Array(rows * cols));
  }
  let scheduled = false;
  const onChange = () => {
    if (scheduled) return;
    scheduled = true;
    queueMicrotask(() => {
      scheduled = false;
      paint();
    });
  };
  const names = ["data", ...SPEC];
  for (const n of names) model.on(`change:${n}`, onChange);
  paint();
  return () => {
    for (const n of names) model.off(`change:${n}`, onChange);
  };
}

export default { render };
