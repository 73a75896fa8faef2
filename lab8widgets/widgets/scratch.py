"""ScratchLab: the lesson's embeddings from scratch, each claim as something to poke.

A thin view over ``lab8widgets.models.embedding``: which tensors a module tracks (``nn.Parameter``),
an embedding lookup beside the one-hot matrix product it replaces (values, gradients, timing),
``create_params`` against ``nn.Embedding`` initialisation, and a poem turned into ids and rows.
All math lives in the model module; this file wires widgets to it.
"""

from __future__ import annotations

import html
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as W
import torch
import traitlets
from torch import nn

from ..models import embedding as M
from ._base import LabBase, reject_unknown
from .grid import HeatmapGrid

POEM_PATH = Path(__file__).resolve().parent.parent / "data" / "assets" / "dickinson_hope.txt"
POEM_SOURCE = (
    'Emily Dickinson, "Hope is the thing with feathers" (Poems, Second Series, 1891; public domain)'
)
TABLES = ("toy", "users", "movies", "words")
_ASKS = {"toy": "rows", "users": "user ids", "movies": "movie ids", "words": "words or rows"}

_CSS = """
<style>
.lab8-scratch .lab8-section{font:600 14px system-ui,sans-serif;margin:10px 0 2px;
  border-top:1px solid #ddd;padding-top:6px}
.lab8-scratch .lab8-note{font:12px system-ui,sans-serif;color:#333;line-height:1.45;max-width:780px}
.lab8-scratch .lab8-table{border-collapse:collapse;font:12px system-ui,sans-serif;color:#222}
.lab8-scratch .lab8-table th{background:#f3f4f6;text-align:left;padding:2px 6px;font-weight:600}
.lab8-scratch .lab8-table td{padding:1px 6px;border-top:1px solid #eee;white-space:nowrap}
.lab8-scratch .lab8-table td.num{text-align:right;font-variant-numeric:tabular-nums}
.lab8-scratch .lab8-code{font:12px ui-monospace,monospace;background:#f7f7f9;padding:6px 8px;
  border-radius:4px;white-space:pre;margin:0;overflow-x:auto}
.lab8-scratch .lab8-code b{color:#8a1c1c}
.lab8-scratch .lab8-op{font:600 20px system-ui,sans-serif;align-self:center;padding:0 2px}
.lab8-scratch .lab8-ok{color:#1a7f37;font-weight:600}
.lab8-scratch .lab8-word{padding:0 2px;border-radius:3px;cursor:default}
.lab8-scratch .lab8-word:hover,.lab8-scratch tr.lab8-vrow:hover{background:#ffe08a}
.lab8-scratch .lab8-poem{font:14px Georgia,serif;line-height:1.7}
.lab8-scratch .lab8-vocab-box{max-height:400px;overflow:auto}
.lab8-scratch .widget-label{min-width:0}
</style>
"""


def _row(*children: W.Widget, gap: str = "10px", **layout: Any) -> W.HBox:
    """A row that wraps: in an 850 px notebook column its panels stack instead of being clipped."""
    return W.HBox(
        list(children),
        layout=W.Layout(
            **{"flex_flow": "row wrap", "align_items": "flex-start", "gap": gap, **layout}
        ),
    )


def _scroll(child: W.Widget, max_height: str = "360px") -> W.Box:
    """A box that scrolls its (possibly huge) matrix instead of clipping it or the page."""
    return W.Box([child], layout=W.Layout(max_width="100%", max_height=max_height, overflow="auto"))


def _op(symbol: str, operand: W.Widget) -> W.HBox:
    """An operator glued to its right operand, so a wrapping row never leaves it alone at an end."""
    return W.HBox(
        [W.HTML(f'<div class="lab8-op">{symbol}</div>'), operand],
        layout=W.Layout(align_items="flex-start", max_width="100%"),
    )


