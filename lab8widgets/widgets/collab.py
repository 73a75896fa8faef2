"""CollabLab: retrain the lesson's collaborative-filtering models in seconds, beside fastai's.

A thin view over ``lab8widgets.models.collab``: the controls pick ``DotProductBias`` (or ``CollabNN``)
settings, Train runs ``fit_collab`` in a background thread that streams its loss into a bqplot
chart, every run lands in a runs table (so the book's ablation can be rebuilt and overlaid), and
"Compare with fastai" trains fastai's own ``collab_learner`` on the same split. The bias tables and
the similar-movies lookup read ``lab.model``, the live torch module.
"""

from __future__ import annotations

import html
import math
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bqplot as bq
import ipywidgets as W
import numpy as np
import torch

from ..models.collab import (
    CollabData,
    FitResult,
    bias_table,
    bias_tables,
    check_fit_args,
    check_whole,
    collab_data,
    fit_collab,
    fit_fastai,
    get_emb_sz,
    make_model,
    similar_items,
)
from ._base import LabBase, LabInputError

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

__all__ = ["CollabLab"]

DATASETS = ("ml-100k", "ml-latest-small", "synthetic")
BATCH_SIZES = (64, 128, 256, 512, 1024)
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
COMBO_TITLES = 600  # most-rated titles offered in the similar-movies box (any title can be typed)
ABLATION = (  # the book's sequence, each step adding one idea
    ("dot product", dict(y_range=None, bias=False, wd=0.0)),
    ("+ y_range", dict(bias=False, wd=0.0)),
    ("+ bias", dict(wd=0.0)),
    ("+ weight decay", dict()),
    ("neural net", dict(use_nn=True)),
)
_CSS = """
<style>
.lab8-collab .lab8-table{border-collapse:collapse;font:12px system-ui,sans-serif;color:#222}
.lab8-collab .lab8-table th{background:#f3f4f6;text-align:left;padding:2px 6px;font-weight:600}
.lab8-collab .lab8-table td{padding:1px 6px;border-top:1px solid #eee;white-space:nowrap}
.lab8-collab .lab8-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.lab8-collab .lab8-table caption{caption-side:top;text-align:left;font-weight:600;padding:2px 0}
.lab8-collab .lab8-table tr.best td{background:#eef8ee}
.lab8-collab .lab8-note{font:12px system-ui,sans-serif;color:#444;line-height:1.4}
.lab8-collab .lab8-swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.lab8-collab .lab8-section{font:600 13px system-ui,sans-serif;margin:6px 0 2px}
.lab8-collab .widget-label{min-width:0}
</style>
"""


def auto_bs(n_train: int) -> int:
    """A batch size giving ~150+ steps an epoch: 512 for MovieLens (80k ratings), 64 for small sets.

    Big batches make an epoch cheap; the one-cycle schedule still needs enough steps to work.
    """
    bs = 64
    while bs < 512 and n_train / (bs * 2) >= 150:
        bs *= 2
    return bs


def _fmt(v: Any, digits: int = 4) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{digits}f}" if abs(v) < 1e4 else f"{v:.3g}"
    return str(v)


