"""TrainingPanel: the training half of a lab, for any model that a fit loop trains.

A settings form generated from a settings dataclass (``SettingsForm``), Train and Clear buttons
(plus any the lab adds), an optional reserved progress row with Stop, a bqplot chart whose train
(dashed) and valid (solid) curves stream from :class:`~lab8widgets.models.train.TrainEvent` values,
one pair of curves per run in the run's colour, and a runs table. No lesson knowledge: a lab names
the fields, the columns and what the buttons do.

The chart keeps its axes: both y scales are made once and always carry an explicit domain computed
here from the finite points on screen, so switching log ↔ linear, clearing every run or a run with
an infinite loss never hands bqplot an empty or NaN domain (which drew ``d="…null"`` paths, lost
every tick label or left one "0.00" tick).

:class:`RunBook` keeps a lab's runs (typed :class:`~lab8widgets.models.train.RunRecord` values) on
a TrainingPanel: numbers, colours, the overlaid curves, the table, the best run, and the one
divergence policy every lab shares.
"""

from __future__ import annotations

import html
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import traitlets

from ..models.settings import Settings
from ..models.train import Run, RunRecord, TrainEvent
from .controls import SettingsForm
from .scatter import PALETTE
from .ticks import log_ticks

__all__ = [
    "COLORS",
    "Column",
    "RunBook",
    "TrainingPanel",
    "best_run",
    "runs_table_html",
]

COLORS = PALETTE[:10]  # the runs take the scatter's first ten colours
DRAW_EVERY_S = 0.15  # streaming redraws at most this often (epochs and run ends always draw)


@dataclass(frozen=True)
class Column:
    """A runs-table column: ``key`` in each row dict, its header, a formatter, and whether the
    formatted value is HTML (``raw``) or text to escape."""

    key: str
    header: str = ""
    fmt: Callable[[Any], str] | None = None
    raw: bool = False


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.4f}" if abs(v) < 1e4 else f"{v:.3g}"
    return "" if v is None else str(v)


def runs_table_html(
    rows: Sequence[dict], columns: Sequence[Column], best: int = -1, cls: str = ""
) -> str:
    """An HTML table of ``rows``; a row's ``color`` becomes a swatch in a column keyed "color"."""
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in columns)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for c in columns:
            v = r.get(c.key, "")
            if c.key == "color" and c.fmt is None:
                text = f'<span class="lab8-swatch" style="background:{html.escape(str(v))}"></span>'
            else:
                shown = c.fmt(v) if c.fmt is not None else _fmt(v)
                text = shown if c.raw else html.escape(shown)
            num = isinstance(v, int | float) and not isinstance(v, bool)
            cells.append(f'<td class="{"num" if num else ""}">{text}</td>')
        body.append(f'<tr class="{"best" if i == best else ""}">{"".join(cells)}</tr>')
    return f'<table class="lab8-table {cls}"><tr>{head}</tr>{"".join(body)}</table>'


def _domain(values: Iterable[float], log: bool) -> tuple[float, float]:
    """A padded, finite (min, max) for the y axis; positive on a log axis; a default when empty."""
    v = np.asarray([x for x in values if math.isfinite(x) and (x > 0 or not log)], dtype=float)
    if log:
        if not len(v):
            return 0.1, 10.0
        lo, hi = float(v.min()), float(v.max())
        if hi / lo < 1.5:  # a flat curve: keep a few ticks on screen
            lo, hi = lo / 1.25, hi * 1.25
        return lo / 1.1, hi * 1.1
    if not len(v):
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    lo = 0.0 if lo >= 0 else lo * 1.05
    return lo, hi * 1.05 if hi > 0 else 1.0


class _Curves:
    """One run's points (kept here so redraws and scale switches can recompute domains)."""

    def __init__(self, train: bq.Lines, valid: bq.Lines):
        self.train, self.valid = train, valid
        self.tx: list[float] = []
        self.ty: list[float] = []
        self.vx: list[float] = []
        self.vy: list[float] = []