def _cell(rows: int, cols: int, budget: int = 300, lo: int = 3, hi: int = 22) -> int:
    return int(min(hi, max(lo, budget // max(rows, cols, 1))))


def _grid(cls: str, title: str, **kw: Any) -> HeatmapGrid:
    g = HeatmapGrid(title=title, decimals=0 if cls == "lab8-scratch-onehot" else 2, **kw)
    g.add_class(cls)
    return g


def _vec(t: torch.Tensor, n: int = 4) -> str:
    vals = [f"{v:+.3f}" for v in t.flatten()[:n].tolist()]
    return "[" + ", ".join(vals) + (", …]" if t.numel() > n else "]")


def _load_ratings(path: str | Path | None):
    """MovieLens when it is on this machine (a path or the fastai cache), else synthetic ratings."""
    from .. import data as D

    for name in ("ml-100k", "ml-latest-small"):
        try:
            r = D.movielens(name, path=path, download=False)
            return r.ratings, r.source
        except FileNotFoundError:
            continue
    syn = D.synthetic_ratings()
    return syn.ratings, f"{syn.source} (MovieLens not found on this machine)"


class ScratchLab(LabBase):
    """Embeddings from scratch: ``nn.Parameter``, lookup = one-hot × matrix, init, words as rows.

    ``text`` replaces the shipped poem; ``path`` points at a MovieLens folder for user and movie ids
    (else the fastai cache, else synthetic ratings); ``n_factors`` is the width of the toy table.
    """

    use_parameter = traitlets.Bool(True)

    def __init__(
        self,
        text: str | None = None,
        path: str | Path | None = None,
        n_factors: int = 4,
        seed: int = 0,
        **kwargs: Any,
    ):
        reject_unknown(
            type(self).__name__, kwargs, ("text", "path", "n_factors", "seed")
        )  # before any work
        super().__init__(title="Embeddings from scratch: nn.Parameter, lookups and words")
        self.add_class("lab8-scratch")
        self.seed = M.as_int(seed, "seed")
        n_factors = M.as_int(n_factors, "n_factors")
        if not 1 <= n_factors <= 64:
            raise ValueError(f"n_factors must be from 1 to 64, got {n_factors}")
        self.model = M.ToggleModule(seed=self.seed)
        self.last_step: M.StepResult | None = None
        self._n_steps = 0
        self._syncing = False
        self.timings: list[dict[str, float]] = []

        frame, source = _load_ratings(path)
        self.users, self._user_rows = M.id_classes(frame["user"].tolist())
        self.movies, self._movie_rows = M.id_classes(frame["movie"].tolist())
        n = min(len(frame), 2000)
        x = torch.tensor(
            [
                [self._user_rows[u] for u in frame["user"].iloc[:n]],
                [self._movie_rows[m] for m in frame["movie"].iloc[:n]],
            ]
        ).T
        y = torch.tensor(frame["rating"].iloc[:n].to_numpy(), dtype=torch.float32)
        self.init = M.init_comparison(x, y, len(self.users), len(self.movies), seed=self.seed)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            self._toy = nn.Embedding(8, n_factors).weight
        self.words = M.Words(n_factors=8, seed=self.seed)
        self.words.update(POEM_PATH.read_text() if text is None else text)
        self._text = POEM_PATH.read_text() if text is None else str(text)
        self.source = f"ids: {source} · text: " + (POEM_SOURCE if text is None else "your text")
        self.table = "toy"
        self.comparison = M.compare_paths(self._toy, [3, 1, 3], seed=self.seed)
        self.selected_word = self.words.vocab[0]

        self._build()
        self._show_params()
        self._show_lookup()
        self._show_init()
        self._show_words()

    # --- public API ---------------------------------------------------------------------------
    @contextmanager
    def _api(self):
        """A Python call with bad input: the banner says why, the ValueError is raised, nothing changes."""
        try:
            yield
        except (ValueError, KeyError, TypeError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            self.fail(str(msg))
            raise
        else:
            self.clear_error()

    @property
    def parameter_names(self) -> list[str]:
        """What ``lab.model.named_parameters()`` lists now."""
        return [name for name, _ in self.model.named_parameters()]

    @traitlets.observe("use_parameter")
    def _on_use_parameter(self, change) -> None:
        self.model.set_use_parameter(change["new"])
        if hasattr(self, "_toggle"):
            self._toggle.value = bool(change["new"])
            self.last_step = None
            self._show_params()

    def step(self, lr: float = 0.1) -> dict[str, bool]:
        """One SGD step over ``model.parameters()``; which tensors moved."""
        with self._api():
            self.last_step = M.sgd_step(self.model, lr=lr, seed=self.seed + self._n_steps)
            self._n_steps += 1
        self._show_params()
        return dict(self.last_step.moved)

    def table_matrix(self, name: str | None = None) -> torch.Tensor:
        """The embedding matrix a lookup reads: the toy table, the model's user or movie factors
        (``create_params``), or the words' matrix."""
        name = self.table if name is None else name
        if name == "toy":
            return self._toy
        if name == "users":
            return self.init.create_params_model.user_factors
        if name == "movies":
            return self.init.create_params_model.movie_factors
        if name == "words":
            return self.words.emb
        raise ValueError(f"unknown table {name!r}: choose one of {', '.join(TABLES)}")

    def set_table(self, name: str, indices: Any = None) -> None:
        """Look up in another table; indices default to a few valid rows of it."""
        with self._api():
            E = self.table_matrix(name)
            idx = indices if indices is not None else self._default_indices(name)
            self.comparison = M.compare_paths(E, idx, seed=self.seed)
            self.table = name
        self._show_lookup()

    @property
    def indices(self) -> list[int]:
        """The rows looked up (settable: a list of ints, each in range for the current table)."""
        return list(self.comparison.indices)

    @indices.setter
    def indices(self, idx: Any) -> None:
        with self._api():
            self.comparison = M.compare_paths(self.table_matrix(), idx, seed=self.seed)
        self._show_lookup()

    def pick(self, text: str) -> list[int]:
        """Indices from what a learner types: rows (toy), user or movie ids, or words (words)."""
        with self._api():
            idx = self._parse(text)
            self.comparison = M.compare_paths(self.table_matrix(), idx, seed=self.seed)
        self._show_lookup()
        return self.indices

    @property
    def one_hot_product(self) -> torch.Tensor:
        """``one_hot(indices) @ E``."""
        return self.comparison.product

    @property
    def lookup(self) -> torch.Tensor:
        """``E[indices]`` (``F.embedding``)."""
        return self.comparison.lookup

    @property
    def grads(self) -> dict[str, torch.Tensor]:
        """Gradients on ``E`` after backward through each path (the same upstream gradient)."""
        return {"one_hot": self.comparison.grad_one_hot, "lookup": self.comparison.grad_lookup}

    @property
    def text(self) -> str:
        return self._text

    @text.setter
    def text(self, value: Any) -> None:
        with self._api():
            self.words.update(value)  # raises before anything changes
            self._text = value
        if self._text_box.value != value:
            self._text_box.value = value
        self._after_words()

    @property
    def vocab(self) -> list[str]:
        return list(self.words.vocab)

    @property
    def ids(self) -> list[int]:
        return self.words.ids

    def select_word(self, word: str) -> None:
        """Highlight ``word``'s row in the vocabulary matrix and its tokens in the text's matrix."""
        with self._api():
            self.words.rows_for_words([word])
            self.selected_word = str(word).strip().lower()
        self._show_word_highlight()

    def time_paths(self, sizes=(10, 100, 1_000, 10_000, 100_000), wait: bool = False):
        """Time both paths at growing vocabulary sizes in the background (Stop works)."""
        sizes = [M.as_int(s, "vocabulary size") for s in sizes]
        with self._api():
            if not sizes or any(s < 1 or s > 1_000_000 for s in sizes):
                raise ValueError("vocabulary sizes must be whole numbers from 1 to 1,000,000")
        self.timings = []

        def work(task):
            return M.time_paths(sizes, should_stop=lambda: task.stopped, progress=task.report)

        def done(task):
            if task.result is not None:
                self.timings = task.result
                self._show_timings()

        task = self.run_task(work, on_done=done)
        if wait:
            self.wait()
        return task

    def reinit(self, seed: int | None = None) -> None:
        """Draw both initialisations again (new seed) and redraw their histograms."""
        with self._api():
            seed = self.seed + 1 if seed is None else M.as_int(seed, "seed")
            c = self.init
            self.init = M.init_comparison(c.x, c.y, len(self.users), len(self.movies), seed=seed)
            self.seed = seed
        if self.table in ("users", "movies"):
            self.set_table(self.table, self.indices)
        self._show_init()

    # --- helpers ------------------------------------------------------------------------------
    def _default_indices(self, name: str) -> list[int]:
        if name == "toy":
            return [3, 1, 3]
        if name == "words":
            return self.words.ids[:3] + self.words.ids[:1]
        x = self.init.x[:, 0 if name == "users" else 1]
        return [int(x[0]), int(x[1]), int(x[0])]

    def _parse(self, text: str) -> list[int]:
        parts = _split(text)
        if self.table == "toy":
            return M.parse_ints(text, "row")
        if self.table == "users":
            return M.rows_for_ids(M.parse_ints(text, "user id"), self._user_rows, "user id")
        if self.table == "movies":
            return M.rows_for_ids(M.parse_ints(text, "movie id"), self._movie_rows, "movie id")
        if not parts:
            raise ValueError("type at least one word or row")
        return [
            M.as_int(p) if p.strip("+-").isdigit() else self.words.rows_for_words([p])[0]
            for p in parts
        ]

    def _display_indices(self) -> str:
        idx = self.indices
        if self.table == "users":
            return ", ".join(str(self.users[i]) for i in idx)
        if self.table == "movies":
            return ", ".join(str(self.movies[i]) for i in idx)
        if self.table == "words":
            return ", ".join(self.words.vocab[i] for i in idx)
        return ", ".join(map(str, idx))

    def _click(self, fn, *args) -> None:
        with self.guard():
            fn(*args)

    # --- building the views -------------------------------------------------------------------
    def _build(self) -> None:
        # 1. nn.Parameter
        self._toggle = W.Checkbox(
            value=self.use_parameter, description="wrap a in nn.Parameter", indent=False
        )
        self._toggle.add_class("lab8-scratch-toggle")
        self._toggle.observe(
            lambda ch: self._click(setattr, self, "use_parameter", ch["new"]), "value"
        )
        self._step_button = W.Button(description="One SGD step", icon="step-forward")
        self._step_button.add_class("lab8-scratch-step")
        self._step_button.on_click(lambda _b: self._click(self.step))
        self._code = W.HTML(layout=W.Layout(width="430px", max_width="100%"))
        self._code.add_class("lab8-scratch-code")
        self._params_html = W.HTML(layout=W.Layout(width="380px", max_width="100%"))
        self._params_html.add_class("lab8-scratch-params")
        self._step_html = W.HTML()
        self._step_html.add_class("lab8-scratch-moved")

        # 2. lookup = one-hot × matrix
        self._table_dd = W.Dropdown(
            options=[
                (f"toy: nn.Embedding(8, {self._toy.shape[1]})", "toy"),
                (f"MovieLens users ({len(self.users) - 1:,})", "users"),
                (f"MovieLens movies ({len(self.movies) - 1:,})", "movies"),
                ("words of the text", "words"),
            ],
            value="toy",
            description="table",
            layout=W.Layout(width="300px"),
        )
        self._table_dd.add_class("lab8-scratch-table")
        self._table_dd.observe(lambda ch: self._click(self.set_table, ch["new"]), "value")
        self._idx_box = W.Text(
            value="3, 1, 3",
            description="rows",
            continuous_update=False,
            layout=W.Layout(width="300px"),
        )
        self._idx_box.add_class("lab8-scratch-indices")
        self._idx_box.observe(
            lambda ch: None if self._syncing else self._click(self.pick, ch["new"]), "value"
        )
        self._g_onehot = _grid("lab8-scratch-onehot", "one_hot(idx)", cmap="gray")
        self._g_E = _grid("lab8-scratch-E", "E")
        self._g_product = _grid("lab8-scratch-product", "one_hot(idx) @ E")
        self._g_lookup = _grid("lab8-scratch-lookup", "E[idx]")
        self._g_grad_oh = _grid("lab8-scratch-grad-onehot", "E.grad via one-hot")
        self._g_grad_lk = _grid("lab8-scratch-grad-lookup", "E.grad via E[idx]")
        self._lookup_html = W.HTML()
        self._lookup_html.add_class("lab8-scratch-equal")
        self._time_button = W.Button(description="Time both paths", icon="clock-o")
        self._time_button.add_class("lab8-scratch-time")
        self._time_button.on_click(lambda _b: self._click(self.time_paths))
        tx, ty = bq.LogScale(), bq.LogScale()
        self._time_lines = bq.Lines(
            x=[],
            y=[],
            scales={"x": tx, "y": ty},
            colors=["#d62728", "#1f77b4"],
            labels=["one-hot @ E", "E[idx]"],
            display_legend=True,
            marker="circle",
        )
        self.timing_chart = bq.Figure(
            marks=[self._time_lines],
            axes=[
                bq.Axis(scale=tx, label="vocabulary size (rows of E)"),
                bq.Axis(scale=ty, orientation="vertical", label="ms per lookup of 64 ids"),
            ],
            title="Why the lookup is the shortcut",
            legend_location="top-left",
            fig_margin=dict(top=40, bottom=45, left=60, right=10),
            layout=W.Layout(width="420px", height="300px"),
        )
        self.timing_chart.add_class("lab8-scratch-timing")
        self._timing_html = W.HTML(
            '<div class="lab8-note">Press <b>Time both paths</b>: both run on tables of 10 to '
            "100,000 rows (a few seconds, in the background; Stop works).</div>",
            layout=W.Layout(max_width="100%"),
        )
        self._timing_html.add_class("lab8-scratch-timing-text")

        # 3. create_params vs nn.Embedding
        self._hist_figs: dict[str, tuple[bq.Figure, bq.Lines]] = {}
        for key, colour, fmt in (
            ("create_params", "#2ca02c", ".2f"),
            ("nn.Embedding", "#9467bd", ".0f"),
        ):
            xs, ys = bq.LinearScale(), bq.LinearScale(min=0)
            line = bq.Lines(
                x=[], y=[], scales={"x": xs, "y": ys}, colors=[colour], fill="bottom",
                interpolation="step-after", fill_opacities=[0.4],
            )  # fmt: skip
            fig = bq.Figure(
                marks=[line],
                axes=[
                    bq.Axis(scale=xs, label="weight", num_ticks=5, tick_format=fmt),
                    bq.Axis(scale=ys, orientation="vertical", label="count"),
                ],
                title=key,
                fig_margin=dict(top=40, bottom=45, left=60, right=10),
                layout=W.Layout(width="250px", height="240px"),
            )
            fig.add_class("lab8-scratch-hist")
            self._hist_figs[key] = (fig, line)
        px, py = bq.LinearScale(), bq.LinearScale(min=0)
        self._pred_lines = bq.Lines(
            x=[], y=[], scales={"x": px, "y": py}, colors=["#2ca02c", "#9467bd"],
            labels=["create_params", "nn.Embedding"], fill="bottom",
            interpolation="step-after", fill_opacities=[0.35, 0.35],
        )  # fmt: skip
        self.prediction_chart = bq.Figure(
            marks=[self._pred_lines],
            axes=[
                bq.Axis(scale=px, label="first prediction (y_range 0–5.5)"),
                bq.Axis(scale=py, orientation="vertical", label="count"),
            ],
            title="First predictions",
            fig_margin=dict(top=40, bottom=45, left=60, right=10),
            layout=W.Layout(width="290px", height="240px"),
        )
        self.prediction_chart.add_class("lab8-scratch-preds")
        self._init_html = W.HTML()
        self._init_html.add_class("lab8-scratch-init")
        self._reinit_button = W.Button(description="Draw again", icon="refresh")
        self._reinit_button.add_class("lab8-scratch-reinit")
        self._reinit_button.on_click(lambda _b: self._click(self.reinit))

        # 4. words
        self._text_box = W.Textarea(
            value=self._text, rows=9, continuous_update=False, layout=W.Layout(width="360px")
        )
        self._text_box.add_class("lab8-scratch-text")
        self._text_box.observe(lambda ch: self._click(setattr, self, "text", ch["new"]), "value")
        self._text_button = W.Button(description="Turn into rows", icon="arrow-right")
        self._text_button.add_class("lab8-scratch-apply-text")
        self._text_button.on_click(
            lambda _b: self._click(setattr, self, "text", self._text_box.value)
        )
        self._words_html = W.HTML(layout=W.Layout(flex="1 1 420px", max_width="100%"))
        self._words_html.add_class("lab8-scratch-words")
        self._word_dd = W.Dropdown(description="word", layout=W.Layout(width="220px"))
        self._word_dd.add_class("lab8-scratch-word")
        self._word_dd.observe(
            lambda ch: ch["new"] and self._click(self.select_word, ch["new"]), "value"
        )
        self._g_vocab = _grid("lab8-scratch-vocab-matrix", "E (one row a word)")
        self._g_vocab.on_click(lambda r, _c: self._click(self._pick_vocab_row, r))
        self._g_poem = _grid("lab8-scratch-poem-matrix", "the text as rows: E[ids]")
        self._words_summary = W.HTML()
        self._words_summary.add_class("lab8-scratch-words-summary")

        section = lambda t: W.HTML(f'<div class="lab8-section">{t}</div>')  # noqa: E731
        note = lambda t: W.HTML(f'<div class="lab8-note">{t}</div>')  # noqa: E731
        self.body.children = [
            W.HTML(_CSS, layout=W.Layout(display="none")),  # a <style> applies while hidden
            section("1 · What a module tracks: <code>nn.Parameter</code>"),
            note(
                "<code>parameters()</code> lists only tensors wrapped in <code>nn.Parameter</code> "
                "(or held by a sub-module such as <code>nn.Linear</code>), and the optimizer only "
                "moves what <code>parameters()</code> lists. Flip the wrap and take a step."
            ),
            _row(self._toggle, self._step_button, align_items="center"),
            _row(self._code, self._params_html),
            self._step_html,
            section(
                "2 · An embedding is a lookup: <code>one_hot(idx) @ E</code> = <code>E[idx]</code>"
            ),
            _row(self._table_dd, self._idx_box, align_items="center"),
            _row(
                _scroll(self._g_onehot, "240px"),
                _op("@", _scroll(self._g_E, "620px")),
                _op("=", _scroll(self._g_product)),
                _op("≡", _scroll(self._g_lookup)),
                gap="4px",
            ),
            _row(
                _scroll(self._g_grad_oh, "620px"),
                _scroll(self._g_grad_lk, "620px"),
                self._lookup_html,
            ),
            _row(
                W.VBox([self._time_button, self.timing_chart]),
                self._timing_html,
            ),
            section(
                "3 · How the tables start: <code>create_params</code> vs <code>nn.Embedding</code>"
            ),
            _row(
                self._hist_figs["create_params"][0],
                self._hist_figs["nn.Embedding"][0],
                self.prediction_chart,
                gap="4px",
            ),
            _row(self._reinit_button, self._init_html, align_items="center"),
            section("4 · Words become ids, ids become rows"),
            _row(W.VBox([self._text_box, self._text_button]), self._words_html),
            _row(self._word_dd, self._words_summary, align_items="center"),
            _row(_scroll(self._g_vocab, "420px"), _scroll(self._g_poem, "420px")),
        ]

    # --- rendering ----------------------------------------------------------------------------
    def _show_params(self) -> None:
        m = self.model
        a_line = (
            "self.a = <b>nn.Parameter</b>(torch.ones(3))"
            if m.use_parameter
            else "self.a = torch.ones(3)  <i># plain tensor</i>"
        )
        self._code.value = (
            '<pre class="lab8-code">class T(nn.Module):\n    def __init__(self):\n'
            f"        super().__init__()\n        {a_line}\n"
            f"        self.lin = nn.Linear({m.lin.in_features}, {m.lin.out_features})\n"
            "    def forward(self, x): return self.lin(x * self.a)</pre>"
        )
        rows = "".join(
            f'<tr data-name="{n}"><td><code>{n}</code></td><td>{tuple(p.shape)}</td>'
            f"<td>{p.requires_grad}</td></tr>"
            for n, p in m.named_parameters()
        )
        untracked = [k for k, v in m.tensors().items() if not isinstance(v, nn.Parameter)]
        miss = (
            f'<div class="lab8-note">Not listed: <code>{", ".join(untracked)}</code> '
            "(a plain tensor attribute), so the optimizer never sees it.</div>"
            if untracked
            else ""
        )
        lin = m.lin
        self._params_html.value = (
            '<table class="lab8-table lab8-scratch-param-table"><caption style="text-align:left">'
            f"<code>list(t.named_parameters())</code> · {len(list(m.parameters()))} tensors</caption>"
            f"<tr><th>name</th><th>shape</th><th>requires_grad</th></tr>{rows}</table>{miss}"
            f'<div class="lab8-note"><code>nn.Linear(in_features={lin.in_features}, '
            f"out_features={lin.out_features})</code> holds <code>weight</code> "
            f"{tuple(lin.weight.shape)} = (out, in) and <code>bias</code> "
            f"{tuple(lin.bias.shape)} = (out,): it computes <code>x @ weight.T + bias</code>.</div>"
        )
        st = self.last_step
        if st is None:
            self._step_html.value = (
                '<div class="lab8-note">Press <b>One SGD step</b> to see which numbers move.</div>'
            )
            return
        body = "".join(
            f'<tr data-name="{k}" data-moved="{str(st.moved[k]).lower()}"><td><code>{k}</code></td>'
            f"<td>{'yes' if st.tracked[k] else 'no'}</td><td>{_vec(st.before[k])}</td>"
            f"<td>{_vec(st.after[k])}</td>"
            f"<td>{'<b>moved</b>' if st.moved[k] else 'unchanged'}</td></tr>"
            for k in st.before
        )
        self._step_html.value = (
            f'<table class="lab8-table"><caption style="text-align:left">'
            f"one <code>SGD(t.parameters(), lr=0.1)</code> step, MSE loss {st.loss:.4f}</caption>"
            "<tr><th>tensor</th><th>in parameters()</th><th>before</th><th>after</th>"
            f"<th></th></tr>{body}</table>"
        )

    def _show_lookup(self) -> None:
        c = self.comparison
        n_rows, k = c.E.shape
        n = len(c.indices)
        show = n_rows <= 16 and k <= 16
        with self.hold_sync():
            self._idx_box.description = _ASKS[self.table]
            shown = self._display_indices()
            if _split(self._idx_box.value) != _split(shown):
                self._syncing = True  # showing what Python holds is not a new request
                try:
                    self._idx_box.value = shown
                finally:
                    self._syncing = False
            if self._table_dd.value != self.table:
                self._table_dd.value = self.table
            # small tables show their numbers; a MovieLens table fits ~600 px a side, then scrolls
            oh_cell = _cell(n, n_rows, 700, 4, 22)
            e_cell = _cell(n_rows, k, 600, 2, 22)
            v_cell = _cell(n, k, 260, 3, 22)
            for g, vals, cell in (
                (self._g_onehot, c.one_hot, oh_cell),
                (self._g_E, c.E, e_cell),
                (self._g_product, c.product, v_cell),
                (self._g_lookup, c.lookup, v_cell),
                (self._g_grad_oh, c.grad_one_hot, e_cell),
                (self._g_grad_lk, c.grad_lookup, e_cell),
            ):
                g.cell = cell
                g.show_values = show and cell >= 18
                g.values = vals.detach().cpu().numpy()
            rows = sorted(set(c.indices))
            # mark the ones while cells are big enough to see both the mark and the black cell
            self._g_onehot.highlight = (
                [[i, r, i, r] for i, r in enumerate(c.indices)] if oh_cell >= 10 else []
            )
            hl = [[r, 0, r, k - 1] for r in rows]
            self._g_E.highlight = hl
            # no marks on the gradients: their non-zero rows are the point (and a mark would
            # cover a 2-pixel row)
            self._g_onehot.subtitle = f"{n} × {n_rows}"
            self._g_E.subtitle = f"{n_rows} × {k}"
            self._g_product.subtitle = self._g_lookup.subtitle = f"{n} × {k}"
        same_v = torch.equal(c.product, c.lookup)
        same_g = torch.allclose(c.grad_one_hot, c.grad_lookup)
        ok = lambda b: '<span class="lab8-ok">equal</span>' if b else "<b>differ</b>"  # noqa: E731
        self._lookup_html.value = (
            f'<div class="lab8-note" data-equal="{str(same_v and same_g).lower()}">'
            f"indices <code>{c.indices}</code> into a {n_rows} × {k} table.<br>"
            f"Values: {ok(same_v)} (max |difference| {c.max_value_diff:.2e}).<br>"
            f"Gradients on <code>E</code> after <code>backward</code> with the same upstream "
            f"gradient: {ok(same_g)} (max |difference| {c.max_grad_diff:.2e}).<br>"
            f"Only rows <code>{c.nonzero_grad_rows}</code> have a non-zero gradient: a row is "
            "trained only when it is looked up (a repeated index adds its gradients).</div>"
        )

    def _show_timings(self) -> None:
        t = self.timings
        if not t:
            return
        xs = [r["vocab"] for r in t]
        with self._time_lines.hold_sync():
            self._time_lines.x = xs
            self._time_lines.y = [[r["one_hot_ms"] for r in t], [r["lookup_ms"] for r in t]]
        rows = "".join(
            f'<tr><td class="num">{r["vocab"]:,}</td><td class="num">{r["one_hot_ms"]:.3f}</td>'
            f'<td class="num">{r["lookup_ms"]:.3f}</td>'
            f'<td class="num">{r["one_hot_ms"] / max(r["lookup_ms"], 1e-9):.0f}×</td></tr>'
            for r in t
        )
        self._timing_html.value = (
            '<table class="lab8-table lab8-scratch-timing-table"><caption style="text-align:left">'
            "median ms, one thread (64 ids, 50 factors)</caption><tr><th>vocab</th>"
            f"<th>one-hot @ E</th><th>E[idx]</th><th>ratio</th></tr>{rows}</table>"
            '<div class="lab8-note">The one-hot path builds a 64 × vocab matrix of zeros and '
            "multiplies it; indexing only copies 64 rows.</div>"
        )

    def _show_init(self) -> None:
        c = self.init
        for key, (fig, line) in self._hist_figs.items():
            xs, ys = M.histogram(c.weights(key))
            with line.hold_sync():
                line.x, line.y = xs, ys
            w = c.weights(key)
            fig.title = f"{key}: std {float(w.std()):.3g}"
        p1, p2 = c.preds["create_params"], c.preds["nn.Embedding"]
        lo, hi = c.create_params_model.y_range or (
            float(min(p1.min(), p2.min())),
            float(max(p1.max(), p2.max())),
        )
        x1, y1 = M.histogram(p1, 44, (lo, hi))  # one range: the bars compare one for one
        x2, y2 = M.histogram(p2, 44, (lo, hi))
        with self._pred_lines.hold_sync():
            self._pred_lines.x = [x1, x2]
            self._pred_lines.y = [y1, y2]
        self._init_html.value = (
            f'<div class="lab8-note">First predictions on {len(c.y):,} ratings, 50 factors. '
            '<span style="color:#2ca02c">■</span> '
            f"<code>create_params</code> (normal(0, 0.01)): predictions {float(p1.mean()):.2f} "
            f"± {float(p1.std()):.2f}, MSE {c.mse('create_params'):.2f}. "
            '<span style="color:#9467bd">■</span> '
            f"<code>nn.Embedding</code> (N(0, 1)): {float(p2.mean()):.2f} ± {float(p2.std()):.2f}, "
            f"MSE {c.mse('nn.Embedding'):.2f}: dot products of 50 N(0, 1) numbers are ~±7, so "
            "<code>sigmoid_range</code> starts saturated at 0 or 5.5, where its gradient "
            "vanishes. (fastai's own <code>Embedding</code> uses a truncated normal with std 0.01.)</div>"
        )

    def _after_words(self) -> None:
        if self.table == "words":
            self.comparison = M.compare_paths(self.words.emb, self.indices, seed=self.seed)
            self._show_lookup()
        if self.selected_word not in self.words.index:
            self.selected_word = self.words.vocab[0]
        self._show_words()

    def _show_words(self) -> None:
        w = self.words
        rules, lines = [], []
        for line in self._text.splitlines():
            toks = M.tokenise(line)
            lines.append(
                " ".join(
                    f'<span class="lab8-word" data-row="{w.index[t]}" '
                    f'title="{html.escape(t)} → id {w.index[t]} → row {w.index[t]} of E: '
                    f'{_vec(w.emb[w.index[t]], 8)}">{html.escape(t)}</span>'
                    for t in toks
                )
            )
        for r in range(len(w.vocab)):
            rules.append(
                f'.lab8-scratch-words:has([data-row="{r}"]:hover) [data-row="{r}"]'
                "{background:#ffe08a}"
            )
        table = "".join(
            f'<tr class="lab8-vrow" data-row="{i}"><td class="num">{i}</td>'
            f"<td>{html.escape(word)}</td><td><code>{_vec(w.emb[i], 3)}</code></td></tr>"
            for i, word in enumerate(w.vocab)
        )
        self._words_html.value = (
            f"<style>{''.join(rules)}</style>"
            '<div class="lab8-note">Hover a word: its row of the vocabulary lights up (and back).'
            '</div><div style="display:flex;flex-wrap:wrap;gap:6px 16px;align-items:flex-start">'
            f'<div class="lab8-poem">{"<br>".join(lines)}</div>'
            '<div class="lab8-vocab-box"><table class="lab8-table lab8-scratch-vocab">'
            f"<tr><th>id</th><th>word</th><th>row of E</th></tr>{table}</table></div></div>"
        )
        with self.hold_sync():
            self._word_dd.options = list(w.vocab)
            self._word_dd.value = self.selected_word
            self._g_vocab.cell = self._g_poem.cell = 12
            self._g_vocab.values = w.emb.detach().numpy()
            self._g_poem.values = w.matrix.numpy()
            self._g_vocab.subtitle = f"{len(w.vocab)} words × {w.n_factors}"
            self._g_poem.subtitle = f"{len(w.tokens)} tokens × {w.n_factors}"
        self._words_summary.value = (
            f'<div class="lab8-note" data-tokens="{len(w.tokens)}" data-vocab="{len(w.vocab)}">'
            f"{len(w.tokens)} tokens, {len(w.vocab)} words in the vocabulary. ids: "
            f"<code>{_short(w.ids, 24)}</code></div>"
        )
        self._show_word_highlight()

    def _show_word_highlight(self) -> None:
        w = self.words
        r = w.index[self.selected_word]
        k = w.n_factors
        with self.hold_sync():
            if self._word_dd.value != self.selected_word:
                self._word_dd.value = self.selected_word
            self._g_vocab.highlight = [[r, 0, r, k - 1]]
            self._g_poem.highlight = [[i, 0, i, k - 1] for i, j in enumerate(w.ids) if j == r]

    def _pick_vocab_row(self, row: int) -> None:
        self.select_word(self.words.vocab[row])


def _split(text: str) -> list[str]:
    return [p for p in str(text).replace(",", " ").split() if p]


def _short(xs: list[int], n: int) -> str:
    return "[" + ", ".join(map(str, xs[:n])) + (", …]" if len(xs) > n else "]")
