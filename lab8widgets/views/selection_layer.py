"""SelectionLayer: a large LinkedScatter's selection, drawn as dots on a canvas over its figure.

Why not a bqplot mark: bqplot redraws a Lines or Scatter mark through a d3 transition even at
duration 0 (the whole path string parsed and rebuilt), and Chromium then lays out, pre-paints and
hit-tests the changed SVG. With thousands of selected points that cost 25-30 ms a brush in the
EmbeddingExplorer, more than the rest of the gesture (``benchmarks/explorer_latency.py``). Here a
selection is one message of int32 indices and one canvas pass; the figure's SVG does not change.

The page places each point where bqplot draws it: the figure's Scatter dots at the extremes in x
and y (``anchors``) give each axis's map, read again whenever bqplot moves its dots
(``js/scatter/index.js``). The canvas lets the pointer through to the figure (lab8.css).

With ``hover`` on (brush and lasso modes, where bqplot's selector covers the plot and its own
tooltips never show), the layer shows the name of the point under the pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anywidget
import numpy as np
import traitlets

STATIC = Path(__file__).resolve().parent.parent / "static"


class SelectionLayer(anywidget.AnyWidget):
    """Dots for the points ``shown`` (indices into the points set by ``set_points``), each in its
    colour, ``radius`` pixels wide; nothing is drawn while ``shown`` is empty."""

    _esm = STATIC / "scatter.js"

    xy = traitlets.Bytes(b"").tag(sync=True)  # float64 pairs (x, y), one per point
    codes = traitlets.Bytes(b"").tag(sync=True)  # uint8 colour index per point (empty: colour 0)
    colors = traitlets.List(traitlets.Unicode(), default_value=["#1f77b4"]).tag(sync=True)
    anchors = traitlets.List(traitlets.Int()).tag(sync=True)  # points at min x, max x, min y, max y
    x_log = traitlets.Bool(False).tag(sync=True)
    y_log = traitlets.Bool(False).tag(sync=True)
    radius = traitlets.Float(3.0).tag(sync=True)
    shown = traitlets.Bytes(b"").tag(sync=True)  # int32 indices of the points drawn
    names = traitlets.List(traitlets.Unicode()).tag(sync=True)  # each point's tooltip label
    hover = traitlets.Bool(False).tag(sync=True)  # tooltips from the layer (brush and lasso modes)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_class("lab8-scatter-overlay")

    def set_points(
        self,
        x: np.ndarray,
        y: np.ndarray,
        codes: np.ndarray | None,
        colors: Sequence[str],
        *,
        names: Sequence[str] = (),
        x_log: bool = False,
    ) -> None:
        """Every point of the view (the layer draws some of them), with its colour code and the
        name its tooltip shows."""
        x = np.asarray(x, dtype="<f8")
        y = np.asarray(y, dtype="<f8")
        with self.hold_sync():
            self.xy = np.stack([x, y], axis=1).tobytes() if len(x) else b""
            self.codes = (
                np.asarray(codes, dtype=np.int64).astype("u1").tobytes()
                if codes is not None
                else b""
            )
            self.colors = list(colors)
            self.x_log = bool(x_log)
            self.anchors = _anchors(x, y, x_log)
            self.names = [str(n) for n in names]

    def show(self, idx: np.ndarray) -> None:
        """Draw the points ``idx`` (empty: none)."""
        self.shown = np.asarray(idx, dtype="<i4").tobytes()

    @property
    def shown_index(self) -> np.ndarray:
        """The indices of the points drawn."""
        return np.frombuffer(self.shown, dtype="<i4").astype(np.int64)

    @property
    def points(self) -> np.ndarray:
        """The points as the layer has them: (n, 2) of x, y."""
        return np.frombuffer(self.xy, dtype="<f8").reshape(-1, 2)


def _anchors(x: np.ndarray, y: np.ndarray, x_log: bool) -> list[int]:
    """The points at the ends of each axis (finite, positive on a log axis): the page reads where
    bqplot drew them to map data to pixels. Empty when there is no such point."""
    okx = np.isfinite(x) & np.isfinite(y) & ((x > 0) if x_log else True)
    if not okx.any():
        return []
    ids = np.flatnonzero(okx)
    return [
        int(ids[np.argmin(x[ids])]),
        int(ids[np.argmax(x[ids])]),
        int(ids[np.argmin(y[ids])]),
        int(ids[np.argmax(y[ids])]),
    ]
