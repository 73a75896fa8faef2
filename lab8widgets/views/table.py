"""TableView: a small sortable table of a DataFrame's rows; click a header to sort, a row to pick it.

Python holds the rows and sorts them (the front end only draws what it is sent and reports clicks
through custom messages), so ``table.frame`` is always what the page shows, in the page's order.
Rows past ``max_rows`` are counted, not drawn. ``selected`` keys are highlighted; a view with
``all_keys`` and ``selected`` can join ``link_selection``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import anywidget
import numpy as np
import traitlets

__all__ = ["TableView"]

_ESM = r"""
function fmtHead(c, sortBy, asc) {  // a long name may wrap after its underscores
  return c.replace(/_/g, "_\u200b") + (c === sortBy ? (asc ? " ▲" : " ▼") : "");
}
// a row is a flex line of fixed height (ROW_H), not a table row. Rows below the box's view (past
// the first EAGER, and a few beyond what is scrolled into view) are display:none, their height kept
// by the body's bottom padding, and shown as the box scrolls (in the scroll event, so before that
// frame paints): a new selection lays out the ~20 rows in view, not all 60 (about 4 ms a brush in
// the explorer). Every row keeps its text (tbody tr, td), for readers, find-in-page and tests.
const ROW_H = 19;
const EAGER = 20;
const TD = "display:block;padding:1px 6px;border-top:1px solid #eee;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;box-sizing:border-box;height:" + ROW_H + "px;line-height:16px;";
// a column is never narrower than its header's longest word (words break at spaces and after
// underscores, never inside: "ratin/gs" was unreadable); where they do not all fit, the box scrolls
const minCh = (c) => Math.max(...String(c).split(/[\s_]+/).map((w) => w.length)) + 2;
const cellFlex = (j, n, c) => (j === 0 && n > 1 ? "flex:0 0 40%;" : "flex:1 1 0;") + "min-width:calc(" + minCh(c) + "ch + 12px);";
function render({ model, el }) {
  el.classList.add("lab8-tableview");
  // a fixed box that contains its own layout and paint, so new rows re-lay out the table alone,
  // not the page around it (beside a large scatter that cost ~10 ms a selection); nothing moves
  const wrap = document.createElement("div");
  wrap.style.cssText = "height:var(--lab8-table-h,320px);overflow:auto;contain:layout paint;border:1px solid #e5e7eb;border-radius:4px;box-sizing:border-box";
  const cap = document.createElement("div");
  cap.className = "lab8-tableview-caption";
  cap.style.cssText = "font:600 12px system-ui,sans-serif;margin:2px 0;height:16px;line-height:16px;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;contain:layout paint";
  // column widths come from flex bases (cellFlex), the same in the header and every row, not from
  // measuring every cell
  const t = document.createElement("table");
  t.style.cssText = "display:block;font:12px system-ui,sans-serif;color:#222;width:100%";
  const head = t.createTHead();
  head.style.cssText = "display:block;position:sticky;top:0;z-index:1;background:#f3f4f6";
  const headRow = head.insertRow();
  headRow.style.cssText = "display:flex";
  const body = t.createTBody();
  body.style.display = "block";
  wrap.appendChild(t);
  el.append(cap, wrap);
  let shownCols = null;
  function drawHead(cols, num, sortBy, asc) {
    const key = JSON.stringify([cols, num]);
    if (key !== shownCols) {  // new columns: new header cells (the first column gets the room)
      shownCols = key;
      headRow.replaceChildren(...cols.map((c, j) => {
        const th = document.createElement("th");
        th.dataset.col = c;
        th.title = "sort by " + c;
        th.style.cssText = "display:flex;align-items:flex-end;box-sizing:border-box;cursor:pointer;padding:3px 6px;user-select:none;overflow-wrap:normal;word-break:normal;" + cellFlex(j, cols.length, c) + "justify-content:" + (num[j] ? "flex-end;text-align:right" : "flex-start;text-align:left");
        th.addEventListener("click", () => model.send({ event: "sort", column: c }));
        return th;
      }));
      body.replaceChildren();  // rows of other columns
    }
    cols.forEach((c, j) => {
      const text = fmtHead(c, sortBy, asc);
      if (headRow.cells[j].textContent !== text) headRow.cells[j].textContent = text;
    });
  }
  function draw() {
    const cols = model.get("columns"), rows = model.get("rows"), num = model.get("numeric");
    const sel = new Set(model.get("selected_rows")), sortBy = model.get("sort_by");
    const clickable = model.get("clickable");
    el.style.setProperty("--lab8-table-h", model.get("height"));
    const more = model.get("n_rows") - rows.length;
    cap.textContent = model.get("caption") + (more > 0 ? ` (first ${rows.length} of ${model.get("n_rows")})` : "");
    drawHead(cols, num, sortBy, model.get("ascending"));
    // rows are updated in place: only changed text is re-laid out, no new elements to style
    while (body.rows.length > rows.length) body.deleteRow(-1);
    while (body.rows.length < rows.length) {
      const i = body.rows.length, tr = body.insertRow();
      tr.dataset.row = i;
      tr.style.cssText = "display:flex";
      tr.addEventListener("click", () => { if (model.get("clickable")) model.send({ event: "row", row: i }); });
      cols.forEach((c, j) => { tr.insertCell().style.cssText = TD + cellFlex(j, cols.length, c) + (num[j] ? "text-align:right;font-variant-numeric:tabular-nums" : ""); });
    }
    rows.forEach((r, i) => {
      const tr = body.rows[i], on = sel.has(i);
      if (tr.classList.contains("lab8-selected") !== on) {
        tr.classList.toggle("lab8-selected", on);
        tr.style.background = on ? "#fff4c2" : "";
      }
      tr.style.cursor = clickable ? "pointer" : "";
      r.forEach((v, j) => {
        const td = tr.cells[j];
        if (td.textContent !== v) { td.textContent = v; td.title = v; }
      });
    });
    reveal();
  }
  // how far down the box shows (scroll events and resizes, never a layout read during a draw)
  let bottom = 0;
  const shown = () => Math.max(EAGER, Math.ceil(bottom / ROW_H) + 8);
  function reveal() {
    const n = body.rows.length, upto = Math.min(n, shown());
    for (let i = 0; i < n; i++) {
      const display = i < upto ? "flex" : "none";
      if (body.rows[i].style.display !== display) body.rows[i].style.display = display;
    }
    const pad = (n - upto) * ROW_H + "px";
    if (body.style.paddingBottom !== pad) body.style.paddingBottom = pad;
  }
  const measure = () => { bottom = wrap.scrollTop + wrap.clientHeight; reveal(); };
  wrap.addEventListener("scroll", measure, { passive: true });
  new ResizeObserver(measure).observe(wrap);
  draw();
  model.on("change", draw);
}
export default { render };
"""


def _fmt(v: Any, digits: int) -> str:
    if v is None:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "–"
        return f"{f:.{digits}f}" if abs(f) < 1e5 else f"{f:.3g}"
    return str(v)


class TableView(anywidget.AnyWidget):
    """Rows of a DataFrame, sortable by clicking a header; ``key`` names the column that keys rows.

    ``on_row_click(fn)`` calls ``fn(key)`` when a row is clicked (the row's index when no ``key``).
    """

    _esm = _ESM
    columns = traitlets.List(traitlets.Unicode()).tag(sync=True)
    rows = traitlets.List().tag(sync=True)  # formatted cells of the drawn rows
    numeric = traitlets.List(traitlets.Bool()).tag(sync=True)
    n_rows = traitlets.Int(0).tag(sync=True)
    caption = traitlets.Unicode("").tag(sync=True)
    sort_by = traitlets.Unicode("").tag(sync=True)
    ascending = traitlets.Bool(True).tag(sync=True)
    clickable = traitlets.Bool(False).tag(sync=True)
    height = traitlets.Unicode("320px").tag(sync=True)
    selected_rows = traitlets.List(traitlets.Int()).tag(sync=True)
    selected = traitlets.List()  # keys (Python side only)

    def __init__(
        self,
        frame: Any = None,
        key: str | None = None,
        *,
        caption: str = "",
        max_rows: int = 200,
        digits: int = 3,
        height: str = "320px",
    ):
        import pandas as pd

        super().__init__(caption=caption, height=height)
        self.add_class("lab8-table-view")
        self.key = key
        self.max_rows = int(max_rows)
        self.digits = int(digits)
        self._callbacks: list[Callable[[Hashable], Any]] = []
        self._frame = pd.DataFrame()
        self._shown_keys: list = []
        self.on_msg(self._on_msg)
        self.set_frame(frame if frame is not None else pd.DataFrame())

    # --- data -------------------------------------------------------------------------------------
    @property
    def frame(self):
        """The table's rows in the order shown (all of them, also those past ``max_rows``)."""
        return self._frame

    @property
    def all_keys(self) -> list:
        """Key of every row, in the order shown."""
        if self.key is None or self.key not in self._frame.columns:
            return list(self._frame.index)  # also an empty table with no columns yet
        return list(self._frame[self.key])

    def set_frame(self, frame) -> None:
        """Show ``frame`` (kept sorted by the current sort column when it still has it)."""
        import pandas as pd

        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"TableView shows a pandas DataFrame, got {type(frame).__name__}")
        if self.key is not None and len(frame.columns) and self.key not in frame.columns:
            raise KeyError(f"key column {self.key!r} is not in the frame ({list(frame.columns)})")
        self._frame = frame
        if self.sort_by and self.sort_by in frame.columns:
            self._frame = self._sorted(frame, self.sort_by, self.ascending)
        elif self.sort_by:
            self.sort_by = ""
        self._push()

    def sort(self, column: str, ascending: bool | None = None) -> None:
        """Sort by ``column``; without ``ascending``, numbers go largest first and text A→Z."""
        if column not in self._frame.columns:
            raise KeyError(f"no column {column!r}; columns are {list(self._frame.columns)}")
        if ascending is None:
            ascending = not _is_numeric(self._frame[column])
        self._frame = self._sorted(self._frame, column, bool(ascending))
        with self.hold_sync():
            self.sort_by = column
            self.ascending = bool(ascending)
            self._push()

    @staticmethod
    def _sorted(frame, column: str, ascending: bool):
        return frame.sort_values(column, ascending=ascending, kind="stable", na_position="last")

    def _push(self) -> None:
        f = self._frame
        shown = f.iloc[: self.max_rows]
        has_key = self.key is not None and self.key in f.columns
        self._shown_keys = list(shown[self.key]) if has_key else list(shown.index)
        with self.hold_sync():
            self.columns = [str(c) for c in f.columns]
            self.numeric = [_is_numeric(f[c]) for c in f.columns]
            self.rows = [
                [_fmt(v, self.digits) for v in row] for row in shown.itertuples(index=False)
            ]
            self.n_rows = len(f)
            self._mark_selected()

    # --- selection and clicks ---------------------------------------------------------------------
    @traitlets.observe("selected")
    def _on_selected(self, _change=None) -> None:
        self._mark_selected()

    def _mark_selected(self) -> None:
        want = set(self.selected)
        self.selected_rows = [i for i, k in enumerate(self._shown_keys) if k in want]

    def on_row_click(self, callback: Callable[[Hashable], Any], remove: bool = False) -> None:
        """Call ``callback(key)`` when a row is clicked in the page."""
        if remove:
            self._callbacks.remove(callback)
        else:
            self._callbacks.append(callback)
        self.clickable = bool(self._callbacks)

    def _on_msg(self, _widget, content: dict, _buffers) -> None:
        event = content.get("event") if isinstance(content, dict) else None
        if event == "sort":
            col = content.get("column")
            if col not in self._frame.columns:
                return
            if col == self.sort_by:
                self.sort(col, not self.ascending)
            else:
                self.sort(col)
        elif event == "row":
            i = content.get("row")
            if isinstance(i, int) and 0 <= i < len(self._shown_keys):
                key = self._shown_keys[i]
                for cb in list(self._callbacks):
                    cb(key)


def _is_numeric(col) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))
