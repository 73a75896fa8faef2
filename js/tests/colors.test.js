import assert from "node:assert/strict";
import { test } from "node:test";
import { colorFor, fmt, valueRange } from "../grid/colors.js";

test("diverging map is white at zero and symmetric", () => {
  assert.equal(colorFor(0, -1, 1, "diverging")[0], "rgb(247,247,247)");
  assert.equal(colorFor(1, -1, 1, "diverging")[0], "rgb(178,24,43)");
  assert.equal(colorFor(-1, -1, 1, "diverging")[0], "rgb(33,102,172)");
  // centred on zero even when the range is lopsided
  assert.equal(colorFor(0, -0.1, 5, "diverging")[0], "rgb(247,247,247)");
});

test("grey map is ink on paper and clamps", () => {
  assert.equal(colorFor(0, 0, 1, "gray")[0], "rgb(255,255,255)");
  assert.equal(colorFor(1, 0, 1, "gray")[0], "rgb(0,0,0)");
  assert.equal(colorFor(7, 0, 1, "gray")[0], "rgb(0,0,0)");
});

test("non-finite values are flagged in magenta", () => {
  assert.equal(colorFor(Number.NaN, 0, 1, "gray")[0], "#ff00ff");
});

test("auto range is symmetric about zero for signed maps", () => {
  assert.deepEqual(valueRange([-0.5, 2, Number.NaN], null, null, "diverging"), [-2, 2]);
  assert.deepEqual(valueRange([0, 0], null, null, "diverging"), [-1, 1]);
  assert.deepEqual(valueRange([0.2, 0.9], null, null, "gray"), [0, 0.9]);
  assert.deepEqual(valueRange([3, 4], 0, 1, "gray"), [0, 1]);
});

test("printed values never show minus zero", () => {
  assert.equal(fmt(-0.001, 2), "0.00");
  assert.equal(fmt(-1.234, 2), "-1.23");
  assert.equal(fmt(Number.POSITIVE_INFINITY, 2), "Infinity");
});
