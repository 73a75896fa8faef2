// The drawing brush: a round pen about three pixels wide (an MNIST stroke is 2-4 px on 28×28), and
// the cells between two pointer positions, so a fast one-stroke digit has no gaps.

// [dr, dc, strength]: full at the centre and its four neighbours, softer on the diagonals.
export const BRUSH = [
  [0, 0, 1],
  [-1, 0, 0.85],
  [1, 0, 0.85],
  [0, -1, 0.85],
  [0, 1, 0.85],
  [-1, -1, 0.45],
  [-1, 1, 0.45],
  [1, -1, 0.45],
  [1, 1, 0.45],
];

// Cells on the straight line from a to b (both [row, col]), ends included (Bresenham).
export function lineCells(a, b) {
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

// Paint the brush at each of `centres` into `ink` (a Map key → value, never lowering a value),
// returning the [row, col, value] cells it changed.
export function paintBrush(centres, rows, cols, value, ink, base) {
  const changed = new Map();
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
