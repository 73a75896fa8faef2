import assert from "node:assert/strict";
import { test } from "node:test";
import { colorFor, rgbInto, tieColor, tieRgbInto } from "../grid/colors.js";
import { createSender } from "../grid/sender.js";

function channel(opts = {}) {
  const sent = [];
  let t = 0;
  const ch = createSender((m) => sent.push(m), { now: () => t, ...opts });
  return { ch, sent, at: (v) => (t = v) };
}

test("a drag step goes out at once when nothing is in flight", () => {
  const { ch, sent } = channel();
  ch.queue("k", { event: "edit", value: 1 });
  assert.equal(sent.length, 1);
  assert.equal(sent[0].value, 1);
  assert.ok(Number.isInteger(sent[0].seq));
  assert.ok(ch.busy());
});

test("while one is in flight only the latest step waits, and goes out on the ack", () => {
  const { ch, sent } = channel();
  ch.queue("k", { value: 1 });
  for (let v = 2; v <= 10; v++) ch.queue("k", { value: v }); // a fast drag: 9 steps in flight time
  assert.equal(sent.length, 1); // no queue builds up
  ch.ack(sent[0].seq - 1); // an older answer releases nothing
  assert.equal(sent.length, 1);
  ch.ack(sent[0].seq);
  assert.deepEqual(
    sent.map((m) => m.value),
    [1, 10],
  ); // latest wins
  assert.equal(sent[1].seq, sent[0].seq + 1);
  let idle = 0;
  ch.onIdle(() => (idle += 1));
  ch.ack(sent[1].seq);
  assert.equal(idle, 1);
  assert.ok(!ch.busy());
});

test("each grid keeps its own latest step; a final message can drop a queued one", () => {
  const { ch, sent } = channel();
  ch.queue("a", { g: "a", v: 1 });
  ch.queue("a", { g: "a", v: 2 });
  ch.queue("b", { g: "b", v: 1 });
  ch.drop("a");
  ch.send({ g: "a", done: true }); // never held back
  assert.deepEqual(
    sent.map((m) => [m.g, m.v ?? m.done]),
    [
      ["a", 1],
      ["a", true],
    ],
  );
  ch.ack(sent[1].seq);
  assert.deepEqual(sent.at(-1), { g: "b", v: 1, seq: sent[1].seq + 1 });
});

test("an answer that never comes does not stall the drag", async () => {
  const { ch, sent, at } = channel({ timeout: 20 });
  ch.queue("k", { v: 1 });
  ch.queue("k", { v: 2 });
  at(5);
  ch.queue("k", { v: 3 }); // still waiting
  assert.equal(sent.length, 1);
  at(25);
  ch.queue("k", { v: 4 }); // past the timeout: goes at once
  assert.deepEqual(
    sent.map((m) => m.v),
    [1, 4],
  );
  ch.queue("k", { v: 5 });
  at(60);
  await new Promise((r) => setTimeout(r, 40)); // and a waiting step leaves by itself
  assert.deepEqual(
    sent.map((m) => m.v),
    [1, 4, 5],
  );
});

test("the painter's numeric colours are the colour strings' colours", () => {
  const rgb = [0, 0, 0];
  for (const cmap of ["diverging", "gray"]) {
    for (const v of [-3, -1, -0.37, 0, 0.2, 0.55, 0.9, 1, 4, Number.NaN]) {
      const dark = rgbInto(rgb, v, -1, 1, cmap);
      const [css, cssDark] = colorFor(v, -1, 1, cmap);
      const want = Number.isFinite(v) ? `rgb(${rgb.join(",")})` : "#ff00ff";
      assert.equal(css, want, `${cmap} ${v}`);
      assert.equal(dark, cssDark);
    }
  }
  // hsl(200,70%,76%) and hsl(240,70%,68%) as Chromium paints them (checked with getImageData)
  tieRgbInto(rgb, 0, 9);
  assert.deepEqual(rgb, [151, 208, 237]);
  assert.match(tieColor(0, 9)[0], /^hsl\(200,70%,76%\)$/);
  tieRgbInto(rgb, 1, 9);
  assert.deepEqual(rgb, [116, 116, 231]);
  tieRgbInto(rgb, -1, 9);
  assert.deepEqual(rgb, [236, 236, 236]);
});
