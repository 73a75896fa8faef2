// One gesture channel per widget, between the page and Python.
//
// A drag step goes out at once when nothing is in flight (no wait for the next animation frame);
// while one is in flight, only the latest step per grid is kept and it goes out as soon as Python
// acknowledges (latest wins), so a fast drag never builds a queue in the kernel. Every message
// carries a sequence number `seq`; Python answers with the widget's `ack` trait, in the same
// message as the arrays that gesture changed. An ack that never comes (a busy or gone kernel)
// releases the channel after `timeout` ms.
import { CAP, perf } from "./perf.js";

let marks = 0;

// The browser's timeline is bounded like the traces: its edit marks are cleared every CAP marks.
function mark() {
  perf().edits.push(performance.now());
  marks += 1;
  if (marks % CAP === 0) performance.clearMarks("lab8-edit");
  performance.mark("lab8-edit");
}

export function createSender(send, { timeout = 500, now = () => performance.now() } = {}) {
  // seq starts at a random point, so two views of one widget rarely answer each other's messages
  let seq = Math.floor(Math.random() * 2 ** 30);
  let inflight = 0; // seq of the newest message not yet acknowledged, 0 when none
  let sentAt = 0;
  let timer = 0;
  const pending = new Map(); // grid key → its latest queued message
  const idle = new Set(); // callbacks run when nothing is in flight or queued any more

  function post(msg, traced) {
    seq += 1;
    inflight = seq;
    sentAt = now();
    if (traced) mark();
    send({ ...msg, seq });
    return seq;
  }

  // a queued step waits at most `timeout` ms after the message in flight went out
  function arm() {
    if (timer) return;
    timer = setTimeout(
      () => {
        timer = 0;
        if (!inflight || !pending.size) return;
        if (now() - sentAt >= timeout) drain();
        else arm();
      },
      Math.max(1, timeout - (now() - sentAt)),
    );
  }

  function drain() {
    if (pending.size) {
      const [key, msg] = pending.entries().next().value;
      pending.delete(key);
      post(msg, true);
      return;
    }
    inflight = 0;
    for (const fn of idle) fn();
  }

  return {
    // a drag step of grid `key`: now if the channel is free, else it replaces that grid's queued step
    queue(key, msg) {
      if (inflight && now() - sentAt > timeout) inflight = 0; // no answer: don't wait for ever
      if (!inflight) {
        post(msg, true);
        return;
      }
      pending.set(key, msg);
      arm();
    },
    // a message that must not be dropped or delayed (a click, the end of a stroke, a typed value)
    send(msg) {
      return post(msg, false);
    },
    // forget grid `key`'s queued step (its final message supersedes it)
    drop(key) {
      pending.delete(key);
    },
    // Python handled message `s` (and every earlier one of this view)
    ack(s) {
      if (inflight && s >= inflight) drain();
    },
    busy() {
      return inflight !== 0 || pending.size > 0;
    },
    onIdle(fn) {
      idle.add(fn);
      return () => idle.delete(fn);
    },
  };
}
