// Colour maps shared by every heatmap: a diverging blue-white-red map centred on zero for signed
// values (kernels, activations) and an ink-on-paper grey map for images.

const NEG = [33, 102, 172];
const MID = [247, 247, 247];
const POS = [178, 24, 43];

function mix(a, b, t) {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));
}

export function colorFor(v, lo, hi, cmap) {
  if (!Number.isFinite(v)) return ["#ff00ff", true];
  if (cmap === "diverging") {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const t = Math.max(-1, Math.min(1, v / m));
    const rgb = t < 0 ? mix(MID, NEG, -t) : mix(MID, POS, t);
    return [`rgb(${rgb[0]},${rgb[1]},${rgb[2]})`, Math.abs(t) > 0.55];
  }
  const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0;
  const g = Math.round(255 * (1 - t));
  return [`rgb(${g},${g},${g})`, t > 0.55];
}
