import assert from "node:assert/strict";
import { test } from "node:test";
import { colorFor } from "../grid/colors.js";

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