class TrainingPanel(W.VBox):
    """Settings form, Train/Stop, progress, a streaming loss chart and a runs table (see module doc).

    ``on_train()`` runs when Train is pressed, ``on_clear()`` after Clear runs; ``on_error(text)``
    gets refused typed values (a lab passes its ``fail``). ``progress=False`` leaves progress and
    Stop to the lab's own reserved row (``LabBase``); ``busy`` disables the buttons during a run.
    Drive the chart with :meth:`add_run`, :meth:`on_event`, :meth:`end_run`; the table with
    :meth:`show_runs`. Safe to call from a training thread.
    """

    busy = traitlets.Bool(False)
    progress = traitlets.Float(0.0)
    status = traitlets.Unicode("")
    yscale = traitlets.Enum(("log", "linear"), default_value="log")

    def __init__(
        self,
        settings_cls: type[Settings],
        names: Iterable[str] | None = None,
        base: Settings | None = None,
        *,
        on_train: Callable[[], Any] | None = None,
        on_stop: Callable[[], Any] | None = None,
        on_clear: Callable[[], Any] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_change: Callable[[str, Any], None] | None = None,
        extra_controls: Sequence[W.Widget] = (),
        buttons: Sequence[W.Button] = (),
        columns: Sequence[Column] = (),
        loss_label: str = "loss",
        progress: bool = True,
        chart_width: str = "540px",
    ):
        self.form = SettingsForm(settings_cls, names, base, on_change=on_change, on_error=on_error)
        self.form.children = [*extra_controls, *self.form.children]
        self.columns = list(columns)
        self.train_button = W.Button(description="Train", icon="play", button_style="primary")
        self.train_button.add_class("lab8-train")
        self.clear_button = W.Button(
            description="Clear runs", tooltip="empty the runs table and the chart"
        )
        self.clear_button.add_class("lab8-clear")
        self.buttons = [self.train_button, *buttons, self.clear_button]
        self._on_train, self._on_clear = on_train, on_clear
        self.train_button.on_click(lambda _b: self._on_train and self._on_train())
        self.clear_button.on_click(lambda _b: self._clear_clicked())
        # two lines always reserved: a run's outcome appearing never moves the chart or controls
        self.message = W.HTML("", layout=W.Layout(height="38px", overflow="hidden", margin="0"))
        self.message.add_class("lab8-message")

        rows: list[W.Widget] = [
            self.form,
            W.HBox(self.buttons, layout=W.Layout(gap="10px", flex_flow="row wrap")),
        ]
        self.stop_button = W.Button(description="■ Stop", button_style="warning")
        self.stop_button.add_class("lab8-panel-stop")
        self.stop_button.on_click(lambda _b: on_stop and on_stop())
        self._bar = W.FloatProgress(value=0.0, min=0.0, max=1.0, layout=W.Layout(width="240px"))
        self._status = W.Label("")
        self.progress_row = W.HBox(
            [self._bar, self.stop_button, self._status],
            # laid out even when idle: showing it never moves the controls under the pointer
            layout=W.Layout(
                visibility="hidden", align_items="center", gap="8px", min_height="32px"
            ),
        )
        if progress:
            rows.append(self.progress_row)
        rows.append(self.message)
        self.settings_box = W.VBox(rows)

        self._x = bq.LinearScale(min=0.0, max=1.0)
        self._log = bq.LogScale(min=0.1, max=10.0)
        self._lin = bq.LinearScale(min=0.0, max=1.0)
        self._ax_y = bq.Axis(
            scale=self._log,
            orientation="vertical",
            label=loss_label,
            tick_format=".3g",
            grid_lines="dashed",
            label_offset="48px",
        )
        self.chart = bq.Figure(
            marks=[],
            axes=[bq.Axis(scale=self._x, label="epoch", grid_lines="none"), self._ax_y],
            title=f"train (dashed) and valid (solid) {loss_label} per run",
            fig_margin={"top": 36, "bottom": 40, "left": 64, "right": 12},
            layout=W.Layout(width=chart_width, height="300px"),
            animation_duration=0,
        )
        self.chart.add_class("lab8-chart")
        self._yscale_toggle = W.ToggleButtons(
            options=["log", "linear"], value="log", style={"button_width": "56px"}
        )
        self._yscale_toggle.add_class("lab8-yscale")
        traitlets.link((self._yscale_toggle, "value"), (self, "yscale"))
        self.below_chart = W.VBox([])  # the lab's notes under the chart
        self.chart_box = W.VBox(
            [
                self.chart,
                W.HBox(
                    [W.HTML('<span class="lab8-note">y axis</span>'), self._yscale_toggle],
                    layout=W.Layout(align_items="center", gap="10px"),
                ),
                self.below_chart,
            ],
            # the chart keeps its width: in a narrow column (JupyterLab's 850 px) the runs table
            # wraps below it instead of squeezing the chart until its title and ticks are cut
            layout=W.Layout(flex="0 0 auto", max_width="100%"),
        )
        self.runs_html = W.HTML(layout=W.Layout(max_height="300px", overflow="auto"))
        self.runs_html.add_class("lab8-runs")
        self.runs_box = W.VBox(
            [W.HTML('<div class="lab8-section">Runs</div>'), self.runs_html],
            layout=W.Layout(flex="1 1 auto", min_width="380px", overflow="auto"),
        )
        super().__init__(
            [
                self.settings_box,
                W.HBox(
                    [self.chart_box, self.runs_box],
                    layout=W.Layout(gap="12px", align_items="flex-start", flex_flow="row wrap"),
                ),
            ]
        )
        self.add_class("lab8-training")
        self.curves: dict[Any, _Curves] = {}
        self.best_row = -1  # the table row marked best (-1: none), a public read-out
        self._spare: list[tuple[bq.Lines, bq.Lines]] = []
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self.show_runs([])

    # --- state --------------------------------------------------------------------------------
    @traitlets.observe("busy", "progress", "status")
    def _on_busy(self, _change=None) -> None:
        for b in self.buttons:
            b.disabled = self.busy
        self.progress_row.layout.visibility = "visible" if self.busy else "hidden"
        self._bar.value = self.progress
        self._status.value = self.status

    def settings(self, **overrides: Any) -> Settings:
        """The form's values as a validated settings value."""
        return self.form.settings(**overrides)

    # --- chart ----------------------------------------------------------------------------------
    @property
    def y_scale(self) -> bq.Scale:
        return self._log if self.yscale == "log" else self._lin

    def add_run(self, key: Any, label: str, color: str | None = None, epochs: float = 0) -> str:
        """Start a run's pair of curves (``epochs`` planned sets the x axis); returns its colour."""
        color = color or COLORS[len(self.curves) % len(COLORS)]
        if self._spare:  # reuse a cleared pair: bqplot logs translate(0,NaN) when lines go away
            train, valid = self._spare.pop(0)
            with self.chart.hold_sync():
                for line, kind in ((train, "train"), (valid, "valid")):
                    with line.hold_sync():
                        line.scales = {"x": self._x, "y": self.y_scale}
                        line.colors, line.labels = [color], [f"{label} {kind}"]
                        line.visible = True
            with self._lock:
                self.curves[key] = _Curves(train, valid)
        else:
            common = dict(scales={"x": self._x, "y": self.y_scale}, colors=[color])
            train = bq.Lines(
                x=np.zeros(0),
                y=np.zeros(0),
                line_style="dashed",
                opacities=[0.7],
                labels=[f"{label} train"],
                **common,
            )
            valid = bq.Lines(
                x=np.zeros(0),
                y=np.zeros(0),
                marker="circle",
                marker_size=24,
                stroke_width=2.5,
                labels=[f"{label} valid"],
                **common,
            )
            with self._lock:
                self.curves[key] = _Curves(train, valid)
            self.chart.marks = [*self.chart.marks, train, valid]
        self._planned = max(getattr(self, "_planned", 0.0), float(epochs))
        self._rescale()
        return color

    def on_event(self, key: Any, ev: TrainEvent) -> None:
        """Add an event's points to run ``key``'s curves and redraw (throttled while streaming)."""
        with self._lock:
            c = self.curves.get(key)
            if c is None:
                return
            if ev.kind == "step":
                c.tx.append(ev.epoch)
                c.ty.append(ev.train_loss)
            elif ev.kind == "epoch":
                end = ev.window_loss if math.isfinite(ev.window_loss) else ev.train_loss
                c.tx.append(ev.epoch)
                c.ty.append(end)
                c.vx.append(ev.epoch)
                c.vy.append(ev.valid_loss)
        self.draw(key, force=ev.kind != "step")

    def end_run(self, key: Any, history: Sequence[dict] | None = None) -> None:
        """Final drawing of a run; with ``history`` its valid curve becomes exactly the history's
        (a diverged run keeps only the epochs that ended well)."""
        if history is not None:
            with self._lock:
                c = self.curves.get(key)
                if c is not None:
                    c.vx = [float(h["epoch"]) for h in history]
                    c.vy = [float(h["valid_loss"]) for h in history]
                    if c.tx and c.vx:  # drop train points past the last good epoch
                        keep = [i for i, x in enumerate(c.tx) if x <= c.vx[-1] + 1e-9]
                        c.tx, c.ty = [c.tx[i] for i in keep], [c.ty[i] for i in keep]
                    elif not c.vx:
                        c.tx, c.ty = [], []
        self.draw(key, force=True)

    def draw(self, key: Any, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < DRAW_EVERY_S:
            return
        self._last_draw = now
        with self._lock:
            c = self.curves.get(key)
            if c is None:
                return
            pts = [self._finite(c.tx, c.ty), self._finite(c.vx, c.vy)]
        for line, (x, y) in zip((c.train, c.valid), pts, strict=True):
            with line.hold_sync():
                line.x, line.y = x, y
        self._rescale()

    def _finite(self, xs: list, ys: list) -> tuple[np.ndarray, np.ndarray]:
        """Points bqplot can draw: no NaN/inf (a ``null`` in a path), none ≤ 0 on a log axis."""
        x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        ok = np.isfinite(x) & np.isfinite(y)
        if self.yscale == "log":
            ok &= y > 0
        return x[ok], y[ok]

    def _rescale(self) -> None:
        """Explicit x and y domains from the points on screen (or defaults when there are none)."""
        with self._lock:
            ys = [v for c in self.curves.values() for v in (*c.ty, *c.vy)]
            xs = [v for c in self.curves.values() for v in (*c.tx, *c.vx) if math.isfinite(v)]
        lo, hi = _domain(ys, self.yscale == "log")
        xmax = max([*xs, getattr(self, "_planned", 0.0), 1.0])
        with self.chart.hold_sync():
            self._x.min, self._x.max = 0.0, float(xmax)
            y = self.y_scale
            y.min, y.max = float(lo), float(hi)
            log = self.yscale == "log"
            self._ax_y.tick_values = np.asarray(log_ticks(lo, hi) if log else [], dtype=float)

    @traitlets.observe("yscale")
    def _on_yscale(self, _change=None) -> None:
        y = self.y_scale
        with self.chart.hold_sync():
            for c in self.curves.values():
                for line, (xs, ys) in ((c.train, (c.tx, c.ty)), (c.valid, (c.vx, c.vy))):
                    x, yy = self._finite(xs, ys)
                    with line.hold_sync():
                        line.scales = {"x": self._x, "y": y}
                        line.x, line.y = x, yy
            self._ax_y.scale = y
        self._rescale()

    def clear(self) -> None:
        """Remove every run's curves and empty the table (axes keep a default domain). The lines
        are emptied, hidden and kept for the next runs: taking them off the figure made bqplot
        draw a tick at translate(0,NaN)."""
        with self._lock:
            pairs = [(c.train, c.valid) for c in self.curves.values()]
            self.curves = {}
        self._planned = 0.0
        with self.chart.hold_sync():
            for pair in pairs:
                for line in pair:
                    with line.hold_sync():
                        line.x, line.y = np.zeros(0), np.zeros(0)
                        line.visible = False
        self._spare.extend(pairs)
        self.message.value = ""
        self._rescale()
        self.show_runs([])

    @property
    def visible_marks(self) -> list:
        """The chart's lines that show a run (cleared ones are kept hidden for reuse)."""
        return [m for m in self.chart.marks if m.visible]

    def _clear_clicked(self) -> None:
        if self._on_clear is not None:
            self._on_clear()
        else:
            self.clear()

    # --- runs table -------------------------------------------------------------------------------
    def show_runs(self, rows: Sequence[dict], best: int = -1) -> None:
        """Render the runs table (``rows`` as dicts keyed by the columns' keys)."""
        self.best_row = best if rows else -1
        if not rows:
            self.runs_html.value = '<div class="lab8-note">No runs yet: press Train.</div>'
            return
        self.runs_html.value = runs_table_html(rows, self.columns, best, cls="lab8-runs-table")

    def say(self, text: str) -> None:
        """A one-line note under the buttons (the last run's outcome)."""
        self.message.value = f'<div class="lab8-note">{html.escape(text)}</div>' if text else ""


def best_run(runs: Sequence[RunRecord]) -> int:
    """Index of the run with the lowest finite score, or -1. A diverged run is never best, even
    when the epochs it kept ended lower than every other run."""
    ok = [(r.value, i) for i, r in enumerate(runs) if not r.diverged and math.isfinite(r.value)]
    return min(ok)[1] if ok else -1


class RunBook:
    """A lab's runs on a :class:`TrainingPanel`: each run numbered, coloured, overlaid on the
    chart, listed in the table with the best one marked, and one divergence policy for all labs.

    The divergence policy (the fit loops stop a diverging run and restore the weights of its last
    good epoch): :meth:`finish` marks the record "diverged", says so under the buttons and calls
    ``on_diverged(message)`` (a lab passes its ``fail``: the banner); :meth:`outcome`, called by
    the Python API after the run, warns with a ``RuntimeWarning`` and returns the record, never
    raising. A diverged run is never "best".

    How a lab adopts it (a sketch; ``fit_x`` is the lab's fit function, returning a ``Run``)::

        self.book = RunBook(self.panel, score="valid_mse", on_diverged=self.fail,
                            row=lambda r: {"model_shown": ...})  # extra table cells, optional
        # Clear runs button: on_clear=lambda: self.book.clear()
        # lab.runs is self.book.runs (a list of RunRecord; rec["valid_mse"] still reads)

        def _run(self, task, s, label=""):          # in the background task
            rec = self.book.start(label, settings=s.asdict(), epochs=s.epochs, model="CNN")
            run = fit_x(self.model, ..., should_stop=lambda: task.stopped,
                        callback=lambda ev: self.book.event(rec, ev, task.report))
            return self.book.finish(rec, run)      # table, best, chart, message, banner

        @api_call
        def fit(self, ..., wait=True):              # the Python call
            task = self.run_and_wait(lambda t: self._run(t, s), wait)
            return self.book.outcome(task.result) if wait else None   # warns if diverged

    ``score`` is the history field that ranks runs (lower is better); ``score_label`` names it
    in the run's summary line; ``progress_metrics`` maps metric names to format specs for the
    progress text (``{"accuracy": ".1%"}``). ``row(rec)`` adds a lab's own table cells.
    ``on_finish(callback)`` registers a callback called with each finished record. Safe to
    call from a training thread.
    """

    def __init__(
        self,
        panel: TrainingPanel,
        *,
        score: str = "valid_loss",
        score_label: str = "",
        on_diverged: Callable[[str], Any] | None = None,
        row: Callable[[RunRecord], dict] | None = None,
        progress_metrics: dict[str, str] | None = None,
    ):
        self.panel = panel
        self.score = score
        self.score_label = score_label or score.replace("_", " ")
        self.on_diverged = on_diverged
        self.row = row
        self.progress_metrics = dict(progress_metrics or {})
        self.runs: list[RunRecord] = []
        self._callbacks: list[Callable[[RunRecord], Any]] = []
        self.show()

    # --- a run's life -----------------------------------------------------------------------------
    def start(
        self,
        label: str = "",
        *,
        engine: str = "lab8widgets",
        settings: dict[str, Any] | None = None,
        epochs: float = 0,
        **extra: Any,
    ) -> RunRecord:
        """Number a new run, give it its colour and its pair of curves (``epochs`` planned, by
        default ``settings["epochs"]``, sets the x axis); ``extra`` are the lab's descriptive fields. The record joins ``runs`` when
        it finishes."""
        n = (self.runs[-1].run + 1) if self.runs else 1
        rec = RunRecord(
            run=n,
            label=label,
            color=COLORS[(n - 1) % len(COLORS)],
            engine=engine,
            settings=dict(settings or {}),
            extra=dict(extra),
            score=self.score,
        )
        planned = epochs or rec.settings.get("epochs", 0)
        self.panel.add_run(n, f"#{n} {label or engine}", rec.color, epochs=planned)
        return rec

    def event(
        self, rec: RunRecord, ev: TrainEvent, report: Callable[[float, str], Any] | None = None
    ) -> None:
        """Draw a fit loop's event on ``rec``'s curves; with ``report`` (``task.report``) also
        show the progress and a line of text."""
        self.panel.on_event(rec.run, ev)
        if report is not None and ev.kind in ("step", "epoch"):
            report(ev.fraction, self.progress_text(rec, ev))

    def progress_text(self, rec: RunRecord, ev: TrainEvent) -> str:
        text = f"run #{rec.run} · epoch {ev.epoch:.2f} · train {ev.train_loss:.4f}"
        if ev.kind == "epoch":
            text += f" · valid {ev.valid_loss:.4f}"
            for name, spec in self.progress_metrics.items():
                if name in ev.metrics:
                    text += f" · {name} {format(ev.metrics[name], spec)}"
        return text

    def finish(self, rec: RunRecord, result: Run) -> RunRecord:
        """Record how ``rec`` ended: it joins ``runs``, its curves end at its last good epoch, the
        table and best run update, and its summary shows under the buttons. A diverged run also
        goes to ``on_diverged`` (the banner)."""
        rec.finish(result)
        self.runs.append(rec)
        self.panel.end_run(rec.run, rec.history)
        self.show()
        self.panel.say(self.summary(rec))
        if rec.diverged and self.on_diverged is not None:
            self.on_diverged(rec.message)
        for cb in list(self._callbacks):
            cb(rec)
        return rec

    def summary(self, rec: RunRecord) -> str:
        text = f"Run #{rec.run} ({rec.label or rec.engine}): {rec.message}"
        if rec.history and not rec.diverged and math.isfinite(rec.value):
            name = self.score_label[:1].upper() + self.score_label[1:]
            text += f" {name} {rec.value:.4f} in {rec.seconds:.2f} s."
        return text

    @staticmethod
    def outcome(rec: Any, stacklevel: int = 3) -> Any:
        """What a blocking Python call returns: ``rec`` itself (a record or a list of them); a
        ``RuntimeWarning`` with the message for each diverged one."""
        for r in rec if isinstance(rec, list | tuple) else [rec]:
            if isinstance(r, RunRecord) and r.diverged:
                warnings.warn(r.message, RuntimeWarning, stacklevel=stacklevel)
        return rec

    def on_finish(self, callback: Callable[[RunRecord], Any]) -> None:
        """Call ``callback(rec)`` after every finished run (done, stopped or diverged)."""
        self._callbacks.append(callback)

    # --- reading the book -------------------------------------------------------------------------
    @property
    def best_index(self) -> int:
        return best_run(self.runs)

    @property
    def best(self) -> RunRecord | None:
        """The finished, non-diverged run with the lowest score (None when there is none)."""
        i = self.best_index
        return self.runs[i] if i >= 0 else None

    @property
    def last(self) -> RunRecord | None:
        return self.runs[-1] if self.runs else None

    def rows(self) -> list[dict]:
        """The table's rows: each record's flat dict plus the lab's own cells."""
        return [{**r.as_dict(), **(self.row(r) if self.row else {})} for r in self.runs]

    def frame(self, columns: Sequence[str] | None = None):
        """The runs as a pandas DataFrame (``columns`` picks and orders them; no history)."""
        import pandas as pd

        rows = [{k: v for k, v in r.as_dict().items() if k != "history"} for r in self.runs]
        if columns is not None:
            rows = [{k: r.get(k) for k in columns} for r in rows]
        return pd.DataFrame(rows, columns=list(columns) if columns is not None else None)

    def show(self) -> None:
        """Redraw the table with the best run marked."""
        self.panel.show_runs(self.rows(), self.best_index)

    def clear(self) -> None:
        """Forget every run and its curves (the model stays as it is)."""
        self.runs = []
        self.panel.clear()
        self.show()
