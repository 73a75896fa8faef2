"""Small layout helpers the EntityLab panels share (no lab knowledge)."""

from __future__ import annotations

import html

import ipywidgets as W
import numpy as np

from ...views import LinkedScatter

__all__ = ["labelled", "note", "vec", "wrap"]


def labelled(view: LinkedScatter) -> LinkedScatter:
    """Points named on the plot (LinkedScatter shows names only in its tooltip)."""
    view.mark.display_names = True
    view.mark.label_display_horizontal_offset = 6
    view.mode = "click"
    margin = view.figure.fig_margin
    # room for the labels of edge points (a label sits right of its dot) and the axis labels
    view.figure.fig_margin = {**margin, "right": 44, "left": max(margin.get("left", 0), 64)}
    return view


def wrap() -> W.Layout:
    return W.Layout(flex_flow="row wrap", gap="12px", align_items="flex-start", width="100%")


def note(text: str, raw: bool = False) -> str:
    return f'<div class="lab8-note">{text if raw else html.escape(text)}</div>'


def vec(v: np.ndarray, n: int = 6) -> str:
    shown = ", ".join(f"{x:+.4f}" for x in v[:n])
    return f"[{shown}{', …' if len(v) > n else ''}]"
