// Colour maps shared by every heatmap: a diverging blue-white-red map centred on zero for signed
// values (kernels, activations) and an ink-on-paper grey map for images.

const NEG = [33, 102, 172];
const MID = [247, 247, 247];
const POS = [178, 24, 43];

function mix(a, b, t, out) {
  out[0] = Math.round(a[0] + (b[0] - a[0]) * t);
  out[1] = Math.round(a[1] + (b[1] - a[1]) * t);
  out[2] = Math.round(a[2] + (b[2] - a[2]) * t);
  return out;
}

const MAGENTA = [255, 0, 255];

// A value's colour as numbers, written into `out` ([r, g, b]); returns whether text on it should be
// white. The painter fills an ImageData with these (no colour string per cell to build and parse).
export function rgbInto(out, v, lo, hi, cmap) {
  if (!Number.isFinite(v)) {
    out[0] = MAGENTA[0];
    out[1] = MAGENTA[1];
    out[2] = MAGENTA[2];
    return true;
  }
  if (cmap === "diverging") {
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const t = Math.max(-1, Math.min(1, v / m));
    if (t < 0) mix(MID, NEG, -t, out);
    else mix(MID, POS, t, out);
    return Math.abs(t) > 0.55;
  }
  const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0;
  const g = Math.round(255 * (1 - t));
  out[0] = g;
  out[1] = g;
  out[2] = g;
  return t > 0.55;
}

export function colorFor(v, lo, hi, cmap) {
  if (!Number.isFinite(v)) return ["#ff00ff", true];
  const rgb = [0, 0, 0];
  const dark = rgbInto(rgb, v, lo, hi, cmap);
  return [`rgb(${rgb[0]},${rgb[1]},${rgb[2]})`, dark];
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

// The same colour as numbers ([r, g, b] into `out`), for the painter's ImageData: CSS's hsl → rgb.
export function tieRgbInto(out, idx, n) {
  if (!(idx >= 0)) {
    out[0] = 236;
    out[1] = 236;
    out[2] = 236;
    return false;
  }
  const h = Number((((idx * 360) / Math.max(n, 1) + 200) % 360).toFixed(0)) / 360;
  const l = idx % 2 ? 0.68 : 0.76;
  const s = 0.7;
  const q = l < 0.5 ? l * (1 + s) : l + s - l * s;
  const p = 2 * l - q;
  const hue = (t) => {
    const u = t < 0 ? t + 1 : t > 1 ? t - 1 : t;
    if (u < 1 / 6) return p + (q - p) * 6 * u;
    if (u < 1 / 2) return q;
    if (u < 2 / 3) return p + (q - p) * (2 / 3 - u) * 6;
    return p;
  };
  out[0] = Math.round(255 * hue(h + 1 / 3));
  out[1] = Math.round(255 * hue(h));
  out[2] = Math.round(255 * hue(h - 1 / 3));
  return false;
}
