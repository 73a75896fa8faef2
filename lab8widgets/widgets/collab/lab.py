"""CollabLab: retrain the lesson's collaborative-filtering models in seconds, beside fastai's.

A thin lab: ``models.collab`` holds the models, the data, the fit (the generic loop of
``models.train``), fastai's runner, the policy (automatic batch size, the book's ablation) and the
readers; ``views.training.TrainingPanel`` holds the settings form, Train, the streaming chart and
the runs table, and its ``RunBook`` the runs (numbers, colours, best, one divergence policy);
``readers.ReadersView`` is the bias-tables and similar-movies panel. This module wires them to one
live ``lab.model`` and one error path (``@api_call`` for the Python API, ``guard()`` for gestures,
the same banner text), and offers genres as metadata (``metadata="genres"``).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as W
import torch
import traitlets

from ...models.collab import (
    FEW_RATINGS,
    CollabData,
    CollabSettings,
    FitResult,
    ItemTags,
    ablation_steps,
    auto_bs,
    bias_table,
    collab_data,
    describe_run,
    factor_tables,
    fit_collab,
    fit_fastai,
    genre_map,
    get_emb_sz,
    has_metadata,
    item_tags,
    load_ratings,
    make_model,
    resolve_y_range,
    run_settings,
    similar_items,
    valid_mse_by_count,
)
from ...models.explore import from_collab, projector_texts, write_projector_sets
from ...models.train import RunRecord, model_device
from ...views.download import DownloadPanel
from ...views.training import Column, RunBook, TrainingPanel, runs_table_html
from .._base import LabBase, LabInputError, api_call
from .readers import ReadersView, caption

if TYPE_CHECKING:
    import pandas as pd
    from torch import nn

__all__ = ["CollabLab"]

FIELDS = ("n_factors", "n_act", "y_range", "bias", "metadata", "lr", "wd", "epochs", "bs")
METADATA_COLUMNS = (
    Column("run", "#"),
    Column("label", "model"),
    Column("valid_mse", "valid MSE"),
    Column("valid_mse_few", "valid MSE, rarely rated"),
    Column("n_valid_few", "their valid ratings"),
)
RUN_COLUMNS = (
    Column("color", ""),
    Column("run", "#"),
    Column("model_html", "model", raw=True),
    Column("y_range", "y_range", lambda v: "–" if v is None else f"({v[0]:g}, {v[1]:g})"),
    Column("bias_shown", "bias"),
    Column("wd", "wd", lambda v: f"{v:g}"),
    Column("lr", "lr", lambda v: f"{v:.1e}"),
    Column("epochs_shown", "epochs"),
    Column("bs", "bs"),
    Column("valid_mse", "valid MSE"),
    Column("seconds", "s", lambda v: f"{v:.2f}"),
    Column("status", "status"),
)


class CollabLab(LabBase):
    """Collaborative filtering on MovieLens (or your ratings): train, compare with fastai, read biases.

    ``ratings``: "ml-100k", "ml-latest-small", "synthetic", a folder holding either MovieLens
    layout, or a DataFrame with user, item and rating columns. With none, MovieLens 100k from the
    fastai cache or a download, else ml-latest-small from ``path``, else labelled synthetic ratings.
    ``metadata="genres"`` (MovieLens genres from ``u.item``/``movies.csv``, or the planted groups
    of synthetic ratings) or any title -> "A|B" tags dict/DataFrame: runs can add a learned
    embedding per genre to each item (lesson 8, 28:19); ``compare_metadata()`` shows its effect.

    Public state: ``lab.model`` (the live module: assign one, or change it in a cell, and the lab
    follows; it may live on any device), ``lab.data``, ``lab.runs`` (one ``RunRecord`` per run,
    kept by the shared ``RunBook``: ``run["valid_mse"]``, ``run["status"]`` read as before),
    ``lab.history`` (the last run's epochs), ``lab.settings`` (the controls as ``CollabSettings``),
    ``lab.item_tags`` (the metadata, or None), ``lab.genres`` (title -> genres, or None).
    To follow the lab from other views (the embedding explorer, through the ``CollabSource``
    protocol): ``lab.on_change(callback)``, or observe the traits ``run_count`` (+1 after every
    finished run) and ``model_version`` (+1 whenever ``lab.model`` is replaced or changed), or
    register ``lab.on_run_finished(callback)``, called with the run's record.
    """

    run_count = traitlets.Int(0)
    model_version = traitlets.Int(0)

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
        metadata: Any = None,
        **kwargs: Any,
    ):
        super().__init__(title="CollabLab · collaborative filtering (Lesson 8)", **kwargs)
        self.add_class("lab8-collab")
        self.seed = seed
        self.fastai_learner: Any = None
        self._lock = threading.RLock()  # held by the trainer each step; readers take it too
        loaded = load_ratings(ratings, path)
        self.truth = loaded.truth  # planted truth when the ratings are synthetic
        self.data: CollabData = collab_data(
            loaded.frame, user_name, item_name, rating_name, valid_pct=valid_pct, seed=seed
        )
        self.default_bs = auto_bs(len(self.data.train_idx))
        self.genres: dict | None = genre_map(_genres_of(loaded.frame, loaded.truth))
        self.item_tags: ItemTags | None = self._metadata(metadata)
        self.metadata_runs: list[dict] = []  # compare_metadata's rows
        self.source = f"{loaded.source} · {self.data.describe()}, split seed {seed}"
        if self.item_tags is not None:
            self.source += f" · metadata: {self.item_tags.n_tags} genres"
        self._model: nn.Module = make_model(self.data, 50, self.data.default_y_range())
        self._seen: tuple = ()
        self._build()
        self._model_changed()
        self.follow_model(self._check_model)

    def _metadata(self, metadata: Any) -> ItemTags | None:
        if metadata is None or metadata is False:
            return None
        if isinstance(metadata, str):
            if metadata != "genres":
                raise ValueError(
                    f'metadata must be "genres", a tags table or None, got {metadata!r}'
                )
            if self.genres is None:
                raise ValueError(
                    'metadata="genres" needs genres: MovieLens (u.item or movies.csv) or synthetic '
                    "ratings have them; for your own ratings pass a title -> 'A|B' dict or a "
                    "DataFrame with title and genres columns as metadata="
                )
            return item_tags(self.data, self.genres)
        tags = item_tags(self.data, metadata)
        if self.genres is None:
            self.genres = genre_map(metadata)
        return tags

    # --- the live model ---------------------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        """The live torch module every table reads (DotProductBias or CollabNN)."""
        return self._model

    @model.setter
    def model(self, model: nn.Module) -> None:
        with self.api():
            if not isinstance(model, torch.nn.Module) or not hasattr(model, "user_factors"):
                raise LabInputError(
                    f"lab.model must be a DotProductBias or CollabNN, got {type(model).__name__}"
                )
            users, items = factor_tables(model)
            if (len(users), len(items)) != (self.data.n_users, self.data.n_items):
                raise LabInputError(
                    f"lab.model has {len(users)} users × {len(items)} items; these ratings need "
                    f"{self.data.n_users} × {self.data.n_items} (make_model(lab.data, ...))"
                )
            with self._lock:
                self._model = model
            self._model_changed()

    def _fingerprint(self) -> tuple:
        ps = list(self._model.parameters())
        # torch's in-place counter: the one way to see an edit such as model.movie_bias.data[3] = 1
        return (id(self._model), *((p.data_ptr(), p._version) for p in ps))  # noqa: SLF001

    def _check_model(self) -> None:
        """After each notebook cell: redraw if ``lab.model`` changed (moved, edited, replaced)."""
        if not self.busy and self._fingerprint() != self._seen:
            self._model_changed()

    def _model_changed(self) -> None:
        self._seen = self._fingerprint()
        self._render_model_info()
        self.readers.render_biases()
        self.readers.refresh_similar()
        self.model_version += 1

    @property
    def runs(self) -> list[RunRecord]:
        """Every finished run, oldest first (the runs table's rows)."""
        return self.book.runs

    def on_run_finished(self, callback: Callable[[RunRecord], Any]) -> None:
        """Call ``callback(run)`` after every finished run (done, stopped or diverged)."""
        self.book.on_finish(callback)

    def on_change(self, callback: Callable[[], Any]) -> None:
        """Call ``callback()`` after every finished run and whenever ``lab.model`` changes (the
        ``CollabSource`` protocol an EmbeddingExplorer follows)."""
        self.observe(lambda _c: callback(), ["run_count", "model_version"])

    def explore(self, **kw: Any):
        """An EmbeddingExplorer that follows this lab's model (PCA map, biases, neighbours)."""
        from ..explorer import EmbeddingExplorer  # the explorer never imports this lab

        return EmbeddingExplorer(self, **kw)

    # --- views ------------------------------------------------------------------------------------
    def _build(self) -> None:
        d = self.data
        self.model_kind = W.ToggleButtons(
            options=[("Dot product", False), ("Neural net", True)],
            value=False,
            style={"button_width": "96px"},
            tooltips=["DotProductBias from create_params", "CollabNN sized by get_emb_sz"],
        )
        self.model_kind.add_class("lab8-model-kind")
        self.model_kind.observe(lambda _c: self._on_model_kind(), "value")
        self.compare_button = W.Button(
            description="Compare with fastai",
            layout=W.Layout(width="190px"),
            icon="balance-scale",
            tooltip="train fastai's collab_learner on the same split with these settings",
        )
        self.compare_button.add_class("lab8-compare")
        self.compare_button.on_click(lambda _b: self._click(self._on_compare))
        self.ablation_button = W.Button(
            description="Book's ablation",
            tooltip="dot product → + y_range → + bias → + weight decay → neural net",
        )
        self.ablation_button.add_class("lab8-ablation")
        self.ablation_button.on_click(lambda _b: self._click(self._on_ablation))
        self.metadata_button = W.Button(
            description="Genres: with vs without",
            layout=W.Layout(width="200px", display="" if self.item_tags is not None else "none"),
            tooltip="train the same model without and with a learned embedding per genre",
        )
        self.metadata_button.add_class("lab8-metadata-compare")
        self.metadata_button.on_click(lambda _b: self._click(self._on_metadata))
        self.panel = TrainingPanel(
            CollabSettings,
            FIELDS,
            CollabSettings(bs=self.default_bs),
            on_train=lambda: self._click(self._on_train),
            on_clear=lambda: self._click(self.clear_runs),
            on_error=self.fail,
            on_change=lambda _n, _v: self.clear_error(),
            extra_controls=[self.model_kind],
            buttons=[self.compare_button, self.ablation_button, self.metadata_button],
            columns=RUN_COLUMNS,
            loss_label="MSE",
            progress=False,  # LabBase's reserved row has progress and Stop
        )
        traitlets.dlink((self, "busy"), (self.panel, "busy"))
        # runs, colours, best run and the one divergence policy (banner; the API warns)
        self.book = RunBook(
            self.panel,
            score="valid_mse",
            score_label="valid MSE",
            on_diverged=self.fail,
            row=_run_row,
        )
        self.book.on_finish(self._count_run)
        self.controls: dict[str, W.Widget] = {"use_nn": self.model_kind, **self.panel.form.controls}
        if self.item_tags is None:
            self.controls["metadata"].layout.display = "none"
        lo, hi = d.default_y_range()
        self.controls["y_range"].description = f"y_range ({lo:g}, {hi:g})"
        self.controls["n_act"].layout.display = "none"
        self.chart = self.panel.chart
        self.model_info = W.HTML(layout=W.Layout(max_width="560px"))
        self.model_info.add_class("lab8-model-info")
        self.embsz_html = W.HTML(layout=W.Layout(display="none"))
        self.embsz_html.add_class("lab8-embsz")
        self.metadata_html = W.HTML(layout=W.Layout(display="none"))
        self.metadata_html.add_class("lab8-metadata-table")
        self.projector = DownloadPanel(
            "Embedding Projector files",
            self._projector_files,
            self._click,
            tooltip="movie and user factors as TSV files for projector.tensorflow.org",
            css="lab8-projector",
        )
        self.panel.below_chart.children = [
            self.model_info,
            self.embsz_html,
            self.metadata_html,
            self.projector,
        ]

        self.readers = ReadersView(
            lambda: self.model,
            self.data,
            self.titles,
            lock=self._lock,
            guard=self.guard,
            fail=self.fail,
            trained=lambda: any(
                r["engine"] == "lab8widgets" and r["status"] != "diverged" for r in self.runs
            ),
        )
        r = self.readers  # the lab's public names for its reading widgets
        self.min_ratings, self.bias_html, self.similar_html = (
            r.min_ratings,
            r.bias_html,
            r.similar_html,
        )
        self.similar_input, self.similar_k, self.similar_button = (
            r.similar_input,
            r.similar_k,
            r.similar_button,
        )
        self.similar_min = r.similar_min
        self.body.children = [
            self.panel,
            self.readers,
        ]
        self.add_section("training", self.panel)
        self.add_section("metadata", self.metadata_button)
        self.add_section("biases", self.readers.bias_box)
        self.add_section("similar", self.readers.similar_box)

    @property
    def titles(self) -> list[str]:
        """Item titles, most rated (in training) first: what the similar-movies box offers."""
        d = self.data
        top = d.item_counts.argsort(kind="stable")[::-1]
        return [str(d.items[i]) for i in top if i and d.item_counts[i] > 0]

    @property
    def settings(self) -> CollabSettings:
        """The controls as a validated CollabSettings (what Train would run)."""
        return self.panel.settings(use_nn=bool(self.model_kind.value))

    def _click(self, fn) -> None:
        with self.guard():
            fn()

    def _on_model_kind(self) -> None:
        nn_on = bool(self.model_kind.value)
        self.controls["n_factors"].layout.display = "none" if nn_on else ""
        self.controls["n_act"].layout.display = "" if nn_on else "none"
        self.controls["bias"].disabled = nn_on
        self._render_embsz()

    def _render_embsz(self) -> None:
        if not self.model_kind.value:
            self.embsz_html.layout.display = "none"
            return
        (nu, su), (ni, si) = get_emb_sz(self.data)
        rows = [
            {"column": self.data.user_name, "n": nu, "width": su},
            {"column": self.data.item_name, "n": ni, "width": si},
        ]
        cols = [
            Column("column", "column"),
            Column("n", "categories (with #na#)"),
            Column("width", "width"),
        ]
        self.embsz_html.value = caption(
            "get_emb_sz: width = min(600, round(1.6 × n^0.56)), fastai's emb_sz_rule",
            runs_table_html(rows, cols),
        )
        self.embsz_html.layout.display = ""

    def _render_model_info(self) -> None:
        m = self.model
        parts = ", ".join(f"<code>{n}</code> {tuple(p.shape)}" for n, p in m.named_parameters())
        total = sum(p.numel() for p in m.parameters())
        extra = ""
        if hasattr(m, "y_range") and hasattr(m, "movie_factors"):
            extra = " · y_range: " + ("none" if m.y_range is None else f"sigmoid_range{m.y_range}")
            if m.y_range is not None and m.y_range[1] > self.data.rating_range[1]:
                lo, hi = self.data.rating_range
                extra += (
                    f" (reaches {m.y_range[1]:g} so that {hi:g} stars can be predicted; "
                    f"predictions shown to you are clipped to {lo:g}–{hi:g} stars)"
                )
        if has_metadata(m):
            extra += f" · metadata: an embedding per genre ({m.movie_tags.shape[1]} genres)"
        dev = model_device(m)
        where = "" if dev.type == "cpu" else f" · on {dev}"
        self.model_info.value = (
            f'<div class="lab8-note"><b>lab.model</b> = <code>{type(m).__name__}</code>: {parts} · '
            f"{total:,} numbers in <code>model.parameters()</code>{extra}{where}</div>"
        )

    # --- settings ---------------------------------------------------------------------------------
    def _check(self, epochs, lr, wd, n_factors, y_range, bias, use_nn, n_act, bs, metadata=False):
        """(CollabSettings, y_range) of a run, checked: a bad value raises, naming field and range."""
        bs = self.default_bs if bs is None else bs
        if metadata and self.item_tags is None:
            raise LabInputError(
                'metadata=True needs genres: build the lab with CollabLab(..., metadata="genres")'
            )
        return run_settings(
            self.data,
            epochs=epochs,
            lr=lr,
            wd=wd,
            bs=bs,
            n_factors=n_factors,
            n_act=n_act,
            y_range=y_range,
            bias=bias,
            use_nn=use_nn,
            metadata=bool(metadata),
        )

    def _show(self, s: CollabSettings) -> None:
        """Mirror a run's settings in the controls, so the page shows what ran."""
        self.panel.form.show(s)
        self.model_kind.value = s.use_nn

    # --- training ---------------------------------------------------------------------------------
    @api_call
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
        metadata: bool = False,
        wait: bool = True,
    ) -> RunRecord | None:
        """Train the book's DotProductBias (or CollabNN with ``use_nn``) with fit_one_cycle's recipe.

        ``y_range="auto"`` is the book's (0, 5.5) on a 5-star scale; ``bs=None`` picks a batch size
        for the data (512 on MovieLens). ``fresh=False`` keeps training ``lab.model``.
        ``metadata``: add a learned embedding per genre (the lab needs ``metadata=``). Blocks
        until done unless ``wait=False``; returns the run's record, as CNNLab and EntityLab do
        (``rec["history"]`` per epoch, ``rec["valid_mse"]`` the last; None with ``wait=False``).
        """
        s, yr = self._check(epochs, lr, wd, n_factors, y_range, bias, use_nn, n_act, bs, metadata)
        rec = self._start(lambda task: self._run_ours(task, s, yr, seed, fresh), s, wait)
        return RunBook.outcome(rec, stacklevel=4) if wait else None

    def _start(self, fn, s: CollabSettings, wait: bool):
        self._show(s)
        task = self.run_and_wait(fn, wait)
        return task.result if wait else None

    def _record(self, engine: str, s: CollabSettings, yr, label: str = "") -> RunRecord:
        ours = engine == "lab8widgets"
        model, size = describe_run(self.data, s, engine)
        return self.book.start(
            label,
            engine=engine,
            settings=s.asdict(),
            epochs=s.epochs,
            model=model,
            size=size,
            y_range=yr,
            bias=not s.use_nn and (s.bias or not ours),  # fastai's dot model always has biases
        )

    def _finish(self, rec: RunRecord, res: FitResult) -> RunRecord:
        return self.book.finish(rec, res)  # the table, best run, chart, message and banner

    def _count_run(self, _rec: RunRecord) -> None:
        self.run_count += 1

    def _run_ours(self, task, s: CollabSettings, yr, seed, fresh: bool, label: str = ""):
        run_seed = self._run_seed(seed)
        with self._lock:
            if fresh:
                with torch.random.fork_rng():  # the same settings start from the same weights
                    torch.manual_seed(run_seed)
                    tags = self.item_tags if s.metadata else None
                    model = make_model(self.data, s.n_factors, yr, s.bias, s.use_nn, s.n_act, tags)
                model = model.to(model_device(self.model))  # stay where the learner put it
            else:
                model = self.model
                want = "CollabNN" if s.use_nn else "DotProductBias"
                if type(model).__name__ != want:
                    raise LabInputError(
                        f"fresh=False continues lab.model, a {type(model).__name__}; asked for {want}"
                    )
                s = s.replace(metadata=has_metadata(model))
            self._model = model
        self._render_model_info()
        rec = self._record("lab8widgets", s, yr, label)
        task.report(0.0, f"run #{rec.run}: training {type(model).__name__}…")
        res = fit_collab(
            model,
            self.data,
            settings=s,
            seed=run_seed,
            callback=lambda ev: self.book.event(rec, ev, task.report),
            should_stop=lambda: task.stopped,
            lock=self._lock,
        )
        self._finish(rec, res)
        self._model_changed()
        return rec

    def _run_seed(self, seed: int | None) -> int:
        """Runs are reproducible: the same settings give the same curve unless a seed is given."""
        if seed is not None:
            return int(seed)
        return 0 if self.seed is None else int(self.seed)

    @api_call
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
    ) -> RunRecord | None:
        """Train fastai's ``collab_learner`` on the same split and settings; returns the run's
        record (None with ``wait=False``).

        ``bs=None`` uses the lab's batch size (pass 64 for the book's recipe). fastai's learner is
        kept in ``lab.fastai_learner``; both curves share the chart.
        """
        s, yr = self._check(epochs, lr, wd, n_factors, y_range, True, use_nn, n_act, bs, False)
        rec = self._start(lambda task: self._run_fastai(task, s, yr, seed), s, wait)
        return RunBook.outcome(rec, stacklevel=4) if wait else None

    def _run_fastai(self, task, s: CollabSettings, yr, seed) -> RunRecord:
        rec = self._record("fastai", s, yr)
        task.report(0.0, f"run #{rec.run}: importing fastai and building its DataLoaders…")
        res = fit_fastai(
            self.data,
            s.epochs,
            s.lr,
            s.wd,
            s.n_factors,
            yr,
            s.use_nn,
            s.n_act,
            s.bs,
            seed=self._run_seed(seed),
            callback=lambda ev: self.book.event(rec, ev, task.report),
            should_stop=lambda: task.stopped,
        )
        self.fastai_learner = res.learner
        return self._finish(rec, res)

    @api_call
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
        base, _ = self._check(epochs, lr, wd, n_factors, "auto", True, False, n_act, bs, False)
        steps = [
            (label, s, resolve_y_range(self.data, s.y_range)) for label, s in ablation_steps(base)
        ]

        def run_all(task):
            start = len(self.runs)
            for label, s, yr in steps:
                if task.stopped:
                    break
                self._run_ours(task, s, yr, None, True, label=label)
            return self.runs[start:]

        runs = self._start(run_all, base, wait)
        return RunBook.outcome(runs, stacklevel=4) if wait else []

    @api_call
    def compare_metadata(
        self,
        epochs: int = 5,
        lr: float = 5e-3,
        wd: float = 0.1,
        n_factors: int = 50,
        use_nn: bool = False,
        *,
        bs: int | None = None,
        n_act: int = 100,
        few: int = FEW_RATINGS,
        wait: bool = True,
    ):
        """Metadata's effect: the same model trained without, then with, an embedding per genre.

        Returns (and shows in the page) a DataFrame with one row per run: valid MSE overall and on
        the valid ratings of items with at most ``few`` training ratings, where genres help most.
        The "with genres" model stays in ``lab.model``.
        """
        import pandas as pd

        if self.item_tags is None:
            raise LabInputError(
                'compare_metadata needs genres: build the lab with CollabLab(..., metadata="genres")'
            )
        plain, yr = self._check(epochs, lr, wd, n_factors, "auto", True, use_nn, n_act, bs, False)
        steps = [("without genres", plain), ("with genres", plain.replace(metadata=True))]

        def run_all(task):
            rows = []
            for label, s in steps:
                if task.stopped:
                    break
                rec = self._run_ours(task, s, yr, None, True, label=label)
                recs.append(rec)
                with self._lock:
                    rows.append(
                        {
                            "run": rec.run,
                            "label": label,
                            "status": rec.status,
                            **valid_mse_by_count(self.model, self.data, few),
                        }
                    )
            self.metadata_runs = rows
            self._render_metadata()
            return pd.DataFrame(rows)

        recs: list[RunRecord] = []
        result = self._start(run_all, plain.replace(metadata=True), wait)
        if wait:
            RunBook.outcome(recs, stacklevel=4)
        return result if wait else None

    def _render_metadata(self) -> None:
        rows = self.metadata_runs
        if not rows:
            self.metadata_html.layout.display = "none"
            return
        few = rows[0]["few"]
        self.metadata_html.value = caption(
            f"Metadata: a learned embedding per genre (rarely rated: ≤ {few} training ratings)",
            runs_table_html(rows, list(METADATA_COLUMNS)),
        ) + (
            '<div class="lab8-note">Each item\'s vector is its own factors plus the mean of its '
            "genres' embeddings (and its bias gains theirs), so a film with few ratings starts "
            "from what its genres learned from every film that shares them.</div>"
        )
        self.metadata_html.layout.display = ""

    @api_call
    def clear_runs(self) -> None:
        """Forget every run and its curves (lab.model stays as it is)."""
        if self.busy:
            raise LabInputError("A run is in progress: press Stop first.")
        self.book.clear()

    # --- buttons ----------------------------------------------------------------------------------
    def _form_kwargs(self) -> dict:
        s = self.settings
        return dict(
            epochs=s.epochs,
            lr=s.lr,
            wd=s.wd,
            n_factors=s.n_factors,
            n_act=s.n_act,
            bs=s.bs,
            y_range="auto" if s.y_range else None,
            use_nn=s.use_nn,
        )

    def _on_train(self) -> None:
        s = self.settings
        self.fit(**self._form_kwargs(), bias=s.bias, metadata=s.metadata, wait=False)

    def _on_metadata(self) -> None:
        k = self._form_kwargs()
        self.compare_metadata(
            k["epochs"],
            k["lr"],
            k["wd"],
            k["n_factors"],
            use_nn=k["use_nn"],
            bs=k["bs"],
            n_act=k["n_act"],
            wait=False,
        )

    def _projector_files(self) -> dict[str, str]:
        return projector_texts(self._factors(), "collab")

    def _on_compare(self) -> None:
        self.compare_fastai(**self._form_kwargs(), wait=False)

    def _on_ablation(self) -> None:
        k = self._form_kwargs()
        self.ablation(
            k["epochs"], k["lr"], k["wd"], k["n_factors"], bs=k["bs"], n_act=k["n_act"], wait=False
        )

    # --- reading the model ------------------------------------------------------------------------
    @property
    def history(self) -> list[dict]:
        """The last finished run's per-epoch history (empty before the first run)."""
        return self.runs[-1]["history"] if self.runs else []

    @api_call
    def movie_bias(self, n: int = 10, lowest: bool = True, min_ratings: int = 1) -> pd.DataFrame:
        """The n movies with the lowest (or highest) learned bias, with their training-rating counts."""
        with self._lock:
            return bias_table(self.model, self.data, "item", n, lowest, min_ratings)

    @api_call
    def user_bias(self, n: int = 10, lowest: bool = True, min_ratings: int = 1) -> pd.DataFrame:
        """The n users with the lowest (or highest) learned bias, with their training-rating counts."""
        with self._lock:
            return bias_table(self.model, self.data, "user", n, lowest, min_ratings)

    @api_call
    def similar(self, title: str, k: int = 5, min_ratings: int | None = None) -> pd.DataFrame:
        """The k titles whose item factors are closest in direction (cosine) to ``title``'s,
        among titles with at least ``min_ratings`` training ratings (None: the explorer's same
        default, ``models.collab.default_min_ratings``); ``n_ratings`` says how many each has."""
        with self._lock:
            return similar_items(self.model, self.data, title, k, min_ratings)

    def _factors(self):
        with self._lock:
            return from_collab(self.model, self.data, self.genres)

    @api_call
    def export_projector(self, folder: str | Path, name: str = "collab") -> list[Path]:
        """Write the movie and user factors of ``lab.model`` for the Embedding Projector
        (projector.tensorflow.org → Load): ``<name>_movies_vectors.tsv`` with its metadata (title,
        n_ratings, genres) and ``<name>_users_…``; returns the four paths."""
        return write_projector_sets(folder, self._factors(), name)

    def get_emb_sz(self) -> list[tuple[int, int]]:
        """fastai's embedding sizes for this data (what ``use_nn=True`` builds)."""
        return get_emb_sz(self.data)

    def runs_frame(self) -> pd.DataFrame:
        """The runs table as a DataFrame (settings, final valid MSE, seconds, status)."""

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
        return self.book.frame(keep)

    def refresh(self) -> None:
        """Re-read ``lab.model`` into the views (cells are followed; this forces it)."""
        with self.guard(clear=False):
            self._model_changed()


def _run_row(r: RunRecord) -> dict:
    """A run's own cells in the runs table: model and size, bias, epochs done of planned."""
    name = ("fastai " if r.engine == "fastai" else "") + (r.label or r["model"])
    done = f"{r.epochs_done:.2f}" if r.status == "stopped" else f"{int(r.epochs_done)}"
    return {
        "model_html": html.escape(name)
        + f'<br><small class="lab8-sub">{html.escape(r["size"])}</small>',
        "bias_shown": "n/a" if r["use_nn"] else ("yes" if r["bias"] else "no"),
        "epochs_shown": f"{done}/{r['epochs']}",
    }


def _genres_of(frame: Any, truth: Any) -> Any:
    """Where a ratings table's genres are: its genres column (MovieLens), or the planted groups."""
    if truth is not None:
        return truth
    cols = {str(c).lower() for c in getattr(frame, "columns", [])}
    return frame if {"title", "genres"} <= cols else None
