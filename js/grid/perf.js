// Performance traces the benchmarks read (globalThis.__lab8), bounded: each list keeps only the
// last CAP entries, so a long session never grows memory.
export const CAP = 2000;

export class Ring {
  constructor(cap = CAP) {
    this.cap = cap;
    this.items = [];
  }
  push(v) {
    this.items.push(v);
    if (this.items.length > this.cap) this.items.splice(0, this.items.length - this.cap);
    return this.items.length;
  }
  get length() {
    return this.items.length;
  }
  toArray() {
    return this.items.slice();
  }
}

export function perf() {
  if (!globalThis.__lab8) globalThis.__lab8 = { edits: new Ring(), paints: new Ring(), frames: new Ring() };
  return globalThis.__lab8;
}
