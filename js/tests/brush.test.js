import assert from "node:assert/strict";
import { test } from "node:test";
import { BRUSH, lineCells, paintBrush } from "../grid/brush.js";
import { tieColor } from "../grid/colors.js";
import { Ring, perf } from "../grid/perf.js";

test("a line between two pointer cells has no gaps", () => {
  const cells = lineCells([2, 3], [9, 6]);
  assert.deepEqual(cells[0], [2, 3]);
  assert.deepEqual(cells.at(-1), [9, 6]);
  for (let i = 1; i < cells.length; i++) {
    const [a, b] = [cells[i - 1], cells[i]];
    assert.ok(Math.abs(a[0] - b[0]) <= 1 && Math.abs(a[1] - b[1]) <= 1);
  }
  assert.deepEqual(lineCells([4, 4], [4, 4]), [[4, 4]]);
});

test("the brush is about three pixels wide and never lowers ink", () => {
  const ink = new Map();
  const cells = paintBrush([[5, 5]], 28, 28, 1, ink, () => 0);
  assert.equal(cells.length, BRUSH.length);
  const at = (r, c) => ink.get(r * 28 + c);
  assert.equal(at(5, 5), 1);
  assert.ok(at(4, 5) >= 0.8 && at(5, 6) >= 0.8 && at(6, 5) >= 0.8);
  // a horizontal stroke is 3 rows thick, full strength in its middle row
  const stroke = paintBrush(lineCells([10, 2], [10, 20]), 28, 28, 1, new Map(), () => 0);
  const rows = new Set(stroke.map(([r]) => r));
  assert.deepEqual([...rows].sort((a, b) => a - b), [9, 10, 11]);
  // existing ink is kept where the brush is weaker
  const ink2 = new Map([[4 * 28 + 4, 0.9]]);
  paintBrush([[5, 5]], 28, 28, 1, ink2, () => 0);
  assert.equal(ink2.get(4 * 28 + 4), 0.9);
  // edges are clipped
  assert.ok(paintBrush([[0, 0]], 28, 28, 1, new Map(), () => 0).every(([r, c]) => r >= 0 && c >= 0));
});

test("tied weights share a colour, zeros are grey", () => {
  assert.equal(tieColor(-1, 9)[0], "rgb(236,236,236)");
  assert.equal(tieColor(3, 9)[0], tieColor(3, 9)[0]);
  assert.notEqual(tieColor(3, 9)[0], tieColor(4, 9)[0]);
});

test("performance traces are bounded ring buffers", () => {
  const r = new Ring(5);
  for (let i = 0; i < 12; i++) r.push(i);
  assert.equal(r.length, 5);
  assert.deepEqual(r.toArray(), [7, 8, 9, 10, 11]);
  const p = perf();
  for (let i = 0; i < 5000; i++) p.paints.push(i);
  assert.ok(p.paints.length <= 2000);
});
