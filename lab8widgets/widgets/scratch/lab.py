"""ScratchLab: the lesson's embeddings from scratch, each claim as something to poke.

A thin view over ``lab8widgets.models.embedding``: which tensors a module tracks (``nn.Parameter``),
an embedding lookup beside the one-hot matrix product it replaces (values, gradients, timing),
``create_params`` against ``nn.Embedding`` initialisation, and a poem turned into ids and rows.
All math lives in the models; each section is a view of this package (``params``, ``lookup``,
``init``, ``words``); this file holds the state and the public API and wires them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import traitlets

from ...models import embedding as M
from ...models.projector import projector_files, write_projector
from .._base import LabBase, reject_unknown
from .init import InitView
from .lookup import LookupView
from .params import ParameterView
from .words import WordsView

POEM_PATH = Path(__file__).resolve().parents[2] / "data" / "assets" / "dickinson_hope.txt"
POEM_SOURCE = (
    'Emily Dickinson, "Hope is the thing with feathers" (Poems, Second Series, 1891; public domain)'
)
TABLES = ("toy", "users", "movies", "words")
_ASKS = {"toy": "rows", "users": "user ids", "movies": "movie ids", "words": "words or rows"}


def _load_ratings(path: str | Path | None):
    """MovieLens when it is on this machine (a path or the fastai cache), else synthetic ratings."""
    from ... import data as D

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
        if hasattr(self, "parameter_view"):
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

    def projector_metadata(self) -> dict[str, list]:
        """One row a word of ``E``, in vocabulary order: the word, its id (its row) and how often the
        current text uses it (0 for a word an earlier text added)."""
        w = self.words
        counts = [0] * len(w.vocab)
        for i in w.ids:
            counts[i] += 1
        return {"word": list(w.vocab), "id": list(range(len(w.vocab))), "count": counts}

    def projector_files(self, name: str = "words") -> dict[str, str]:
        """The word rows of ``E`` as the Embedding Projector's two files: file name → text."""
        return projector_files(name, self.words.emb, self.projector_metadata())

    def export_projector(self, folder: str | Path, name: str = "words") -> list[Path]:
        """Write the word rows of ``E`` for the Embedding Projector (projector.tensorflow.org →
        Load): ``<name>_vectors.tsv`` (one row a word) and ``<name>_metadata.tsv`` (word, id,
        count, same order); returns the two paths. The page offers the same files as downloads."""
        with self.api():
            return list(write_projector(folder, name, self.words.emb, self.projector_metadata()))

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
        tables = [
            (f"toy: nn.Embedding(8, {self._toy.shape[1]})", "toy"),
            (f"MovieLens users ({len(self.users) - 1:,})", "users"),
            (f"MovieLens movies ({len(self.movies) - 1:,})", "movies"),
            ("words of the text", "words"),
        ]
        self.parameter_view = ParameterView(
            self.use_parameter,
            on_toggle=lambda on: click(setattr, self, "use_parameter", on),
            on_step=lambda: click(self.step),
        )
        self.lookup_view = LookupView(
            tables,
            on_table=lambda name: click(self.set_table, name),
            on_pick=lambda text: click(self.pick, text),
            on_time=lambda: click(self.time_paths),
        )
        self.timing_chart = self.lookup_view.timing_chart
        self.init_view = InitView(on_reinit=lambda: click(self.reinit))
        self.prediction_chart = self.init_view.prediction_chart
        self.words_view = WordsView(
            self._text,
            on_text=lambda text: click(setattr, self, "text", text),
            on_word=lambda word: click(self.select_word, word),
        )
        self.body.children = [
            self.parameter_view,
            self.lookup_view,
            self.init_view,
            self.words_view,
        ]
        self.add_section("parameters", self.parameter_view)
        self.add_section("lookup", self.lookup_view)
        self.add_section("init", self.init_view)
        self.add_section("words", self.words_view)

    # --- rendering ----------------------------------------------------------------------------
    def _show_params(self) -> None:
        self.parameter_view.show(self.model, self.last_step)
        self._drawn = self._signature()

    def _show_lookup(self) -> None:
        self.lookup_view.show(
            self.comparison, self.table, _ASKS[self.table], self._display_indices()
        )
        self._drawn = self._signature()

    def _show_timings(self) -> None:
        self.lookup_view.show_timings(self.timings)

    def _show_init(self) -> None:
        self.init_view.show(self.init)

    def _show_words(self) -> None:
        if self.selected_word not in self.words.index:
            self.selected_word = self.words.vocab[0]
        self.words_view.show(self.words, self._text, self.projector_files())
        self._show_word_highlight()
        self._drawn = self._signature()

    def _show_word_highlight(self) -> None:
        self.words_view.highlight(self.words, self.selected_word)