def _table(
    rows: list[dict],
    cols: Sequence[str],
    caption: str = "",
    cls: str = "",
    best: int = -1,
    raw: Sequence[str] = ("",),
) -> str:
    """A small HTML table; numbers right-aligned; row ``best`` highlighted; ``raw`` columns hold HTML."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = []
    for i, r in enumerate(rows):
        cells = []
        for c in cols:
            v = r.get(c, "")
            num = isinstance(v, (int, float)) and not isinstance(v, bool)
            text = v if c in raw else html.escape(_fmt(v))
            cells.append(f'<td class="{"num" if num else ""}">{text}</td>')
        body.append(f'<tr class="{"best" if i == best else ""}">{"".join(cells)}</tr>')
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f'<table class="lab8-table {cls}">{cap}<tr>{head}</tr>{"".join(body)}</table>'


def _row(*children: W.Widget) -> W.HBox:
    return W.HBox(
        list(children),
        layout=W.Layout(align_items="center", gap="10px", flex_flow="row wrap"),
    )


def _frame_rows(df: pd.DataFrame) -> list[dict]:
    return df.to_dict("records")


class CollabLab(LabBase):
    """Collaborative filtering on MovieLens (or your ratings): train, compare with fastai, read biases.

    ``ratings``: "ml-100k", "ml-latest-small", "synthetic", a folder holding either MovieLens
    layout, or a DataFrame with user, item and rating columns. With none, MovieLens 100k from the
    fastai cache or a download, else ml-latest-small from ``path``, else labelled synthetic ratings.
    """

    def __init__(
        self,
        ratings: Any = None,
        valid_pct: float = 0.2,
        seed: int | None = 42,
        *,
        path: str | Path | None = None,
        user_name: str | None = None,
        item_name: str | None = None,
        rating_name: str | None = None,
        **kwargs: Any,
    ):
        super().__init__(title="CollabLab · collaborative filtering (Lesson 8)", **kwargs)
        self.add_class("lab8-collab")
        self.seed = seed
        self.runs: list[dict] = []
        self.fastai_learner: Any = None
        self.truth: Any = None  # planted truth when the ratings are synthetic
        self._lock = threading.RLock()  # held by the trainer each step; readers take it too
        self._marks: dict[int, tuple[bq.Lines, bq.Lines]] = {}
        self._curves: dict[int, dict[str, list]] = {}
        self._curve_lock = threading.Lock()
        self._last_draw = 0.0
        self._similar_title = ""  # the last similar-movies lookup, redone after each run

        frame, source = self._load(ratings, path)
        self.data: CollabData = collab_data(
            frame, user_name, item_name, rating_name, valid_pct=valid_pct, seed=seed
        )
        self.default_bs = auto_bs(len(self.data.train_idx))
        self.source = f"{source} · {self.data.describe()}, split seed {seed}"
        self.model: nn.Module = make_model(self.data, 50, self.data.default_y_range())
        self._build()
        self._render_model_info()
        self._render_runs()
        self._render_biases()

    # --- data -------------------------------------------------------------------------------------
    def _load(self, ratings: Any, path: str | Path | None) -> tuple[pd.DataFrame, str]:
        import pandas as pd

        from .. import data as D

        if isinstance(ratings, pd.DataFrame):
            return ratings, f"your DataFrame ({len(ratings):,} rows)"
        if ratings is None:
            notes = []
            try:
                r = D.movielens("ml-100k", path=path)
                return r.ratings, r.source
            except FileNotFoundError as e:
                notes.append(f"MovieLens 100k: {_why(e)}")
            if path is not None:
                try:
                    r = D.movielens("ml-latest-small", path=path, download=False)
                    return r.ratings, r.source
                except FileNotFoundError as e:
                    notes.append(f"ml-latest-small: {_why(e)}")
            syn = D.synthetic_ratings()
            self.truth = syn.truth
            return syn.ratings, f"{syn.source}. Real data not found ({'; '.join(notes)})"
        if isinstance(ratings, str) and ratings in DATASETS:
            if ratings == "synthetic":
                syn = D.synthetic_ratings()
                self.truth = syn.truth
                return syn.ratings, syn.source
            r = D.movielens(ratings, path=path)
            return r.ratings, r.source
        if isinstance(ratings, (str, Path)) and Path(ratings).expanduser().exists():
            folder = Path(ratings).expanduser()
            folder = folder.parent if folder.is_file() else folder
            for name, marker in (("ml-100k", "u.data"), ("ml-latest-small", "ratings.csv")):
                if (folder / marker).is_file() or (folder / name / marker).is_file():
                    r = D.movielens(name, path=folder, download=False)
                    return r.ratings, r.source
            raise LabInputError(
                f"{folder} holds neither MovieLens layout (u.data for ml-100k, ratings.csv for "
                "ml-latest-small); pass a DataFrame with user, item and rating columns instead"
            )
        raise LabInputError(
            f"ratings must be one of {', '.join(map(repr, DATASETS))}, a MovieLens folder or a "
            f"DataFrame with user, item and rating columns; got {ratings!r}"
        )

    # --- views --------------------------------------------------------------------------------------
    def _build(self) -> None:
        d = self.data
        style = {"description_width": "initial"}
        self._model_kind = W.ToggleButtons(
            options=[("Dot product", False), ("Neural net", True)],
            value=False,
            style={"button_width": "96px"},
            tooltips=["DotProductBias from create_params", "CollabNN sized by get_emb_sz"],
        )
        self._model_kind.add_class("lab8-model-kind")
        self._factors = W.BoundedIntText(
            50,
            min=1,
            max=1000,
            description="n_factors",
            style=style,
            layout=W.Layout(width="140px"),
        )
        self._factors.add_class("lab8-factors")
        self._n_act = W.BoundedIntText(
            100,
            min=1,
            max=4096,
            description="hidden",
            style=style,
            layout=W.Layout(width="130px", display="none"),
        )
        self._n_act.add_class("lab8-nact")
        self._lr = W.FloatLogSlider(
            5e-3,
            base=10,
            min=-4,
            max=0,
            step=0.1,
            description="lr",
            readout_format=".1e",
            style=style,
            layout=W.Layout(width="290px"),
        )
        self._lr.add_class("lab8-lr")
        self._wd = W.BoundedFloatText(
            0.1,
            min=0.0,
            max=100.0,
            step=0.01,
            description="wd",
            style=style,
            layout=W.Layout(width="120px"),
        )
        self._wd.add_class("lab8-wd")
        self._epochs = W.BoundedIntText(
            5, min=1, max=1000, description="epochs", style=style, layout=W.Layout(width="120px")
        )
        self._epochs.add_class("lab8-epochs")
        options = sorted(set(BATCH_SIZES) | {self.default_bs})
        self._bs = W.Dropdown(
            options=options,
            value=self.default_bs,
            description="bs",
            style=style,
            layout=W.Layout(width="110px"),
        )
        self._bs.add_class("lab8-bs")
        lo, hi = d.default_y_range()
        self._y_range = W.Checkbox(
            True,
            description=f"y_range ({lo:g}, {hi:g})",
            indent=False,
            layout=W.Layout(width="150px"),
        )
        self._y_range.add_class("lab8-yrange")
        self._bias = W.Checkbox(
            True, description="bias", indent=False, layout=W.Layout(width="70px")
        )
        self._bias.add_class("lab8-bias")
        self.controls = {
            "use_nn": self._model_kind,
            "n_factors": self._factors,
            "n_act": self._n_act,
            "lr": self._lr,
            "wd": self._wd,
            "epochs": self._epochs,
            "bs": self._bs,
            "y_range": self._y_range,
            "bias": self._bias,
        }
        self._model_kind.observe(self._on_model_kind, "value")

        self._train_button = W.Button(
            description="Train",
            icon="play",
            button_style="primary",
            tooltip="fit DotProductBias / CollabNN with these settings",
        )
        self._train_button.add_class("lab8-train")
        self._train_button.on_click(lambda _b: self._click(self._on_train))
        self._compare_button = W.Button(
            description="Compare with fastai",
            layout=W.Layout(width="190px"),
            icon="balance-scale",
            tooltip="train fastai's collab_learner on the same split with these settings",
        )
        self._compare_button.add_class("lab8-compare")
        self._compare_button.on_click(lambda _b: self._click(self._on_compare))
        self._ablation_button = W.Button(
            description="Book's ablation",
            tooltip="dot product → + y_range → + bias → + weight decay → neural net",
        )
        self._ablation_button.add_class("lab8-ablation")
        self._ablation_button.on_click(lambda _b: self._click(self._on_ablation))
        self._clear_button = W.Button(
            description="Clear runs", tooltip="empty the runs table and the chart"
        )
        self._clear_button.add_class("lab8-clear")
        self._clear_button.on_click(lambda _b: self._click(self.clear_runs))
        self._message = W.HTML("")
        self._message.add_class("lab8-message")
        self.observe(self._on_busy_buttons, "busy")

        self._x = bq.LinearScale(min=0.0)
        self._y = bq.LogScale()
        self._ax_y = bq.Axis(
            scale=self._y,
            orientation="vertical",
            label="MSE",
            tick_format=".2f",
            grid_lines="dashed",
        )
        self.chart = bq.Figure(
            marks=[],
            axes=[bq.Axis(scale=self._x, label="epoch", grid_lines="none"), self._ax_y],
            title="train (dashed) and valid (solid) MSE per run",
            fig_margin={"top": 36, "bottom": 40, "left": 55, "right": 12},
            layout=W.Layout(width="540px", height="300px"),
            animation_duration=0,
        )
        self.chart.add_class("lab8-chart")
        self._yscale = W.ToggleButtons(
            options=["log", "linear"], value="log", style={"button_width": "56px"}
        )
        self._yscale.add_class("lab8-yscale")
        self._yscale.observe(self._on_yscale, "value")

        self._runs_html = W.HTML(layout=W.Layout(max_height="300px", overflow="auto"))
        self._runs_html.add_class("lab8-runs")
        self._model_info = W.HTML(layout=W.Layout(width="560px"))
        self._model_info.add_class("lab8-model-info")
        self._embsz_html = W.HTML(layout=W.Layout(display="none"))
        self._embsz_html.add_class("lab8-embsz")

        self._min_ratings = W.BoundedIntText(
            1,
            min=1,
            max=100_000,
            description="min ratings",
            style=style,
            layout=W.Layout(width="150px"),
        )
        self._min_ratings.add_class("lab8-min-ratings")
        self._min_ratings.observe(lambda _c: self._click(self._render_biases, clear=False), "value")
        self._bias_html = W.HTML()
        self._bias_html.add_class("lab8-bias-tables")

        top = d.item_counts.argsort()[::-1]
        titles = [str(d.items[i]) for i in top[:COMBO_TITLES] if i and d.item_counts[i] > 0]
        self._similar_input = W.Combobox(
            value="",
            options=titles,
            placeholder="type a title, e.g. " + (titles[0] if titles else ""),
            ensure_option=False,
            layout=W.Layout(width="340px"),
        )
        self._similar_input.add_class("lab8-similar-input")
        self._similar_k = W.BoundedIntText(
            5, min=1, max=50, description="k", style=style, layout=W.Layout(width="80px")
        )
        self._similar_k.add_class("lab8-similar-k")
        self._similar_button = W.Button(description="Most similar", icon="search")
        self._similar_button.add_class("lab8-similar-button")
        self._similar_button.on_click(lambda _b: self._click(self._on_similar))
        self._similar_html = W.HTML(
            '<div class="lab8-note">Cosine similarity of the item factors: the book\'s '
            "<code>nn.CosineSimilarity</code> over <code>movie_factors</code>.</div>"
        )
        self._similar_html.add_class("lab8-similar-table")

        settings = W.VBox(
            [
                _row(self._model_kind, self._factors, self._n_act, self._y_range, self._bias),
                _row(self._lr, self._wd, self._epochs, self._bs),
                _row(
                    self._train_button,
                    self._compare_button,
                    self._ablation_button,
                    self._clear_button,
                ),
                self._message,
            ]
        )
        chart_col = W.VBox(
            [
                self.chart,
                _row(W.HTML('<span class="lab8-note">y axis</span>'), self._yscale),
                self._model_info,
                self._embsz_html,
            ]
        )
        runs_col = W.VBox(
            [W.HTML('<div class="lab8-section">Runs</div>'), self._runs_html],
            layout=W.Layout(flex="1 1 auto", min_width="380px", overflow="auto"),
        )
        bias_col = W.VBox(
            [
                _row(
                    W.HTML('<div class="lab8-section">What the biases learned</div>'),
                    self._min_ratings,
                ),
                self._bias_html,
            ],
            layout=W.Layout(flex="1 1 auto"),
        )
        similar_col = W.VBox(
            [
                W.HTML('<div class="lab8-section">Similar movies</div>'),
                _row(self._similar_input, self._similar_k, self._similar_button),
                self._similar_html,
            ],
            layout=W.Layout(flex="0 1 560px"),
        )
        self.body.children = [
            W.HTML(_CSS, layout=W.Layout(display="none")),  # a <style> applies while hidden
            settings,
            W.HBox([chart_col, runs_col], layout=W.Layout(gap="12px", align_items="flex-start")),
            W.HBox([bias_col, similar_col], layout=W.Layout(gap="16px", align_items="flex-start")),
        ]

    def _click(self, fn, clear: bool = True) -> None:
        with self.guard(clear=clear):
            fn()

    def _on_busy_buttons(self, _change=None) -> None:
        for b in (
            self._train_button,
            self._compare_button,
            self._ablation_button,
            self._clear_button,
        ):
            b.disabled = self.busy

    def _on_model_kind(self, _change=None) -> None:
        nn_on = bool(self._model_kind.value)
        self._factors.layout.display = "none" if nn_on else ""
        self._n_act.layout.display = "" if nn_on else "none"
        self._bias.disabled = nn_on
        self._render_embsz()

    def _render_embsz(self) -> None:
        if not self._model_kind.value:
            self._embsz_html.layout.display = "none"
            return
        (nu, su), (ni, si) = get_emb_sz(self.data)
        rows = [
            {"column": self.data.user_name, "categories (with #na#)": nu, "width": su},
            {"column": self.data.item_name, "categories (with #na#)": ni, "width": si},
        ]
        self._embsz_html.value = _table(
            rows,
            ["column", "categories (with #na#)", "width"],
            caption="get_emb_sz: width = min(600, round(1.6 × n^0.56)), fastai's emb_sz_rule",
        )
        self._embsz_html.layout.display = ""

    def _render_model_info(self) -> None:
        m = self.model
        parts = ", ".join(f"<code>{n}</code> {tuple(p.shape)}" for n, p in m.named_parameters())
        total = sum(p.numel() for p in m.parameters())
        kind = type(m).__name__
        extra = ""
        if kind == "DotProductBias":
            yr = "none" if m.y_range is None else f"sigmoid_range{m.y_range}"
            extra = f" · y_range: {yr}"
        self._model_info.value = (
            f'<div class="lab8-note"><b>lab.model</b> = <code>{kind}</code>: {parts} · '
            f"{total:,} numbers in <code>model.parameters()</code>{extra}</div>"
        )

    def _render_runs(self) -> None:
        if not self.runs:
            self._runs_html.value = '<div class="lab8-note">No runs yet: press Train.</div>'
            return
        cols = [
            "",
            "#",
            "model",
            "y_range",
            "bias",
            "wd",
            "lr",
            "epochs",
            "bs",
            "valid MSE",
            "s",
            "status",
        ]
        rows = []
        done = [
            r["valid_mse"]
            for r in self.runs
            if r["status"] != "diverged" and math.isfinite(r["valid_mse"])
        ]
        best_mse = min(done) if done else None
        best = -1
        for i, r in enumerate(self.runs):
            yr = "–" if r["y_range"] is None else f"({r['y_range'][0]:g}, {r['y_range'][1]:g})"
            rows.append(
                {
                    "": f'<span class="lab8-swatch" style="background:{r["color"]}"></span>',
                    "#": r["run"],
                    "model": html.escape(
                        ("fastai " if r["engine"] == "fastai" else "") + (r["label"] or r["model"])
                    )
                    + f'<br><small style="color:#666">{html.escape(r["size"])}</small>',
                    "y_range": yr,
                    "bias": "yes" if r["bias"] else "no",
                    "wd": f"{r['wd']:g}",
                    "lr": f"{r['lr']:.1e}",
                    "epochs": f"{r['epochs_done']:g}/{r['epochs']}",
                    "bs": r["bs"],
                    "valid MSE": r["valid_mse"],
                    "s": f"{r['seconds']:.2f}",
                    "status": r["status"],
                }
            )
            if best_mse is not None and r["valid_mse"] == best_mse:
                best = i
        self._runs_html.value = _table(
            rows, cols, cls="lab8-runs-table", best=best, raw=("", "model")
        )

    def _render_biases(self) -> None:
        if bias_tables(self.model) is None:
            self._bias_html.value = (
                '<div class="lab8-note">This model has no biases (neural net, or bias off): '
                "train a dot-product model with bias to read them.</div>"
            )
            return
        if not any(r["engine"] == "lab8widgets" and r["status"] != "diverged" for r in self.runs):
            self._bias_html.value = '<div class="lab8-note">Train a model to read its biases.</div>'
            return
        k = int(self._min_ratings.value)
        with self._lock:
            tables = [
                ("Lowest movie biases", self.movie_bias(6, lowest=True, min_ratings=k), "title"),
                ("Highest movie biases", self.movie_bias(6, lowest=False, min_ratings=k), "title"),
                ("Lowest user biases", self.user_bias(6, lowest=True, min_ratings=k), "user"),
                ("Highest user biases", self.user_bias(6, lowest=False, min_ratings=k), "user"),
            ]
        cells = [
            _table(_frame_rows(df), [key, "bias", "n_ratings"], caption=cap)
            for cap, df, key in tables
        ]
        self._bias_html.value = (
            '<div style="display:grid;grid-template-columns:auto auto;gap:6px 18px">'
            + "".join(f"<div>{c}</div>" for c in cells)
            + "</div>"
            '<div class="lab8-note" style="max-width:640px;margin-top:4px">A movie\'s bias is what '
            "its factors cannot explain: a low bias means even viewers whose tastes match it tend "
            "to rate it low, a high one that people like it whatever their taste. A user's bias "
            "is how generous they are. n_ratings counts training ratings; weight decay keeps the "
            "rarely rated near 0.</div>"
        )

    # --- chart --------------------------------------------------------------------------------------
    def _on_yscale(self, _change=None) -> None:
        y = bq.LogScale() if self._yscale.value == "log" else bq.LinearScale(min=0.0)
        self._y = y
        with self.chart.hold_sync():
            for train, valid in self._marks.values():
                train.scales = {"x": self._x, "y": y}
                valid.scales = {"x": self._x, "y": y}
            self._ax_y.scale = y

    def _new_curves(self, n: int, color: str, label: str) -> None:
        common = dict(scales={"x": self._x, "y": self._y}, colors=[color])
        train = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            line_style="dashed",
            opacities=[0.7],
            labels=[f"#{n} train"],
            **common,
        )
        valid = bq.Lines(
            x=np.zeros(0),
            y=np.zeros(0),
            marker="circle",
            marker_size=24,
            stroke_width=2.5,
            labels=[f"#{n} {label} valid"],
            **common,
        )
        self._marks[n] = (train, valid)
        self._curves[n] = {"tx": [], "ty": [], "vx": [], "vy": []}
        self.chart.marks = [*self.chart.marks, train, valid]

    def _draw(self, n: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < 0.15:
            return
        self._last_draw = now
        with self._curve_lock:
            c = {k: np.asarray(v, dtype=float) for k, v in self._curves[n].items()}
        train, valid = self._marks[n]
        with train.hold_sync():
            train.x, train.y = c["tx"], c["ty"]
        with valid.hold_sync():
            valid.x, valid.y = c["vx"], c["vy"]

    def _on_event(self, n: int, task, ev: dict) -> None:
        kind = ev.get("kind")
        with self._curve_lock:
            c = self._curves[n]
            if kind == "step":
                c["tx"].append(ev["epoch"])
                c["ty"].append(ev["train_loss"])
            elif kind == "epoch":
                c["tx"].append(ev["epoch"])
                c["ty"].append(ev.get("window_loss", ev["train_loss"]))
                c["vx"].append(ev["epoch"])
                c["vy"].append(ev["valid_mse"])
        if kind in ("step", "epoch") and task is not None:
            text = f"run #{n} · epoch {ev['epoch']:.2f} · train {ev['train_loss']:.4f}"
            if kind == "epoch":
                text += f" · valid {ev['valid_mse']:.4f}"
            task.report(ev["step"] / max(ev["total"], 1), text)
        self._draw(n, force=kind == "epoch")

    # --- settings -----------------------------------------------------------------------------------
    def _resolve_y_range(self, y_range: Any) -> tuple[float, float] | None:
        if y_range is None or y_range is False:
            return None
        if y_range is True or (isinstance(y_range, str) and y_range == "auto"):
            return self.data.default_y_range()
        try:
            lo, hi = (float(v) for v in y_range)
        except (TypeError, ValueError):
            raise LabInputError(
                f"y_range must be None, 'auto' or (low, high), got {y_range!r}"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise LabInputError(f"y_range must be (low, high) with low < high, got {y_range!r}")
        return (lo, hi)

    def _settings(self) -> dict:
        """The controls as fit() arguments."""
        c = self.controls
        return dict(
            epochs=int(c["epochs"].value),
            lr=float(c["lr"].value),
            wd=float(c["wd"].value),
            n_factors=int(c["n_factors"].value),
            y_range="auto" if c["y_range"].value else None,
            bias=bool(c["bias"].value),
            use_nn=bool(c["use_nn"].value),
            n_act=int(c["n_act"].value),
            bs=int(c["bs"].value),
        )

    def _show_settings(self, s: dict) -> None:
        """Mirror a run's settings in the controls, so the page shows what ran."""
        c = self.controls
        c["epochs"].value = min(max(int(s["epochs"]), 1), 1000)
        c["lr"].value = float(s["lr"])
        c["wd"].value = min(float(s["wd"]), 100.0)
        if not s["use_nn"]:
            c["n_factors"].value = min(int(s["n_factors"]), 1000)
        c["n_act"].value = min(int(s["n_act"]), 4096)
        c["y_range"].value = s["y_range"] is not None
        c["bias"].value = bool(s["bias"])
        c["use_nn"].value = bool(s["use_nn"])
        if s["bs"] not in c["bs"].options:
            c["bs"].options = sorted({*c["bs"].options, int(s["bs"])})
        c["bs"].value = int(s["bs"])

    def _check(self, epochs, lr, wd, n_factors, y_range, bias, use_nn, n_act, bs) -> dict:
        """The settings of a run, checked; a bad one raises and is shown in the banner."""
        bs = self.default_bs if bs is None else bs
        try:
            epochs, lr, wd, bs = check_fit_args(epochs, lr, wd, bs)
            n_factors = check_whole("n_factors", n_factors, 1, 1000)
            n_act = check_whole("n_act", n_act, 1, 4096)
            y_range = self._resolve_y_range(y_range)
        except ValueError as e:  # LabInputError included
            self.error = str(e)
            raise LabInputError(str(e)) from None
        return dict(
            epochs=epochs,
            lr=lr,
            wd=wd,
            n_factors=n_factors,
            y_range=y_range,
            bias=bool(bias),
            use_nn=bool(use_nn),
            n_act=n_act,
            bs=bs,
        )

    # --- training -----------------------------------------------------------------------------------
    def fit(
        self,
        epochs: int = 5,
        lr: float = 5e-3,
        wd: float = 0.1,
        n_factors: int = 50,
        y_range: tuple[float, float] | str | None = "auto",
        bias: bool = True,
        use_nn: bool = False,
        *,
        n_act: int = 100,
        bs: int | None = None,
        seed: int | None = None,
        fresh: bool = True,
        wait: bool = True,
    ) -> list[dict]:
        """Train the book's DotProductBias (or CollabNN with ``use_nn``) with fit_one_cycle's recipe.

        ``y_range="auto"`` is the book's (0, 5.5) on a 5-star scale; ``bs=None`` picks a batch size
        for the data (512 on MovieLens). ``fresh=False`` keeps training ``lab.model``. Blocks
        until done unless ``wait=False``; returns the run's per-epoch history.
        """
        s = self._check(epochs, lr, wd, n_factors, y_range, bias, use_nn, n_act, bs)
        return self._start(lambda task: self._run_ours(task, s, seed, fresh), s, wait)

    def _start(self, fn, settings: dict, wait: bool):
        try:
            self._show_settings(settings)
            task = self.run_task(fn)
        except LabInputError as e:
            self.error = str(e)
            raise
        if not wait:
            return []
        try:
            self.wait()
        except KeyboardInterrupt:
            self.stop()
            self.wait()
            raise
        if task.exception is not None:
            raise task.exception
        return task.result

    def _record(self, engine: str, s: dict, label: str = "") -> dict:
        n = (self.runs[-1]["run"] + 1) if self.runs else 1
        model = (
            ("CollabNN" if s["use_nn"] else "DotProductBias")
            if engine == "lab8widgets"
            else ("EmbeddingNN" if s["use_nn"] else "EmbeddingDotBias")
        )
        if s["use_nn"]:
            (_, su), (_, si) = get_emb_sz(self.data)
            size = f"emb {su}+{si}, {s['n_act']} hidden"
        else:
            size = f"{s['n_factors']} factors"
        rec = dict(
            run=n,
            engine=engine,
            model=model,
            label=label,
            size=size,
            n_factors=s["n_factors"],
            n_act=s["n_act"],
            y_range=s["y_range"],
            bias=not s["use_nn"]
            and (s["bias"] or engine == "fastai"),  # fastai's dot model always has biases
            wd=s["wd"],
            lr=s["lr"],
            epochs=s["epochs"],
            bs=s["bs"],
            epochs_done=0,
            valid_mse=float("nan"),
            seconds=0.0,
            status="running",
            message="",
            history=[],
            color=COLORS[(n - 1) % len(COLORS)],
        )
        self._new_curves(n, rec["color"], label or engine)
        return rec

    def _finish(self, rec: dict, res: FitResult) -> None:
        rec["history"] = [dict(h) for h in res.history]
        rec["epochs_done"] = res.history[-1]["epoch"] if res.history else 0
        rec["valid_mse"] = res.valid_mse
        rec["seconds"] = res.seconds
        rec["status"] = res.status
        rec["message"] = res.message
        self.runs.append(rec)
        self._draw(rec["run"], force=True)
        self._render_runs()
        text = f"Run #{rec['run']} ({rec['engine']}): {res.message}"
        if res.history and res.status != "diverged":
            text += f" Valid MSE {rec['valid_mse']:.4f} in {rec['seconds']:.2f} s."
        self._message.value = f'<div class="lab8-note">{html.escape(text)}</div>'
        if res.status == "diverged":
            self.error = res.message
            warnings.warn(res.message, RuntimeWarning, stacklevel=3)

    def _run_ours(
        self, task, s: dict, seed: int | None, fresh: bool, label: str = ""
    ) -> list[dict]:
        run_seed = self._run_seed(seed)
        with self._lock:
            if fresh:
                with torch.random.fork_rng():  # the same settings start from the same weights
                    torch.manual_seed(run_seed)
                    model = make_model(
                        self.data, s["n_factors"], s["y_range"], s["bias"], s["use_nn"], s["n_act"]
                    )
            else:
                model = self.model
                want = "CollabNN" if s["use_nn"] else "DotProductBias"
                if type(model).__name__ != want:
                    raise LabInputError(
                        f"fresh=False continues lab.model, a {type(model).__name__}; asked for {want}"
                    )
            self.model = model
        rec = self._record("lab8widgets", s, label)
        self._render_model_info()
        task.report(0.0, f"run #{rec['run']}: training {type(model).__name__}…")
        res = fit_collab(
            model,
            self.data,
            s["epochs"],
            s["lr"],
            s["wd"],
            s["bs"],
            seed=run_seed,
            callback=lambda ev: self._on_event(rec["run"], task, ev),
            should_stop=lambda: task.stopped,
            lock=self._lock,
        )
        self._finish(rec, res)
        self._render_biases()
        self._refresh_similar()
        return rec["history"]

    def _run_seed(self, seed: int | None) -> int:
        """Runs are reproducible: the same settings give the same curve unless a seed is given."""
        if seed is not None:
            return int(seed)
        return 0 if self.seed is None else int(self.seed)

    def compare_fastai(
        self,
        epochs: int = 5,
        lr: float = 5e-3,
        wd: float = 0.1,
        n_factors: int = 50,
        y_range: tuple[float, float] | str | None = "auto",
        use_nn: bool = False,
        *,
        n_act: int = 100,
        bs: int | None = None,
        seed: int | None = None,
        wait: bool = True,
    ) -> list[dict]:
        """Train fastai's ``collab_learner`` on the same split and settings; its per-epoch history.

        ``bs=None`` uses the lab's batch size (pass 64 for the book's recipe). fastai's learner is
        kept in ``lab.fastai_learner``; both curves share the chart.
        """
        s = self._check(epochs, lr, wd, n_factors, y_range, True, use_nn, n_act, bs)
        return self._start(lambda task: self._run_fastai(task, s, seed), s, wait)

    def _run_fastai(self, task, s: dict, seed: int | None) -> list[dict]:
        rec = self._record("fastai", s)
        task.report(0.0, f"run #{rec['run']}: importing fastai and building its DataLoaders…")
        res = fit_fastai(
            self.data,
            s["epochs"],
            s["lr"],
            s["wd"],
            s["n_factors"],
            s["y_range"],
            s["use_nn"],
            s["n_act"],
            s["bs"],
            seed=self._run_seed(seed),
            callback=lambda ev: self._on_event(rec["run"], task, ev),
            should_stop=lambda: task.stopped,
        )
        self.fastai_learner = res.learner
        self._finish(rec, res)
        return rec["history"]

    def ablation(
        self,
        epochs: int = 5,
        lr: float = 5e-3,
        wd: float = 0.1,
        n_factors: int = 50,
        *,
        bs: int | None = None,
        n_act: int = 100,
        wait: bool = True,
    ) -> list[dict]:
        """The book's sequence in one go: dot product, + y_range, + bias, + weight decay, neural net.

        Each step adds one idea to the previous (``wd`` applies from "+ weight decay" on); the
        runs land in ``lab.runs`` and their curves overlay on the chart. Returns the new runs.
        """
        base = self._check(epochs, lr, wd, n_factors, "auto", True, False, n_act, bs)
        steps = []
        for label, change in ABLATION:
            s = dict(base, **change)
            s["y_range"] = self._resolve_y_range(s["y_range"]) if s["y_range"] else None
            steps.append((label, s))

        def run_all(task):
            start = len(self.runs)
            for label, s in steps:
                if task.stopped:
                    break
                self._run_ours(task, s, None, True, label=label)
            return self.runs[start:]

        return self._start(run_all, base, wait)

    def clear_runs(self) -> None:
        """Forget every run and its curves (lab.model stays as it is)."""
        if self.busy:
            raise LabInputError("A run is in progress: press Stop first.")
        self.runs = []
        self._marks = {}
        self._curves = {}
        self.chart.marks = []
        self._message.value = ""
        self._render_runs()

    # --- buttons ------------------------------------------------------------------------------------
    def _on_train(self) -> None:
        self.fit(**self._settings(), wait=False)

    def _on_compare(self) -> None:
        s = self._settings()
        s.pop("bias")
        self.compare_fastai(**s, wait=False)

    def _on_ablation(self) -> None:
        s = self._settings()
        self.ablation(
            s["epochs"],
            s["lr"],
            s["wd"] or 0.1,
            s["n_factors"],
            bs=s["bs"],
            n_act=s["n_act"],
            wait=False,
        )

    def _on_similar(self) -> None:
        title = self._similar_input.value.strip()
        if not title:
            raise LabInputError("Type a movie title first (the box suggests the most rated ones).")
        df = self.similar(
            title, k=int(self._similar_k.value), min_ratings=int(self._min_ratings.value)
        )
        self._similar_title = title
        self._similar_html.value = _table(
            _frame_rows(df),
            ["title", "similarity", "n_ratings"],
            caption=f"Most similar to {title}",
        )

    def _refresh_similar(self) -> None:
        if self._similar_title:
            try:
                self._on_similar()
            except (KeyError, ValueError):
                pass

    # --- reading the model --------------------------------------------------------------------------
    @property
    def history(self) -> list[dict]:
        """The last finished run's per-epoch history (empty before the first run)."""
        return self.runs[-1]["history"] if self.runs else []

    def movie_bias(self, n: int = 10, lowest: bool = True, min_ratings: int = 1) -> pd.DataFrame:
        """The n movies with the lowest (or highest) learned bias, with their training-rating counts."""
        with self._lock:
            return bias_table(self.model, self.data, "item", n, lowest, min_ratings)

    def user_bias(self, n: int = 10, lowest: bool = True, min_ratings: int = 1) -> pd.DataFrame:
        """The n users with the lowest (or highest) learned bias, with their training-rating counts."""
        with self._lock:
            return bias_table(self.model, self.data, "user", n, lowest, min_ratings)

    def similar(self, title: str, k: int = 5, min_ratings: int = 1) -> pd.DataFrame:
        """The k titles whose item factors are closest in direction (cosine) to ``title``'s."""
        with self._lock:
            return similar_items(self.model, self.data, title, k, min_ratings)

    def get_emb_sz(self) -> list[tuple[int, int]]:
        """fastai's embedding sizes for this data (what ``use_nn=True`` builds)."""
        return get_emb_sz(self.data)

    def runs_frame(self) -> pd.DataFrame:
        """The runs table as a DataFrame (settings, final valid MSE, seconds, status)."""
        import pandas as pd

        keep = [
            "run",
            "engine",
            "model",
            "label",
            "size",
            "y_range",
            "bias",
            "wd",
            "lr",
            "epochs",
            "epochs_done",
            "bs",
            "valid_mse",
            "seconds",
            "status",
        ]
        return pd.DataFrame([{k: r[k] for k in keep} for r in self.runs], columns=keep)

    def refresh(self) -> None:
        """Re-read ``lab.model`` into the views (after changing it in a notebook cell)."""
        self._render_model_info()
        self._render_biases()
        self._refresh_similar()


def _why(err: FileNotFoundError) -> str:
    """The short reason from movielens()'s 'not found' message: what happened to the download."""
    lines = [ln.strip(" -") for ln in str(err).splitlines()]
    dl = [ln for ln in lines if ln.startswith("download")]
    if not dl:
        return "not found"
    head, _, why = dl[-1].partition(": ")
    return f"not in the fastai cache, download {why or head}"
