"""Heatmaps on canvases, with no lesson knowledge: images, kernels, activations, matrices.

* :class:`HeatmapGrid`: one 2-D array in one widget.
* :class:`HeatmapStack`: many grids in one widget, in titled groups whose parts share one colour
  scale (and can show its legend). Every change made inside ``with stack.batch():`` travels as one
  message and the page paints it in one animation frame: a kernel drag that changes a whole conv
  chain is one message, not one per heatmap.

Values travel as float32 buffers. Gestures come back as custom messages through ``on_msg``
(``click``, ``edit`` — a drag step or a typed value —, ``draw``); a stack's carry the grid's key,
a tuple, given back as a tuple. Python validates before anything changes: the grids never change
their own data.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets

__all__ = ["HeatmapGrid", "HeatmapStack", "nice_limit"]

STATIC = Path(__file__).resolve().parent.parent / "static"
Key = tuple[Hashable, ...]


def nice_limit(v: float, floor: float = 0.0) -> float:
    """A round colour-scale limit ≥ v (1, 1.5, 2, 3, 4, 5, 6, 8 × 10^k): steady while a drag nudges v."""
    import math

    v = max(float(v), floor)
    if not math.isfinite(v) or v <= 0:
        return 1.0
    e = math.floor(math.log10(v))
    for m in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if m * 10.0**e >= v * (1 - 1e-9):
            return m * 10.0**e
    return 10.0 ** (e + 1)


def _gesture(content: Any) -> tuple[str, tuple, bool] | None:
    """(event, args, done) from a front-end message, or None for a malformed one (a stale page)."""
    if not isinstance(content, dict):
        return None
    event = content.get("event")
    done = bool(content.get("done", False))
    try:
        if event == "draw":
            args: tuple = ([(int(r), int(c), float(v)) for r, c, v in content.get("cells", [])],)
        elif event in ("click", "edit"):
            args = (int(content["row"]), int(content["col"]))
        else:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return event, args, done


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
        self.on_msg(self._on_front_msg)
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

    def _on_front_msg(self, _widget, content: Any, _buffers=None) -> None:
        """The front end's ``model.send``: parsed here, malformed ones ignored; handlers not guarded."""
        g = _gesture(content)
        if g is None:
            return
        event, args, done = g
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


_GRID_PROPS = {
    "title": "",
    "subtitle": "",
    "cell": 12,
    "show_values": False,
    "decimals": 1,
    "editable": False,
    "drawable": False,
    "brush_value": 1.0,
    "step": 0.1,
    "highlight": [],
    "selected": [],
    "n_ties": 0,
}
_PART_PROPS = {"cmap": "diverging", "vmin": None, "vmax": None, "columns": 1, "legend": False}


