"""Heatmaps on canvases, with no lesson knowledge: images, kernels, activations, matrices.

* :class:`HeatmapGrid`: one 2-D array in one widget.
* :class:`HeatmapStack`: many grids in one widget, in titled groups whose parts share one colour
  scale (and can show its legend). Every change made inside ``with stack.batch():`` travels as one
  message and the page paints it in one animation frame: a kernel drag that changes a whole conv
  chain is one message, not one per heatmap.

Values travel as float32 buffers. Gestures come back as custom messages through ``on_msg``
(``click``, ``edit`` — a drag step or a typed value —, ``draw``); a stack's carry the grid's key,
a tuple, given back as a tuple. Python validates before anything changes: the grids never change
their own data. Each gesture message carries a sequence number ``seq`` and is answered by the
widget's ``ack`` trait, in the same message as what the gesture changed: the page sends a drag step
at once, and while one is unanswered keeps only the latest (so a fast drag never queues up here).
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


def _seq(content: Any) -> int | None:
    """The gesture's sequence number, to acknowledge (None for a message without one)."""
    seq = content.get("seq") if isinstance(content, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None


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
    ack = traitlets.Int(0).tag(sync=True)  # ``seq`` of the last gesture message handled

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
        """The front end's ``model.send``: parsed here, malformed ones ignored; handlers not guarded.

        What the handlers change on this grid and the ``ack`` of the message go as one message.
        """
        g = _gesture(content)
        seq = _seq(content)
        with self.hold_sync():
            try:
                if g is not None:
                    self._dispatch(*g, content)
            finally:
                if seq is not None:
                    self.ack = seq

    def _dispatch(self, event: str, args: tuple, done: bool, content: dict) -> None:
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
_EMPTY = np.zeros((0, 0), "<f4")


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

    groups = traitlets.List(traitlets.Dict()).tag(sync=True)  # layout and props: sent when changed
    data = traitlets.Bytes(b"").tag(sync=True)
    css_prefix = traitlets.Unicode("").tag(sync=True)
    update = traitlets.Int(0).tag(sync=True)  # counts the messages that changed something
    ack = traitlets.Int(0).tag(sync=True)  # ``seq`` of the last gesture message handled

    def __init__(self, groups: Iterable[dict] = (), css_prefix: str = "", **kwargs: Any):
        super().__init__(css_prefix=css_prefix, **kwargs)
        self._layout: list[dict] = []
        self._arrays: dict[Key, np.ndarray] = {}
        self._ties: dict[Key, np.ndarray] = {}
        self._props: dict[Key, dict[str, Any]] = {}
        self._depth = 0
        self._dirty = False
        self._layout_dirty = True  # groups (props, scales, shapes, offsets) to be rebuilt
        self._acking: int | None = None  # a gesture's seq, acknowledged with the next message
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
        for store in (self._arrays, self._ties, self._props):
            for k in [k for k in store if k not in keep]:
                del store[k]
        self._changed(layout=True)

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
        for k in props:
            if k not in _GRID_PROPS:
                raise TypeError(
                    f"unknown heatmap property {k!r}; expected one of {sorted(_GRID_PROPS)}"
                )
        new_values = False
        layout = False
        if values is not None:
            a = np.asarray(values, dtype="<f4")
            if a.ndim != 2:
                raise ValueError(f"a heatmap needs a 2-D array, got shape {a.shape}")
            old = self._arrays.get(key)
            # an unchanged grid is not sent again (bitwise: NaN equals NaN, -0 differs from 0)
            if old is None or old.shape != a.shape or old.tobytes() != a.tobytes():
                layout = old is None or old.shape != a.shape  # the buffer's offsets move
                self._arrays[key] = np.array(a, order="C")
                new_values = True
        if ties is not None:
            t = np.asarray(ties)
            tf = np.array(t, dtype="<f4", order="C")
            old = self._ties.get(key)
            if old is None or old.shape != tf.shape or old.tobytes() != tf.tobytes():
                self._ties[key] = tf
                layout = new_values = True
            props.setdefault("n_ties", int(t.max(initial=-1)) + 1)
        changed = {k: v for k, v in props.items() if self._props[key].get(k) != v}
        self._props[key].update(changed)
        if new_values or changed:
            self._changed(layout=layout or bool(changed))

    def set_scale(self, group: str, part: int = 0, **scale: Any) -> None:
        """The colour scale (``vmin``, ``vmax``, ``cmap``) shared by one part of a group."""
        p = self._group(group)["parts"][part]
        if any(p.get(k) != v for k, v in scale.items()):
            p.update(scale)
            self._changed(layout=True)

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

    def _changed(self, layout: bool = False) -> None:
        self._dirty = True
        self._layout_dirty |= layout
        if self._depth == 0:
            self._sync()

    def _sync(self) -> None:
        """Send one buffer with every grid's values, the layout and props only when they changed,
        and the ack of the gesture being handled: one message."""
        self._dirty = False
        chunks: list[np.ndarray] = []
        groups = []
        layout = self._layout_dirty
        offset = 0
        for g in self._layout:
            parts = []
            for p in g["parts"]:
                grids = []
                for key in p["grids"]:
                    a = self._arrays.get(key, _EMPTY)
                    chunks.append(a.reshape(-1))
                    t = self._ties.get(key)
                    tied = t is not None and t.shape == a.shape
                    if tied:
                        chunks.append(t.reshape(-1))
                    if layout:
                        spec = {**self._props[key], "key": list(key)}
                        spec.update(rows=int(a.shape[0]), cols=int(a.shape[1]), offset=offset)
                        spec["ties_offset"] = offset + a.size if tied else -1
                        grids.append(spec)
                    offset += a.size + (t.size if tied else 0)
                if layout:
                    parts.append({**p, "grids": grids})
            if layout:
                groups.append({**g, "parts": parts})
        self._layout_dirty = False
        data = np.concatenate(chunks).astype("<f4", copy=False).tobytes() if chunks else b""
        with self.hold_sync():
            if layout:
                self.groups = groups  # an equal list is not sent again
            self.data = data
            self.update += 1
            self._send_ack()

    def _send_ack(self) -> None:
        if self._acking is not None:
            self.ack, self._acking = self._acking, None

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
        """A gesture: handled, then acknowledged; the ack rides on the first message the handlers
        make this stack send (the chain they changed), or goes alone if they changed nothing."""
        self._acking = _seq(content)
        try:
            self._dispatch(content)
        finally:
            self._send_ack()

    def _dispatch(self, content: Any) -> None:
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
