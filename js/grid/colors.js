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

// The colour scale of an array: given bounds win; otherwise a diverging map is symmetric about
// zero (so white always means 0) and a grey map spans [min(0, lowest), highest].
export function valueRange(values, vmin, vmax, cmap) {
  let lo = vmin;
  let hi = vmax;
  if (lo !== null && hi !== null) return [lo, hi];
  let amax = 0;
  let mn = Infinity;
  let mx = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    amax = Math.max(amax, Math.abs(v));
    mn = Math.min(mn, v);
    mx = Math.max(mx, v);
  }
  if (cmap === "diverging") {
    if (lo === null) lo = -(amax || 1);
    if (hi === null) hi = amax || 1;
  } else {
    if (lo === null) lo = Number.isFinite(mn) ? Math.min(mn, 0) : 0;
    if (hi === null) hi = Number.isFinite(mx) && mx > lo ? mx : lo + 1;
  }
  return [lo, hi];
}

// A cell's printed value: fixed decimals, and never "-0.00".
export function fmt(v, decimals) {
  if (!Number.isFinite(v)) return String(v);
  const s = v.toFixed(decimals);
  return s === `-${(0).toFixed(decimals)}` ? (0).toFixed(decimals) : s;
}

// A tied weight's colour in an unrolled matrix: one hue per kernel weight, grey for a structural zero.
export function tieColor(idx, n) {
  if (!(idx >= 0)) return ["rgb(236,236,236)", false];
  const hue = ((idx * 360) / Math.max(n, 1) + 200) % 360;
  return [`hsl(${hue.toFixed(0)},70%,${idx % 2 ? 68 : 76}%)`, false];
}
