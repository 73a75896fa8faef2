"""ScratchLab: the lesson's embeddings from scratch, each claim as something to poke.

A thin view over ``lab8widgets.models.embedding``: which tensors a module tracks (``nn.Parameter``),
an embedding lookup beside the one-hot matrix product it replaces (values, gradients, timing),
``create_params`` against ``nn.Embedding`` initialisation, and a poem turned into ids and rows.
All math lives in the model module, the HTML in ``_scratch_views``; this file wires them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import bqplot as bq
import ipywidgets as W
import torch
import traitlets

from ..models import embedding as M
from ..views.layout import row, section
from . import _scratch_views as V
from ._base import LabBase, reject_unknown

POEM_PATH = Path(__file__).resolve().parent.parent / "data" / "assets" / "dickinson_hope.txt"
POEM_SOURCE = (
    'Emily Dickinson, "Hope is the thing with feathers" (Poems, Second Series, 1891; public domain)'
)
TABLES = ("toy", "users", "movies", "words")
_ASKS = {"toy": "rows", "users": "user ids", "movies": "movie ids", "words": "words or rows"}


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
        reject_unknown(type(self).__name__, kwargs, ("text", "path", "n_factors", "seed"))
        super().__init__(title="Embeddings from scratch: nn.Parameter, lookups and words")
        self.add_class("lab8-scratch")
        self.seed = M.as_int(seed, "seed")
        n_factors = M.as_int(n_factors, "n_factors")
        if not 1 <= n_factors <= 64:
            raise ValueError(f"n_factors must be from 1 to 64, got {n_factors}")
        self.model = M.ToggleModule(seed=self.seed)
        self.last_step: M.StepResult | None = None
        self.timings: list[dict[str, float]] = []
        self._n_steps = 0
        self._syncing = False

        self._text = POEM_PATH.read_text() if text is None else text
        self.words = M.Words(n_factors=8, seed=self.seed)
        self.words.update(self._text)  # an empty or non-text ``text`` stops here
        frame, source = _load_ratings(path)
        self.ratings = M.rating_ids(frame)
        self.init = self._init_comparison(self.seed)
        self._toy = M.toy_table(8, n_factors, seed=self.seed)
        self.source = f"ids: {source} · text: " + (POEM_SOURCE if text is None else "your text")
        self.table = "toy"
        self.comparison = M.compare_paths(self._toy, [3, 1, 3], seed=self.seed)
        self.selected_word = self.words.vocab[0]
        self._build()
        self._show_params()
        self._show_lookup()
        self._show_init()
        self._show_words()
        self.follow_model(self._follow)

    # --- public API ---------------------------------------------------------------------------
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
        with self.api():
            self.last_step = M.sgd_step(self.model, lr=lr, seed=self.seed + self._n_steps)
            self._n_steps += 1
        self._show_params()
        return dict(self.last_step.moved)

    @property
    def users(self) -> list:
        """User id of each row of the user table (row 0 is ``#na#``, as fastai numbers them)."""
        return self.ratings.users

    @property
    def movies(self) -> list:
        return self.ratings.movies

    def table_matrix(self, name: str | None = None) -> torch.Tensor:
        """The matrix a lookup reads: the toy ``nn.Embedding``, the book's ``DotProductBias`` user
        or movie factors (``create_params``), or the words' matrix."""
        name = self.table if name is None else name
        tables = {
            "toy": lambda: self._toy,
            "users": lambda: self.init.create_params_model.user_factors,
            "movies": lambda: self.init.create_params_model.movie_factors,
            "words": lambda: self.words.emb,
        }
        if name not in tables:
            raise ValueError(f"unknown table {name!r}: choose one of {', '.join(TABLES)}")
        return tables[name]()

    def set_table(self, name: str, indices: Any = None) -> None:
        """Look up in another table; indices default to a few valid rows of it."""
        with self.api():
            E = self.table_matrix(name)
            idx = self._default_indices(name) if indices is None else indices
            self.comparison = M.compare_paths(E, idx, seed=self.seed)
            self.table = name
        self._show_lookup()

    @property
    def indices(self) -> list[int]:
        """The rows looked up (settable: a list of ints, each in range for the current table)."""
        return list(self.comparison.indices)

    @indices.setter
    def indices(self, idx: Any) -> None:
        with self.api():
            self.comparison = M.compare_paths(self.table_matrix(), idx, seed=self.seed)
        self._show_lookup()

    def pick(self, text: str) -> list[int]:
        """Indices from what a learner types: rows (toy), user or movie ids, words or rows (words)."""
        with self.api():
            if self.table == "users":
                idx = M.rows_for_ids(
                    M.parse_ints(text, "user id"), self.ratings.user_rows, "user id"
                )
            elif self.table == "movies":
                idx = M.rows_for_ids(
                    M.parse_ints(text, "movie id"), self.ratings.movie_rows, "movie id"
                )
            elif self.table == "words":
                idx = self.words.rows_for(text)
            else:
                idx = M.parse_ints(text, "row")
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
        with self.api():
            self.words.update(value)  # raises before anything changes
            self._text = value
        if self._text_box.value != value:
            self._text_box.value = value
        if self.table == "words":
            self.comparison = M.compare_paths(self.words.emb, self.indices, seed=self.seed)
            self._show_lookup()
        self._show_words()

    @property
    def vocab(self) -> list[str]:
        return list(self.words.vocab)

    @property
    def ids(self) -> list[int]:
        return self.words.ids

    def select_word(self, word: str) -> None:
        """Highlight ``word``'s row in the vocabulary matrix and its tokens in the text's matrix."""
        with self.api():
            self.selected_word = self.words.vocab[self.words.rows_for_words([word])[0]]
        self._show_word_highlight()

    def time_paths(self, sizes=(10, 100, 1_000, 10_000, 100_000), wait: bool = False):
        """Time both paths at growing vocabulary sizes in the background (Stop works)."""
        with self.api():
            sizes = [M.as_int(s, "vocabulary size") for s in sizes]
            if not sizes or any(s < 1 or s > 1_000_000 for s in sizes):
                raise ValueError("vocabulary sizes must be whole numbers from 1 to 1,000,000")

            def done(task):
                if task.result is not None:
                    self.timings = task.result
                    self._show_timings()

            task = self.run_task(
                lambda task: M.time_paths(
                    sizes, should_stop=lambda: task.stopped, progress=task.report
                ),
                on_done=done,
            )
        if wait:
            self.wait()
        return task

    def reinit(self, seed: int | None = None) -> None:
        """Draw both initialisations again (new seed) and redraw their histograms."""
        with self.api():
            seed = self.seed + 1 if seed is None else M.as_int(seed, "seed")
            self.init = self._init_comparison(seed)
            self.seed = seed
        if self.table in ("users", "movies"):
            self.set_table(self.table, self.indices)
        self._show_init()

    def refresh(self) -> None:
        """Redraw every view from the live objects, after a notebook cell changed them directly
        (``lab.model.set_use_parameter(False)``, ``lab.words.update(...)``, ``lab.model.lin...``).
        In a kernel this runs by itself after each cell that changed something."""
        with self.api():
            self.comparison = M.compare_paths(self.table_matrix(), self.indices, seed=self.seed)
        with self.hold_trait_notifications():
            self.use_parameter = self.model.use_parameter
        self._toggle.value = self.use_parameter
        self._show_params()
        self._show_lookup()
        self._show_init()
        self._show_words()

    def _signature(self) -> tuple:
        """What the views were drawn from, cheaply: which tensors the module tracks and the sums of
        the tensors shown (a few thousand numbers), so an edit made in a cell is noticed."""
        with torch.no_grad():
            sums = [float(t.sum()) for t in (*self.model.tensors().values(), self.table_matrix())]
        return (tuple(self.parameter_names), len(self.words.vocab), self._text, *sums)

    def _follow(self) -> None:
        if self._signature() != self._drawn:
            self.refresh()

    # --- helpers ------------------------------------------------------------------------------
    def _init_comparison(self, seed: int) -> M.InitComparison:
        r = self.ratings
        return M.init_comparison(r.x, r.y, len(r.users), len(r.movies), seed=seed)

    def _default_indices(self, name: str) -> list[int]:
        if name == "toy":
            return [3, 1, 3]
        if name == "words":
            return self.words.ids[:3] + self.words.ids[:1]
        col = self.ratings.x[:, 0 if name == "users" else 1]
        return [int(col[0]), int(col[1]), int(col[0])]

    def _display_indices(self) -> str:
        names = {"users": self.users, "movies": self.movies, "words": self.words.vocab}
        shown = names.get(self.table)
        return ", ".join(str(shown[i] if shown else i) for i in self.indices)

    def _click(self, fn, *args) -> None:
        with self.guard():
            fn(*args)

    # --- building the views -------------------------------------------------------------------
    def _build(self) -> None:
        click = self._click
        # 1. nn.Parameter
        self._toggle = V.tagged(
            W.Checkbox(
                value=self.use_parameter, description="wrap a in nn.Parameter", indent=False
            ),
            "lab8-scratch-toggle",
        )
        self._toggle.observe(lambda ch: click(setattr, self, "use_parameter", ch["new"]), "value")
        self._step_button = V.button(
            "One SGD step", "step-forward", "lab8-scratch-step", lambda: click(self.step)
        )
        self._code = V.html_box("lab8-scratch-code", width="430px", max_width="100%")
        self._params_html = V.html_box("lab8-scratch-params", width="380px", max_width="100%")
        self._step_html = V.html_box("lab8-scratch-moved")

        # 2. lookup = one-hot × matrix
        options = [
            (f"toy: nn.Embedding(8, {self._toy.shape[1]})", "toy"),
            (f"MovieLens users ({len(self.users) - 1:,})", "users"),
            (f"MovieLens movies ({len(self.movies) - 1:,})", "movies"),
            ("words of the text", "words"),
        ]
        self._table_dd = V.tagged(
            W.Dropdown(options=options, description="table", layout=W.Layout(width="300px")),
            "lab8-scratch-table",
        )
        self._table_dd.observe(lambda ch: click(self.set_table, ch["new"]), "value")
        self._idx_box = V.tagged(
            W.Text(value="3, 1, 3", continuous_update=False, layout=W.Layout(width="300px")),
            "lab8-scratch-indices",
        )
        self._idx_box.observe(
            lambda ch: None if self._syncing else click(self.pick, ch["new"]), "value"
        )
        self._g_onehot = V.grid("lab8-scratch-onehot", "one_hot(idx)", cmap="gray")
        self._g_E = V.grid("lab8-scratch-E", "E")
        self._g_product = V.grid("lab8-scratch-product", "one_hot(idx) @ E")
        self._g_lookup = V.grid("lab8-scratch-lookup", "E[idx]")
        self._g_grad_oh = V.grid("lab8-scratch-grad-onehot", "E.grad via one-hot")
        self._g_grad_lk = V.grid("lab8-scratch-grad-lookup", "E.grad via E[idx]")
        self._lookup_html = V.html_box("lab8-scratch-equal")
        self._time_button = V.button(
            "Time both paths", "clock-o", "lab8-scratch-time", lambda: click(self.time_paths)
        )
        self._time_lines = V.lines(
            ["#d62728", "#1f77b4"], bq.LogScale(), bq.LogScale(), marker="circle",
            labels=["one-hot @ E", "E[idx]"], display_legend=True,
        )  # fmt: skip
        self.timing_chart = V.figure(
            self._time_lines, "lab8-scratch-timing",
            ("vocabulary size (rows of E)", "ms per lookup of 64 ids"),
            "Why the lookup is the shortcut", (420, 300), legend_location="top-left",
        )  # fmt: skip
        self._timing_html = V.html_box("lab8-scratch-timing-text", V.TIMING_HINT, max_width="100%")

        # 3. create_params vs nn.Embedding
        self._hist_figs: dict[str, tuple[bq.Figure, bq.Lines]] = {}
        for key, colour, fmt in (
            ("create_params", V.GREEN, ".2f"),
            ("nn.Embedding", V.PURPLE, ".0f"),
        ):
            line = V.histogram_lines([colour])
            fig = V.figure(
                line, "lab8-scratch-hist", ("weight", "count"), key, (250, 240),
                xaxis=dict(num_ticks=5, tick_format=fmt),
            )  # fmt: skip
            self._hist_figs[key] = (fig, line)
        self._pred_lines = V.histogram_lines([V.GREEN, V.PURPLE])
        self.prediction_chart = V.figure(
            self._pred_lines, "lab8-scratch-preds", ("first prediction (y_range 0–5.5)", "count"),
            "First predictions", (290, 240),
        )  # fmt: skip
        self._init_html = V.html_box("lab8-scratch-init")
        self._reinit_button = V.button(
            "Draw again", "refresh", "lab8-scratch-reinit", lambda: click(self.reinit)
        )

        # 4. words
        self._text_box = V.tagged(
            W.Textarea(self._text, rows=9, continuous_update=False, layout=W.Layout(width="360px")),
            "lab8-scratch-text",
        )
        self._text_box.observe(lambda ch: click(setattr, self, "text", ch["new"]), "value")
        self._text_button = V.button(
            "Turn into rows", "arrow-right", "lab8-scratch-apply-text",
            lambda: click(setattr, self, "text", self._text_box.value),
        )  # fmt: skip
        self._words_html = V.html_box("lab8-scratch-words", flex="1 1 420px", max_width="100%")
        self._word_dd = V.tagged(
            W.Dropdown(description="word", layout=W.Layout(width="220px")), "lab8-scratch-word"
        )
        self._word_dd.observe(lambda ch: ch["new"] and click(self.select_word, ch["new"]), "value")
        self._g_vocab = V.grid("lab8-scratch-vocab-matrix", "E (one row a word)", cell=12)
        self._g_vocab.on_click(lambda r, _c: click(self.select_word, self.words.vocab[r]))
        self._g_poem = V.grid("lab8-scratch-poem-matrix", "the text as rows: E[ids]", cell=12)
        self._words_summary = V.html_box("lab8-scratch-words-summary")

        self.body.children = [
            section("1 · What a module tracks: <code>nn.Parameter</code>"),
            W.HTML(
                V.note(
                    "<code>parameters()</code> lists only tensors wrapped in <code>nn.Parameter"
                    "</code> (or held by a sub-module such as <code>nn.Linear</code>), and the "
                    "optimizer only moves what <code>parameters()</code> lists. Flip the wrap and "
                    "take a step."
                )
            ),
            row(self._toggle, self._step_button, align_items="center"),
            row(self._code, self._params_html),
            self._step_html,
            section(
                "2 · An embedding is a lookup: <code>one_hot(idx) @ E</code> = <code>E[idx]</code>"
            ),
            row(self._table_dd, self._idx_box, align_items="center"),
            row(
                V.scroll(self._g_onehot, "240px"),
                V.op("@", V.scroll(self._g_E, "620px")),
                V.op("=", V.scroll(self._g_product)),
                V.op("≡", V.scroll(self._g_lookup)),
                gap="4px",
            ),
            row(
                V.scroll(self._g_grad_oh, "620px"),
                V.scroll(self._g_grad_lk, "620px"),
                self._lookup_html,
            ),
            row(W.VBox([self._time_button, self.timing_chart]), self._timing_html),
            section(
                "3 · How the tables start: <code>create_params</code> vs <code>nn.Embedding</code>"
            ),
            row(*(f for f, _ in self._hist_figs.values()), self.prediction_chart, gap="4px"),
            row(self._reinit_button, self._init_html, align_items="center"),
            section("4 · Words become ids, ids become rows"),
            row(W.VBox([self._text_box, self._text_button]), self._words_html),
            row(self._word_dd, self._words_summary, align_items="center"),
            row(V.scroll(self._g_vocab, "420px"), V.scroll(self._g_poem, "420px")),
        ]

    # --- rendering ----------------------------------------------------------------------------
    def _show_params(self) -> None:
        self._code.value = V.code_html(self.model)
        self._params_html.value = V.params_html(self.model)
        self._step_html.value = V.step_html(self.last_step)
        self._drawn = self._signature()

    def _show_lookup(self) -> None:
        c = self.comparison
        (n_rows, k), n = c.E.shape, len(c.indices)
        with self.hold_sync():
            self._idx_box.description = _ASKS[self.table]
            shown = self._display_indices()
            if V.split(self._idx_box.value) != V.split(shown):
                self._syncing = True  # showing what Python holds is not a new request
                try:
                    self._idx_box.value = shown
                finally:
                    self._syncing = False
            if self._table_dd.value != self.table:
                self._table_dd.value = self.table
            # small tables show their numbers; a MovieLens table fits ~600 px a side, then scrolls
            oh_cell = V.cell_size(n, n_rows, 700, 4)
            e_cell, v_cell = V.cell_size(n_rows, k, 600, 2), V.cell_size(n, k, 260, 3)
            for g, vals, cell in (
                (self._g_onehot, c.one_hot, oh_cell),
                (self._g_E, c.E, e_cell),
                (self._g_product, c.product, v_cell),
                (self._g_lookup, c.lookup, v_cell),
                (self._g_grad_oh, c.grad_one_hot, e_cell),
                (self._g_grad_lk, c.grad_lookup, e_cell),
            ):
                g.cell = cell
                g.show_values = n_rows <= 16 and k <= 16 and cell >= 18
                g.values = vals.detach().cpu().numpy()
            # mark the ones while cells are big enough to see both the mark and the black cell;
            # no marks on the gradients: their non-zero rows are the point
            self._g_onehot.highlight = (
                [[i, r, i, r] for i, r in enumerate(c.indices)] if oh_cell >= 10 else []
            )
            self._g_E.highlight = [[r, 0, r, k - 1] for r in sorted(set(c.indices))]
            self._g_onehot.subtitle = f"{n} × {n_rows}"
            self._g_E.subtitle = f"{n_rows} × {k}"
            self._g_product.subtitle = self._g_lookup.subtitle = f"{n} × {k}"
        self._lookup_html.value = V.lookup_html(c)
        self._drawn = self._signature()

    def _show_timings(self) -> None:
        t = self.timings
        if not t:
            return
        with self._time_lines.hold_sync():
            self._time_lines.x = [r["vocab"] for r in t]
            self._time_lines.y = [[r["one_hot_ms"] for r in t], [r["lookup_ms"] for r in t]]
        self._timing_html.value = V.timings_html(t)

    def _show_init(self) -> None:
        c = self.init
        for key, (fig, line) in self._hist_figs.items():
            with line.hold_sync():
                line.x, line.y = M.histogram(c.weights(key))
            fig.title = f"{key}: std {c.summary(key)['weight_std']:.3g}"
        hists = c.prediction_histograms()
        with self._pred_lines.hold_sync():
            self._pred_lines.x = [hists[k][0] for k in ("create_params", "nn.Embedding")]
            self._pred_lines.y = [hists[k][1] for k in ("create_params", "nn.Embedding")]
        self._init_html.value = V.init_html(c)

    def _show_words(self) -> None:
        w = self.words
        if self.selected_word not in w.index:
            self.selected_word = w.vocab[0]
        self._words_html.value = V.words_html(w, self._text)
        with self.hold_sync():
            self._word_dd.options = list(w.vocab)
            self._g_vocab.values = w.emb.detach().cpu().numpy()
            self._g_poem.values = w.matrix.cpu().numpy()
            self._g_vocab.subtitle = f"{len(w.vocab)} words × {w.n_factors}"
            self._g_poem.subtitle = f"{len(w.tokens)} tokens × {w.n_factors}"
        self._words_summary.value = V.words_summary(w)
        self._show_word_highlight()
        self._drawn = self._signature()

    def _show_word_highlight(self) -> None:
        w, k = self.words, self.words.n_factors
        r = w.index[self.selected_word]
        with self.hold_sync():
            if self._word_dd.value != self.selected_word:
                self._word_dd.value = self.selected_word
            self._g_vocab.highlight = [[r, 0, r, k - 1]]
            self._g_poem.highlight = [[i, 0, i, k - 1] for i, j in enumerate(w.ids) if j == r]