class HeatmapStack(anywidget.AnyWidget):
    """Titled groups of heatmaps in one widget; the grids of one part share a colour scale.

    ``stack.set_layout(groups)`` gives the structure: each group is a dict
    ``{"key": str, "title": str, "notes": [str], "symbol": str, "parts": [part, ...]}`` and each
    part ``{"grids": [{"key": tuple, **grid props}], "cmap", "vmin", "vmax", "columns", "legend"}``.
    ``stack.set(key, values, **props)`` and ``stack.set_scale(group, part, vmin, vmax)`` change it;
    inside ``with stack.batch():`` all changes go to the page as one message.
    """

    _esm = STATIC / "stack.js"
    _css = STATIC / "grid.css"

    groups = traitlets.List(traitlets.Dict()).tag(sync=True)
    data = traitlets.Bytes(b"").tag(sync=True)
    css_prefix = traitlets.Unicode("").tag(sync=True)
    update = traitlets.Int(0).tag(sync=True)  # counts the messages that changed something

    def __init__(self, groups: Iterable[dict] = (), css_prefix: str = "", **kwargs: Any):
        super().__init__(css_prefix=css_prefix, **kwargs)
        self._layout: list[dict] = []
        self._arrays: dict[Key, np.ndarray] = {}
        self._ties: dict[Key, np.ndarray] = {}
        self._props: dict[Key, dict[str, Any]] = {}
        self._version: dict[Key, int] = {}
        self._depth = 0
        self._dirty = False
        self._handlers: dict[str, list[Callable[..., Any]]] = {"click": [], "edit": [], "draw": []}
        self.on_msg(self._on_front_msg)
        if groups:
            self.set_layout(groups)

    # --- structure -------------------------------------------------------------------------------
    def set_layout(self, groups: Iterable[dict]) -> None:
        """Replace the groups; grids keep their values and props when their key stays."""
        layout = []
        for g in groups:
            parts = []
            for p in g.get("parts", []):
                keys = []
                for spec in p["grids"]:
                    key = tuple(spec["key"])
                    keys.append(key)
                    props = self._props.setdefault(key, dict(_GRID_PROPS))
                    props.update({k: v for k, v in spec.items() if k != "key"})
                    self._bump(key)
                parts.append(
                    {**_PART_PROPS, **{k: v for k, v in p.items() if k != "grids"}, "grids": keys}
                )
            layout.append(
                {
                    "key": str(g.get("key", "")),
                    "title": g.get("title", ""),
                    "notes": [n for n in g.get("notes", []) if n],
                    "symbol": g.get("symbol", ""),
                    "parts": parts,
                }
            )
        self._layout = layout
        keep = set(self.grid_keys)
        for store in (self._arrays, self._ties, self._props, self._version):
            for k in [k for k in store if k not in keep]:
                del store[k]
        self._changed()

    @property
    def grid_keys(self) -> list[Key]:
        """Every grid's key, in the order shown."""
        return [k for g in self._layout for p in g["parts"] for k in p["grids"]]

    # --- values and props -----------------------------------------------------------------------
    def set(self, key: Iterable, values: Any = None, ties: Any = None, **props: Any) -> None:
        """New values (a 2-D array) and/or props (title, cell, highlight, selected …) for one grid.

        ``ties``: an integer array like ``values`` naming which shared weight each cell is (-1: a
        structural zero), shown as one colour per weight (an unrolled convolution's matrix).
        """
        key = tuple(key)
        if key not in self._props:
            raise KeyError(f"no grid {key!r} in this stack")
        if values is not None:
            a = np.asarray(values, dtype="<f4")
            if a.ndim != 2:
                raise ValueError(f"a heatmap needs a 2-D array, got shape {a.shape}")
            self._arrays[key] = a.copy()
        if ties is not None:
            t = np.asarray(ties)
            self._ties[key] = t.astype("<f4")
            props.setdefault("n_ties", int(t.max(initial=-1)) + 1)
        changed = {k: v for k, v in props.items() if self._props[key].get(k) != v}
        for k in changed:
            if k not in _GRID_PROPS:
                raise TypeError(
                    f"unknown heatmap property {k!r}; expected one of {sorted(_GRID_PROPS)}"
                )
        self._props[key].update(changed)
        if values is not None or ties is not None or changed:
            self._bump(key)
            self._changed()

    def set_scale(self, group: str, part: int = 0, **scale: Any) -> None:
        """The colour scale (``vmin``, ``vmax``, ``cmap``) shared by one part of a group."""
        p = self._group(group)["parts"][part]
        if any(p.get(k) != v for k, v in scale.items()):
            p.update(scale)
            for key in p["grids"]:
                self._bump(key)
            self._changed()

    def values(self, key: Iterable) -> np.ndarray:
        """The array grid ``key`` shows (float32 copy)."""
        key = tuple(key)
        if key not in self._props:
            raise KeyError(f"no grid {key!r} in this stack")
        return self._arrays.get(key, np.zeros((0, 0), "<f4")).copy()

    def ties(self, key: Iterable) -> np.ndarray | None:
        """The tie indices shown on grid ``key`` (None when it shows plain values)."""
        t = self._ties.get(tuple(key))
        return None if t is None else t.astype(np.int64)

    def props(self, key: Iterable) -> dict[str, Any]:
        """Grid ``key``'s props (cell, title, highlight, selected …) and its part's scale, as shown."""
        key = tuple(key)
        for g in self._layout:
            for p in g["parts"]:
                if key in p["grids"]:
                    scale = {k: p[k] for k in ("cmap", "vmin", "vmax")}
                    return {**self._props[key], **scale, "shape": list(self.values(key).shape)}
        raise KeyError(f"no grid {key!r} in this stack")

    def scale(self, group: str, part: int = 0) -> tuple[float | None, float | None]:
        p = self._group(group)["parts"][part]
        return p["vmin"], p["vmax"]

    @contextmanager
    def batch(self):
        """Every change inside goes to the page as one message (painted in one frame)."""
        self._depth += 1
        try:
            yield self
        finally:
            self._depth -= 1
            if self._depth == 0 and self._dirty:
                self._sync()

    def _group(self, key: str) -> dict:
        for g in self._layout:
            if g["key"] == key:
                return g
        raise KeyError(f"no group {key!r} in this stack")

    def _bump(self, key: Key) -> None:
        self._version[key] = self._version.get(key, 0) + 1

    def _changed(self) -> None:
        self._dirty = True
        if self._depth == 0:
            self._sync()

    def _sync(self) -> None:
        """Send the layout, per-grid props and one buffer with every grid's values."""
        self._dirty = False
        chunks: list[np.ndarray] = []
        offset = 0
        groups = []
        for g in self._layout:
            parts = []
            for p in g["parts"]:
                grids = []
                for key in p["grids"]:
                    a = self._arrays.get(key, np.zeros((0, 0), "<f4"))
                    spec = {**self._props[key], "key": list(key), "v": self._version.get(key, 0)}
                    spec.update(rows=int(a.shape[0]), cols=int(a.shape[1]), offset=offset)
                    chunks.append(a.reshape(-1))
                    offset += a.size
                    t = self._ties.get(key)
                    if t is not None and t.shape == a.shape:
                        spec["ties_offset"] = offset
                        chunks.append(t.reshape(-1))
                        offset += t.size
                    else:
                        spec["ties_offset"] = -1
                    grids.append(spec)
                parts.append({**p, "grids": grids})
            groups.append({**g, "parts": parts})
        data = np.concatenate(chunks).astype("<f4").tobytes() if chunks else b""
        with self.hold_sync():
            self.groups = groups
            self.data = data
            self.update += 1

    # --- gestures ------------------------------------------------------------------------------
    def on_click(self, fn: Callable[[Key, int, int], Any]) -> None:
        """``fn(key, row, col)`` when a cell of grid ``key`` is clicked (it becomes ``selected``)."""
        self._handlers["click"].append(fn)

    def on_edit(self, fn: Callable[[Key, int, int, Any, bool], Any]) -> None:
        """``fn(key, row, col, value, done)`` while an editable cell is dragged or a value typed."""
        self._handlers["edit"].append(fn)

    def on_draw(self, fn: Callable[[Key, list[tuple[int, int, float]], bool], Any]) -> None:
        """``fn(key, cells, done)`` with the cells painted so far in one stroke on a drawable grid."""
        self._handlers["draw"].append(fn)

    def _on_front_msg(self, _widget, content: Any, _buffers=None) -> None:
        g = _gesture(content)
        if g is None or not isinstance(content.get("key"), list):
            return
        key = tuple(content["key"])
        if key not in self._props:
            return  # a grid the page still showed after a re-layout
        event, args, done = g
        if event == "click":
            for fn in self._handlers["click"]:
                fn(key, *args)
        elif event == "edit":
            for fn in self._handlers["edit"]:
                fn(key, *args, content.get("value"), done)
        else:
            for fn in self._handlers["draw"]:
                fn(key, *args, done)
