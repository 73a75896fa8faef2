import assert from "node:assert/strict";
import { test } from "node:test";
import { readTyped } from "../grid/index.js";
import { byColour, dotMask, fitAxis, hexRgb, nearest, stampDot } from "../scatter/index.js";

test("an axis map through two anchor dots, linear and log", () => {
  const [a, b] = fitAxis(0, 10, 50, 150, false);
  assert.equal(a * 5 + b, 100);
  const [la, lb] = fitAxis(1, 1000, 0, 300, true); // one decade: 100 px
  assert.equal(Math.round(la * Math.log10(10) + lb), 100);
  assert.deepEqual(fitAxis(3, 3, 42, 99, false), [0, 42]); // one distinct value: all at the anchor
  assert.deepEqual(fitAxis(0, 10, 5, 9, true), [0, 5]); // log of 0: no map, not NaN
});

test("shown points grouped by colour code, in order", () => {
  const groups = byColour(Int32Array.from([4, 0, 2, 3]), Uint8Array.from([1, 0, 1, 0, 1]));
  assert.deepEqual([...groups.entries()], [
    [1, [4, 0, 2]],
    [0, [3]],
  ]);
  assert.deepEqual([...byColour([2, 1], new Uint8Array(0)).entries()], [[0, [2, 1]]]);
});

test("a dot covers its centre fully and fades at its edge", () => {
  const m = dotMask(3);
  const at = (dx, dy) => m.a[(dy + m.h) * m.side + dx + m.h];
  assert.equal(at(0, 0), 1);
  assert.equal(at(3, 0), 0.5); // the edge pixel, half covered
  assert.equal(at(m.h, m.h), 0); // the box's corner: outside
});

test("stamped dots blend over each other and stay inside the image", () => {
  const image = { width: 8, height: 8, data: new Uint8ClampedArray(8 * 8 * 4) };
  const m = dotMask(2);
  stampDot(image, 0, 0, m, [255, 0, 0]); // in a corner: clipped, no throw
  const px = (x, y) => Array.from(image.data.slice((y * 8 + x) * 4, (y * 8 + x) * 4 + 4));
  assert.deepEqual(px(0, 0), [255, 0, 0, 255]);
  assert.deepEqual(px(7, 7), [0, 0, 0, 0]);
  stampDot(image, 0, 0, m, [0, 0, 255]); // on top: the new colour wins where it covers fully
  assert.deepEqual(px(0, 0), [0, 0, 255, 255]);
  const edge = px(2, 0); // half covered twice: opaque enough, a mix
  assert.ok(edge[3] > 150 && edge[2] > edge[0]);
});

test("colours and buffers from Python", () => {
  assert.deepEqual(hexRgb("#1f77b4"), [31, 119, 180]);
  assert.deepEqual(hexRgb("not a colour"), [31, 119, 180]);
  const f = Float64Array.from([1.5, -2]);
  const view = new DataView(f.buffer);
  assert.deepEqual(Array.from(readTyped(view, Float64Array)), [1.5, -2]);
  assert.equal(readTyped(null, Int32Array).length, 0);
});

test("the point under the pointer: nearest within reach, the later one on a tie", () => {
  const xy = Float64Array.from([0, 0, 10, 0, 10, 0, 100, 100]);
  const map = { ax: 1, bx: 5, ay: 1, by: 5 }; // pixels = data + 5
  assert.equal(nearest(xy, map, false, false, 6, 5, 3), 0);
  assert.equal(nearest(xy, map, false, false, 15, 6, 3), 2); // 1 and 2 coincide: the top one
  assert.equal(nearest(xy, map, false, false, 50, 50, 3), -1); // nothing within 3 px
  const logMap = { ax: 100, bx: 0, ay: 1, by: 0 }; // one decade: 100 px
  assert.equal(nearest(Float64Array.from([1, 0, 10, 0]), logMap, true, false, 99, 0, 3), 1);
});
