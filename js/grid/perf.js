// Performance traces the benchmarks read (globalThis.__lab8), bounded: each list keeps only the
// last CAP entries, so a long session never grows memory.
export const CAP = 2000;

export class Ring {
  constructor(cap = CAP) {
    this.cap = cap;
    this.items = [];
    this.start = 0; // index of the oldest entry once the ring is full
  }
  push(v) {
    if (this.items.length < this.cap) {
      this.items.push(v);
    } else {
      this.items[this.start] = v; // overwrite the oldest: O(1), no shifting of the whole list
      this.start = (this.start + 1) % this.cap;
    }
    return this.items.length;
  }
  get length() {
    return this.items.length;
  }
  toArray() {
    return this.items.slice(this.start).concat(this.items.slice(0, this.start));
  }
}

export function perf() {
  if (!globalThis.__lab8) globalThis.__lab8 = { edits: new Ring(), paints: new Ring(), frames: new Ring() };
  return globalThis.__lab8;
}
