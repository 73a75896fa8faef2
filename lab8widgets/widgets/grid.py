"""HeatmapGrid: the one front-end component the labs reuse for images, kernels and activations.

Values travel as a float32 binary buffer; gestures come back as custom messages
(``click``, ``edit``, ``draw``) that Python validates before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

STATIC = Path(__file__).resolve().parent.parent / "static"


class HeatmapGrid(anywidget.AnyWidget):
    """A heatmap of a 2-D array that reports clicks, vertical drags (edits), typed values and drawing."""

    _esm = STATIC / "grid.js"
    _css = STATIC / "grid.css"

    data = traitlets.Bytes(b"").tag(sync=True)
    shape = traitlets.List(traitlets.Int(), default_value=[0, 0]).tag(sync=True)
    title = traitlets.Unicode("").tag(sync=True)
    subtitle = traitlets.Unicode("").tag(sync=True)
    vmin = traitlets.Float(None, allow_none=True).tag(sync=True)
    vmax = traitlets.Float(None, allow_none=True).tag(sync=True)
    cmap = traitlets.Enum(["diverging", "gray"], default_value="diverging").tag(sync=True)
    cell = traitlets.Int(12).tag(sync=True)
    show_values = traitlets.Bool(False).tag(sync=True)
    decimals = traitlets.Int(1).tag(sync=True)
    editable = traitlets.Bool(False).tag(sync=True)
    drawable = traitlets.Bool(False).tag(sync=True)
    brush_value = traitlets.Float(1.0).tag(sync=True)
    step = traitlets.Float(0.1).tag(sync=True)
    highlight = traitlets.List(traitlets.List(traitlets.Int())).tag(sync=True)
    selected = traitlets.List(traitlets.Int()).tag(sync=True)

    def __init__(self, values: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._handlers: dict[str, list[Callable[..., Any]]] = {"click": [], "edit": [], "draw": []}
        if values is not None:
            self.values = values

    @traitlets.validate("cell")
    def _valid_cell(self, proposal):
        if not 2 <= proposal["value"] <= 80:
            raise traitlets.TraitError("cell must be between 2 and 80 pixels")
        return proposal["value"]

    @property
    def values(self) -> np.ndarray:
        """The displayed array (rows, cols), float32."""
        rows, cols = self.shape
        return np.frombuffer(self.data, dtype="<f4").reshape(rows, cols).copy()

    @values.setter
    def values(self, arr: Any) -> None:
        a = np.asarray(arr, dtype="<f4")
        if a.ndim != 2:
            raise ValueError(f"HeatmapGrid needs a 2-D array, got shape {a.shape}")
        with self.hold_sync():
            self.shape = [int(a.shape[0]), int(a.shape[1])]
            self.data = np.ascontiguousarray(a).tobytes()

    # --- gestures ------------------------------------------------------------------------------
    def on_click(self, fn: Callable[[int, int], Any]) -> None:
        """``fn(row, col)`` when the learner clicks a cell (the cell also becomes ``selected``)."""
        self._handlers["click"].append(fn)

    def on_edit(self, fn: Callable[[int, int, Any, bool], Any]) -> None:
        """``fn(row, col, value, done)`` while a cell is dragged or a value typed; value may be text."""
        self._handlers["edit"].append(fn)

    def on_draw(self, fn: Callable[[list[tuple[int, int, float]], bool], Any]) -> None:
        """``fn(cells, done)`` with the cells painted so far in one stroke."""
        self._handlers["draw"].append(fn)

    def _handle_custom_msg(self, content: dict, buffers=None) -> None:
        """ipywidgets routes the front end's ``model.send`` here (tests call it the same way).

        A malformed message from a stale front end is ignored, never raised into the kernel; only
        the parsing is guarded, so an error in a handler is not swallowed here.
        """
        if not isinstance(content, dict):
            return
        event = content.get("event")
        done = bool(content.get("done", False))
        try:
            if event == "draw":
                args: tuple = (
                    [(int(r), int(c), float(v)) for r, c, v in content.get("cells", [])],
                )
            elif event in ("click", "edit"):
                args = (int(content["row"]), int(content["col"]))
            else:
                return
        except (KeyError, TypeError, ValueError):
            return
        if event == "click":
            self.selected = list(args)
            for fn in self._handlers["click"]:
                fn(*args)
        elif event == "edit":
            for fn in self._handlers["edit"]:
                fn(*args, content.get("value"), done)
        else:
            for fn in self._handlers["draw"]:
                fn(*args, done)
