"""FeedbackLab: the lesson's feedback loop (28:54–30:33, the anime example; fastbook ch. 8's
positive feedback loop). A small group of heavy raters with one taste joins; round after round the
recommender is retrained on what was rated, recommends, and users rate some of what they were
shown. Ratings are missing not at random, as in real recommenders (Chaney et al. 2018): a user
mostly rates what they like, and an ordinary user rates a few films a round while the group rates
every film of its genre it is shown. Ratings lean toward the site's predictions (``anchor``,
Adomavicius et al. 2013), which closes the loop. On MovieLens the group's genre climbs to about 4×
its share of everyone else's top 10 within three rounds; ordinary users' own ratings correct part
of it, and it holds at about 3× (2.5–4× over seeds) after ten rounds; with no anchoring it settles
near 2×, and with ordinary users silent (``others_watch=0``) the group takes over.

``models.feedback`` holds the truth, the loop, the interventions and the metrics; the panels draw
rounds (``RoundsPanel``) and films (``ItemsPanel``); this module holds the state, the runs and the
public API, and wires selections between the panels.
"""

from __future__ import annotations

import dataclasses
import html
import threading
from pathlib import Path
from typing import Any

import ipywidgets as W
import numpy as np
import traitlets

from ...models.collab import load_ratings
from ...models.feedback import FeedbackLoop, FeedbackSettings, GroundTruth, ground_truth
from ...models.projector import projector_files, write_projector
from ...models.train import RunRecord
from ...views.controls import SettingsForm
from ...views.download import DownloadPanel
from ...views.layout import row, section
from ...views.training import COLORS, Column, runs_table_html
from .._base import LabBase, LabInputError, api_call, reject_unknown
from .items import ItemsPanel
from .rounds import RoundsPanel

__all__ = ["FeedbackLab"]

DEFAULT_GENRE = "Animation"  # the lesson's anime fans
FORM_FIELDS = (
    "group_size",
    "activity",
    "cap",
    "equal_weight",
    "epsilon",
    "k",
    "n_users",
    "others_watch",
    "choosiness",
    "anchor",
)
INTERVENTIONS = ("cap", "equal_weight", "epsilon")


def _num(spec: str):
    """A formatter for a numeric cell; "–" while the run has no value for it."""

    def fmt(v: Any) -> str:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and v == v
        return format(v, spec) if ok else "–"

    return fmt


RUN_COLUMNS = (
    Column("color", ""),
    Column("run", "#"),
    Column("label", "run"),
    Column("group", "group"),
    Column("share_0", "share r0", _num(".1%")),
    Column("share_peak", "peak", _num(".1%")),
    Column("group_share", "final share", _num(".1%")),
    Column("rise", "mean rise", _num("+.1%")),
    Column("group_part", "group part of new ratings", _num(".0%")),
    Column("vs_none", "rise vs no intervention", _num("+.1%")),
    Column("coverage", "coverage", _num(".1%")),
    Column("gini", "Gini", _num(".3f")),
    Column("rounds", "rounds"),
    Column("status", "status"),
    Column("seconds", "s", _num(".1f")),
)


def _label(s: FeedbackSettings) -> str:
    """A run's interventions in words ("none" for the plain loop)."""
    parts = []
    if s.cap is not None:
        parts.append(f"cap {s.cap}")
    if s.equal_weight:
        parts.append("equal weight")
    if s.epsilon:
        parts.append(f"ε {s.epsilon:g}")
    return ", ".join(parts) or "none"


