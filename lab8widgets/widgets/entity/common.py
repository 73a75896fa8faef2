"""Small layout helpers the EntityLab panels share (no lab knowledge)."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from ...views import LinkedScatter
from ...views.ticks import linear_ticks, nice_range

__all__ = ["fit_domain", "labelled", "note", "vec", "wrap"]


def labelled(view: LinkedScatter) -> LinkedScatter:
    """Points named on the plot (LinkedScatter shows names only in its tooltip)."""
    view.mark.display_names = True
    view.mark.label_display_horizontal_offset = 6
    view.mode = "click"
    margin = view.figure.fig_margin
    view.figure.fig_margin = {**margin, "right": 24, "left": max(margin.get("left", 0), 72)}
    view.y_axis.label_offset = "7ex"  # the axis name clear of tick labels such as "-200"
    return view


def fit_domain(view: LinkedScatter, x, y, label_room: float = 0.22, pad: float = 0.08) -> None:
    """Scales that hold every point with its name: ``pad`` of the span around the points and
    ``label_room`` on the right, where a name sits beside its dot (so BE, SN or Tue stay whole)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not len(x) or not (np.isfinite(x).all() and np.isfinite(y).all()):
        return
    xs, ys = float(np.ptp(x)) or 1.0, float(np.ptp(y)) or 1.0
    x_lo, x_hi, x_step = nice_range(x.min() - pad * xs, x.max() + label_room * xs)
    y_lo, y_hi, y_step = nice_range(y.min() - pad * ys, y.max() + pad * ys)
    with view.x_scale.hold_sync():
        view.x_scale.min, view.x_scale.max = x_lo, x_hi
    with view.y_scale.hold_sync():
        view.y_scale.min, view.y_scale.max = y_lo, y_hi
    # the ticks themselves: left to the page, bqplot spaced them by pixels (433.25, 216.62)
    view.x_axis.tick_values = linear_ticks(x_lo, x_hi, x_step)
    view.y_axis.tick_values = linear_ticks(y_lo, y_hi, y_step)


def wrap() -> W.Layout:
    return W.Layout(flex_flow="row wrap", gap="12px", align_items="flex-start", width="100%")


def note(text: str, raw: bool = False) -> str:
    return f'<div class="lab8-note">{text if raw else html.escape(text)}</div>'


def vec(v: np.ndarray, n: int = 6) -> str:
    shown = ", ".join(f"{x:+.4f}" for x in v[:n])
    return f"[{shown}{', …' if len(v) > n else ''}]"
