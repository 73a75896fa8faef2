"""Layout helpers every lab shares: rows and panels that wrap instead of clipping in a narrow
notebook column, and section headings (styled by lab8.css)."""

from __future__ import annotations

from typing import Any

import ipywidgets as W

__all__ = ["panel", "row", "section"]


def row(
    *children: W.Widget, gap: str = "10px", align_items: str = "flex-start", **layout: Any
) -> W.HBox:
    """A row that wraps: in an 850 px notebook column its panels stack instead of being clipped."""
    style = {"flex_flow": "row wrap", "align_items": align_items, "gap": gap, **layout}
    return W.HBox(list(children), layout=W.Layout(**style))


def panel(*children: W.Widget, basis: str = "360px", min_width: str = "280px") -> W.VBox:
    """A column that grows from ``basis`` and shares a wrapping row with its neighbours."""
    return W.VBox(list(children), layout=W.Layout(flex=f"1 1 {basis}", min_width=min_width))


def section(text: str) -> W.HTML:
    """A section heading; ``text`` is HTML (``<code>`` allowed)."""
    return W.HTML(f'<div class="lab8-section">{text}</div>')