class FeedbackLab(LabBase):
    """A recommender's feedback loop on real ratings: watch a small group's taste spread.

    Users rate a shown film with a chance that rises with their true taste (``choosiness``),
    ordinary users only a few a round (``others_watch``): dislikes go unrecorded, as in real
    recommenders, and the heavy group supplies a large part of each round's ratings.

    ``ratings``: "ml-100k", "ml-latest-small", "synthetic", a MovieLens folder or a DataFrame with
    user, movie, rating and genres columns; with none, MovieLens 100k (cache or download), else
    ml-latest-small from the fastai cache, else labelled synthetic ratings. Other settings
    (``activity``, ``others_watch``, ``choosiness``, ``anchor``, ``k``, ``n_users``, ``noise``,
    ``start_ratings``, ``n_factors``, ``epochs``, ``lr``, ``wd``) are :class:`FeedbackSettings`
    fields.

    Public state: ``lab.settings``, ``lab.history`` (the last run's rounds), ``lab.runs`` (one
    ``RunRecord`` a run), ``lab.model`` (the last run's live DotProductBias), ``lab.truth``,
    ``lab.exposure`` (rounds × films), ``lab.selected_rounds``, ``lab.selected_items``.
    """

    round_count = traitlets.Int(0)  # +1 after every finished round (the page and tests follow it)

    def __init__(
        self,
        ratings: Any = None,
        group_size: int = FeedbackSettings.default("group_size"),
        group_genre: str | None = None,
        cap: int | None = None,
        equal_weight: bool = False,
        epsilon: float = 0.0,
        seed: int = 0,
        *,
        path: str | Path | None = None,
        **kwargs: Any,
    ):
        more = {f.name for f in dataclasses.fields(FeedbackSettings)} - {
            "group_size",
            "group_genre",
            "cap",
            "equal_weight",
            "epsilon",
            "seed",
        }
        reject_unknown(type(self).__name__, kwargs, more)
        super().__init__(title="FeedbackLab · feedback loops in recommenders (Lesson 8)")
        self.add_class("lab8-feedback")
        checked = FeedbackSettings(
            group_size=group_size,
            group_genre=group_genre or DEFAULT_GENRE,
            cap=cap,
            equal_weight=equal_weight,
            epsilon=epsilon,
            seed=seed,
            **kwargs,
        )
        loaded, note = self._load(ratings, path)
        self.truth: GroundTruth = ground_truth(loaded.frame)  # the world: the same for every seed
        genres = self.truth.all_genres()
        if group_genre is None:
            group_genre = DEFAULT_GENRE if DEFAULT_GENRE in genres else genres[-1]
        self._settings = checked.replace(group_genre=group_genre)
        self._check_genre(self._settings)
        self.source = (
            f"{loaded.source.replace('CollabLab(', 'FeedbackLab(')}{note} · true tastes: a DotProductBias with genres trained on its ratings of "
            f"{self.truth.n_users:,} users × {self.truth.n_items:,} films with ≥10 ratings "
            f"(valid MSE {self.truth.valid_mse:.3f})"
        )
        self._lock = threading.RLock()
        self._loop: FeedbackLoop | None = None
        self.runs: list[RunRecord] = []
        self._build()

    @staticmethod
    def _load(ratings: Any, path: Any):
        """``load_ratings``, with ml-latest-small from the fastai cache tried before synthetic."""
        loaded = load_ratings(ratings, path)
        if ratings is None and loaded.truth is not None:
            from ... import data as D

            try:
                r = D.movielens("ml-latest-small", path=path, download=False)
                return load_ratings(r.ratings), f" ({r.source})"
            except FileNotFoundError:
                pass
        return loaded, ""

    def _check_genre(self, s: FeedbackSettings) -> None:
        genres = self.truth.all_genres()
        if s.group_genre not in genres:
            raise LabInputError(
                f"group_genre must be one of the catalogue's genres ({', '.join(genres)}), "
                f"got {s.group_genre!r}"
            )

    # --- public state ------------------------------------------------------------------------
    @property
    def settings(self) -> FeedbackSettings:
        """The settings the next run uses (the form's values)."""
        return self._settings

    @property
    def history(self) -> list[dict]:
        """The last run's rounds: ``round``, ``group_share``, ``coverage``, ``gini``, ..."""
        return [dict(h) for h in self._loop.history] if self._loop is not None else []

    @property
    def model(self):
        """The last run's live recommender (a DotProductBias); None before the first run."""
        return self._loop.model if self._loop is not None else None

    @property
    def exposure(self) -> np.ndarray:
        """(rounds, films): times each film was recommended to everyone but the group."""
        if self._loop is None or not self._loop.exposures:
            return np.zeros((0, self.truth.n_items), np.int64)
        return np.stack(self._loop.exposures)

    @property
    def selected_rounds(self) -> list[int]:
        return list(self.rounds_panel.selected)

    @selected_rounds.setter
    def selected_rounds(self, rounds: list[int]) -> None:
        self.rounds_panel.selected = list(rounds)

    @property
    def selected_items(self) -> list[str]:
        return list(self.items_panel.selected)

    @selected_items.setter
    def selected_items(self, titles: list[str]) -> None:
        self.items_panel.selected = list(titles)

    # --- the Python API ----------------------------------------------------------------------
    @api_call
    def configure(self, **changes: Any) -> FeedbackSettings:
        """Change settings for the next run (ValueError names the field, value and range)."""
        s = self._settings.replace(**changes)
        self._check_genre(s)
        self._settings = s
        self.form.show(s)
        self.genre_box.value = s.group_genre
        return s

    @api_call
    def run(self, rounds: int = 10, wait: bool = True, **changes: Any) -> RunRecord | None:
        """Play round 0 and ``rounds`` more with the current settings (plus ``changes``); blocks
        while the page streams the curves unless ``wait=False``. Returns the run's record."""
        rounds = self._rounds(rounds)
        s = self._settings.replace(**changes) if changes else self._settings
        self._check_genre(s)
        task = self.run_and_wait(lambda t: self._play(t, [(s, rounds)]), wait)
        return task.result[-1] if wait and task.result else None

    @api_call
    def compare(self, rounds: int = 10, wait: bool = True) -> list[RunRecord] | None:
        """The plain loop, then each intervention alone (cap, equal weight, ε), for the runs table."""
        rounds = self._rounds(rounds)
        plain = self._settings.replace(cap=None, equal_weight=False, epsilon=0.0)
        cap = self._settings.cap or self._settings.k
        eps = self._settings.epsilon or 0.1
        plan = [
            plain,
            plain.replace(cap=cap),
            plain.replace(equal_weight=True),
            plain.replace(epsilon=eps),
        ]
        task = self.run_and_wait(lambda t: self._play(t, [(s, rounds) for s in plan]), wait)
        return task.result if wait else None

    @staticmethod
    def _rounds(rounds: Any) -> int:
        if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= 100:
            raise ValueError(f"rounds must be an integer from 1 to 100, got {rounds!r}")
        return rounds

    @api_call
    def export_projector(
        self, folder: str | Path, name: str = "feedback_films"
    ) -> tuple[Path, Path]:
        """The last run's film factors as the Embedding Projector's two TSV files (vectors and
        metadata: title, genres, true mean rating, exposure over the run)."""
        vectors, meta = self._projector_data()
        return write_projector(folder, name, vectors, meta)

    def _projector_data(self):
        if self._loop is None:
            raise LabInputError("No run yet: press Run (or lab.run()) before exporting the films.")
        with self._lock:
            vectors = self._loop.model.movie_factors.detach().cpu().numpy().copy()
        meta = {
            "title": self.truth.titles,
            "genres": ["|".join(sorted(g)) for g in self.truth.genres],
            "true_mean": [f"{v:.3f}" for v in self.truth.mean_true()],
            "exposure": self.exposure.sum(axis=0).tolist(),
        }
        return vectors, meta

    # --- the runs ----------------------------------------------------------------------------
    def _play(self, task, plan: list[tuple[FeedbackSettings, int]]) -> list[RunRecord]:
        """Background task: each (settings, rounds) of ``plan`` as one run, streaming each round."""
        done = []
        for n, (s, rounds) in enumerate(plan):
            rec = RunRecord(
                run=len(self.runs) + 1,
                label=_label(s),
                color=COLORS[len(self.runs) % len(COLORS)],
                settings=s.asdict(),
                extra={"group": f"{s.group_size} × {s.group_genre}"},
                score="group_share",
            )
            self.runs.append(rec)
            loop = FeedbackLoop(self.truth, s)
            self.items_panel.set_genre(loop.in_genre, s.group_genre)
            with self._lock:
                self._loop = loop
            for r in range(rounds + 1):
                entry = loop.step(should_stop=lambda: task.stopped, lock=self._lock)
                if entry is None or task.stopped:
                    break
                entry["epoch"] = entry["round"]  # RunRecord reads a round as its epoch
                rec.history = [dict(h) for h in loop.history]
                rec.seconds += entry["seconds"]
                rec.extra.update(self._summary(rec))
                task.report(
                    (n + (r + 1) / (rounds + 1)) / len(plan),
                    f"run {rec.run} ({rec.label}): round {r} of {rounds}, "
                    f"share {entry['group_share']:.1%}",
                )
                self._on_round()
            rec.status = "stopped" if task.stopped else "done"
            rec.extra.update(self._summary(rec))
            self._end_run(rec)
            done.append(rec)
            if task.stopped:
                break
        return done

    @staticmethod
    def _summary(rec: RunRecord) -> dict[str, Any]:
        share = [h["group_share"] for h in rec.history]
        if not share:
            return {
                "share_0": float("nan"),
                "share_peak": float("nan"),
                "rise": float("nan"),
                "group_part": float("nan"),
                "rounds": 0,
            }
        rise = float(np.mean(share[1:]) - share[0]) if len(share) > 1 else 0.0
        parts = [h["group_part"] for h in rec.history[1:]]
        part = float(np.mean(parts)) if parts else float("nan")
        return {
            "share_0": share[0],
            "share_peak": max(share),
            "rise": rise,
            "group_part": part,
            "rounds": len(share) - 1,
        }

    def _baseline(self, rec: RunRecord) -> RunRecord | None:
        """The latest finished run with the same settings but no intervention (rec's reference)."""
        plain = {k: v for k, v in rec.settings.items() if k not in INTERVENTIONS}
        for other in reversed(self.runs):
            s = other.settings
            if (
                other.status == "done"
                and s.get("cap") is None
                and not s.get("equal_weight")
                and not s.get("epsilon")
                and {k: v for k, v in s.items() if k not in INTERVENTIONS} == plain
                and len(other.history) == len(rec.history)
            ):
                return other
        return None

    def runs_table(self) -> list[dict]:
        """The runs table's rows: each run's summary and its rise against the plain loop's."""
        rows = []
        for rec in self.runs:
            base = self._baseline(rec)
            row_ = rec.as_dict()
            row_["vs_none"] = (
                None
                if base is None or base is rec or "rise" not in base.extra
                else rec.extra.get("rise", float("nan")) - base.extra["rise"]
            )
            rows.append(row_)
        return rows

    # --- views -------------------------------------------------------------------------------
    def _build(self) -> None:
        s = self._settings
        self.genre_box = W.Dropdown(
            options=self.truth.all_genres(),
            value=s.group_genre,
            description="group genre",
            style={"description_width": "initial"},
        )
        self.genre_box.add_class("lab8-setting-group_genre")
        self.genre_box.observe(lambda c: self._on_form("group_genre", c["new"]), "value")
        self.form = SettingsForm(
            FeedbackSettings, FORM_FIELDS, base=s, on_change=self._on_form, on_error=self.fail
        )
        for w in self.form.controls.values():  # each control keeps its width as the row wraps
            w.layout.flex = "0 0 auto"
        self.form.controls["equal_weight"].layout.width = "170px"  # the label fits, no overlap
        for name in ("activity", "others_watch", "choosiness"):  # long labels inside the width
            self.form.controls[name].layout.width = "230px"
        self.rounds_box = W.BoundedIntText(
            value=10, min=1, max=100, description="rounds", layout=W.Layout(width="140px")
        )
        self.rounds_box.add_class("lab8-feedback-nrounds")
        self.run_button = W.Button(description="Run", button_style="primary", icon="play")
        self.run_button.add_class("lab8-feedback-run")
        self.run_button.on_click(lambda _b: self._click(self._start_run))
        self.compare_button = W.Button(
            description="Compare interventions",
            layout=W.Layout(width="190px"),
            tooltip="the plain loop, then cap, equal weight and ε alone",
        )
        self.compare_button.add_class("lab8-feedback-compare")
        self.compare_button.on_click(lambda _b: self._click(self._start_compare))
        self.projector = DownloadPanel(
            "Embedding Projector files",
            self._projector_files,
            self._click,
            tooltip="the last run's film factors as TSV files for projector.tensorflow.org",
            css="lab8-feedback-export",
        )
        self.rounds_panel = RoundsPanel()
        self.items_panel = ItemsPanel(
            self.truth.titles,
            self.truth.mean_true(),
            self.truth.in_genre(s.group_genre),
            s.group_genre,
        )
        self.rounds_panel.observe(lambda _c: self._click(self._on_rounds), "selected")
        self.items_panel.observe(lambda _c: self._click(self._on_items), "selected")
        self.runs_html = W.HTML()
        self.runs_html.add_class("lab8-feedback-runs")
        intro = W.HTML(
            '<div class="lab8-note">A small group of heavy raters who love one genre joins. Each '
            "round the recommender (DotProductBias) is trained on every rating so far and shows "
            "each user their top k. As on a real site, ratings are missing not at random: a user "
            "rates a film they were shown with a chance that rises with how much they truly like "
            "it (their true taste: a model trained on the real ratings), so dislikes mostly go "
            "unrecorded; an ordinary user rates a few films a round (others' watch rate), the "
            "group every film of its genre. A rating also leans toward the stars the site "
            "predicted (anchoring: 0.4 of the way by default; Adomavicius et al. 2013 found "
            "people's ratings pulled toward a recommender's shown predictions). The group's genre "
            "climbs in everyone's lists; ordinary users' own ratings correct part of it, anchoring "
            "keeps the rest (set anchoring to 0 and more is corrected; set others' watch rate to "
            "0 and the group takes over). Brush rounds to see their exposure below; brush films to follow "
            "their share over the rounds.</div>"
        )
        self.body.children = [
            intro,
            self.genre_box,
            self.form,
            row(
                self.rounds_box,
                self.run_button,
                self.compare_button,
                self.projector,
                align_items="center",
            ),
            rounds_heading := section(
                "Rounds: the group's genre in everyone else's recommendations"
            ),
            self.rounds_panel,
            films_heading := section("Films: exposure against true taste"),
            self.items_panel,
            runs_heading := section("Runs: each intervention against the run without it"),
            self.runs_html,
        ]
        self.add_section("rounds", rounds_heading)
        self.add_section("films", films_heading)
        self.add_section("runs", runs_heading)
        self._render_runs()
        self._show_items()

    def _click(self, fn) -> None:
        with self.guard():
            fn()

    def _on_form(self, name: str, value: Any) -> None:
        with self.guard():
            s = self._settings.replace(**{name: value})
            self._check_genre(s)
            self._settings = s

    def _start_run(self) -> None:
        self._play_async([(self._settings, self._rounds(self.rounds_box.value))])

    def _start_compare(self) -> None:
        self.compare(rounds=self._rounds(self.rounds_box.value), wait=False)

    def _play_async(self, plan) -> None:
        self.run_task(lambda t: self._play(t, plan))

    @traitlets.observe("busy")
    def _on_busy_buttons(self, change) -> None:
        for b in (getattr(self, "run_button", None), getattr(self, "compare_button", None)):
            if b is not None:
                b.disabled = bool(change["new"])

    def _projector_files(self) -> dict[str, str]:
        return projector_files("feedback_films", *self._projector_data())

    def _on_round(self) -> None:
        loop = self._loop
        if loop is None:
            return
        self.rounds_panel.show(loop.history)
        self._show_items()
        self._on_items()
        self._render_runs()
        self.round_count += 1

    def _end_run(self, rec: RunRecord) -> None:
        self.rounds_panel.keep(rec.run, rec.history, rec.color)
        self._render_runs()

    def _on_rounds(self) -> None:
        self._show_items()

    def _show_items(self) -> None:
        ex = self.exposure
        chosen = [r for r in self.selected_rounds if 0 <= r < len(ex)]
        if len(ex) == 0:
            self.items_panel.show(np.zeros(self.truth.n_items), "No run yet: press Run.")
            return
        total = ex[chosen].sum(axis=0) if chosen else ex.sum(axis=0)
        which = f"rounds {', '.join(map(str, chosen))}" if chosen else f"all {len(ex)} rounds"
        self.items_panel.show(
            total, f"Times each film was recommended to everyone but the group, {which}."
        )

    def _on_items(self) -> None:
        titles = set(self.selected_items)
        ex = self.exposure
        if not titles or len(ex) == 0:
            self.rounds_panel.highlight([], [])
            return
        mask = np.fromiter((t in titles for t in self.truth.titles), bool, self.truth.n_items)
        share = ex[:, mask].sum(axis=1) / np.maximum(ex.sum(axis=1), 1)
        self.rounds_panel.highlight(list(range(len(ex))), share)

    def _render_runs(self) -> None:
        rows = self.runs_table()
        if not rows:
            self.runs_html.value = '<div class="lab8-note">No runs yet.</div>'
            return
        self.runs_html.value = runs_table_html(rows, RUN_COLUMNS, cls="lab8-runs") + (
            '<div class="lab8-note">mean rise: the share over rounds 1… minus round 0\'s; '
            "group part: of the ratings added each round, the share the group gave; "
            "rise vs no intervention: against the latest plain run with the same settings.</div>"
        )

    def __repr__(self) -> str:  # pragma: no cover - shown in a notebook's text output
        return f"FeedbackLab({html.escape(self._settings.group_genre)}, {len(self.runs)} runs)"
