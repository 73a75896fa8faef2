"""CNNLab: train the lesson's small CNN on real MNIST digits, live, and watch what dropout does.

A thin lab: ``models.cnn`` holds the network (four heads, dropout, activations), the data and the
fit (the labs' one loop in ``models.train``); ``views.training.TrainingPanel`` holds the settings
form, Train, the streaming chart and the runs table. This module holds the lab's state and API
around one live ``lab.model``, and its runs; ``readout.py`` draws the model's accuracy and the
misclassified digits, ``preset.py`` the "dropout off vs on" button.
"""

from __future__ import annotations

import hashlib
import math
import threading
from pathlib import Path
from typing import Any

import torch
import traitlets
from torch import nn

from ...models.cnn import (
    PER_CLASS,
    PRESET_AT,
    CNNData,
    CNNSettings,
    cnn_data,
    dropout_pair,
    evaluate,
    fit_cnn,
    make_cnn,
    misclassified,
    preset_where,
)
from ...models.train import RunRecord, model_device
from ...views.training import Column, RunBook, TrainingPanel
from .._base import LabBase, LabInputError, api_call, reject_unknown
from .preset import DropoutPreset
from .readout import ModelReadout

__all__ = ["CNNLab"]

FIELDS = (
    "head",
    "activation",
    "dropout",
    "dropout_at",
    "channels",
    "digits",
    "train_size",
    "epochs",
    "lr",
    "wd",
    "bs",
    "seed",
)
RUN_COLUMNS = (
    Column("color", ""),
    Column("run_shown", "#"),
    Column("model_shown", "model"),
    Column("dropout_shown", "dropout"),
    Column("train_n", "train"),
    Column("epochs_shown", "epochs"),
    Column("lr", "lr", lambda v: f"{v:.1e}"),
    Column("train_loss", "train loss"),
    Column("valid_loss", "valid loss"),
    Column("accuracy", "accuracy", lambda v: f"{v:.1%}" if _number(v) else "–"),
    Column("seconds", "s", lambda v: f"{v:.2f}"),
    Column("status", "status"),
)


class CNNLab(LabBase):
    """A small CNN on MNIST: pick the head, dropout, activation and channels, press Train.

    ``CNNLab(head="maxpool" | "stride2" | "avgpool" | "concatpool", dropout=0.0,
    activation="relu", dropout_at="head" | "conv1" | "conv" | "both", channels=8,
    digits="3 vs 7" | "0-9", train_size=0, ...)``;
    ``path`` points at your own MNIST (``mnist_png``/``mnist_sample`` layout or an ``.npz``).

    Public state: ``lab.model`` (the live ``nn.Module``: change it in a cell, or assign one, and
    the valid accuracy and misclassified digits follow), ``lab.data``, ``lab.settings``,
    ``lab.runs`` (one ``RunRecord`` per run, kept by ``lab.book``, a ``RunBook``),
    ``lab.history`` (the last run's epochs: ``epoch``, ``train_loss``, ``valid_loss``,
    ``accuracy`` …), ``lab.misclassified`` ((valid index, true digit, predicted digit) for the
    current model).
    """

    def __init__(
        self,
        head: str = "maxpool",
        dropout: float = 0.0,
        activation: str = "relu",
        *,
        path: str | Path | None = None,
        **kwargs: Any,
    ):
        fields = set(CNNSettings.specs())
        reject_unknown(
            "CNNLab",
            {k: v for k, v in kwargs.items() if k not in fields},
            sorted({"head", "dropout", "activation", "path", *fields}),
        )
        settings = CNNSettings(head=head, dropout=dropout, activation=activation, **kwargs)
        super().__init__(title="CNNLab · a small CNN on MNIST digits (Lesson 8)")
        self.add_class("lab8-cnn")
        self.path = path
        self.history: list[dict] = []
        self.misclassified: list[tuple[int, int, int]] = []
        self.valid_loss = self.accuracy = math.nan
        self._lock = threading.RLock()  # held by the trainer each step; readers take it too
        self._data_cache: dict[tuple, CNNData] = {}
        self._show_data(self._load(settings), settings.seed)
        self._model: nn.Module = make_cnn(settings, self.data.n_classes)
        self._seen: tuple = ()
        self._build(settings)
        self._model_changed()
        self.follow_model(self._check_model)

    # --- data and the live model ------------------------------------------------------------------
    def _load(self, s: CNNSettings) -> CNNData:
        key = (s.digits, s.train_size, s.seed)
        if key not in self._data_cache:
            self._data_cache[key] = cnn_data(s.digits, s.train_size, seed=s.seed, path=self.path)
        return self._data_cache[key]

    def _show_data(self, data: CNNData, seed: int) -> None:
        self.data = data
        self.source = f"{data.source} · {data.describe()} (split seed {seed})"

    @property
    def model(self) -> nn.Module:
        """The live torch module: what Train trains and what every number on screen comes from."""
        return self._model

    @model.setter
    def model(self, model: nn.Module) -> None:
        with self.api():
            self._check_shape(model, self.data)
            with self._lock:
                self._model = model
        self._model_changed()

    @staticmethod
    def _check_shape(model: Any, data: CNNData) -> None:
        if not isinstance(model, nn.Module):
            raise LabInputError(f"lab.model must be a torch nn.Module, got {type(model).__name__}")
        x = data.valid_x[:2].to(model_device(model))
        try:
            with torch.no_grad():
                out = model.eval()(x)
        except Exception as e:
            raise LabInputError(f"lab.model fails on a batch of 1×28×28 digits: {e}") from None
        if tuple(out.shape) != (2, data.n_classes):
            raise LabInputError(
                f"lab.model must map (N, 1, 28, 28) digits to (N, {data.n_classes}) class "
                f"scores, got {tuple(out.shape)}"
            )

    def _fingerprint(self) -> tuple:
        """Which module, where its weights live and a digest of their values: any edit shows."""
        digest = hashlib.blake2b(digest_size=16)
        where = []
        with torch.no_grad():
            for p in self._model.parameters():
                where.append((p.data_ptr(), p.dtype, p.device, tuple(p.shape)))
                digest.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        return id(self._model), tuple(where), digest.digest()

    def _check_model(self) -> None:
        """After each notebook cell: re-read the model if it changed (edited, moved, replaced)."""
        if not self.busy and self._fingerprint() != self._seen:
            self._model_changed()

    def _model_changed(self) -> None:
        with self._lock:
            self._seen = self._fingerprint()
            d = self.data
            loss, acc, pred = evaluate(self._model, d.valid_x, d.valid_y)
        self.valid_loss, self.accuracy = loss, acc
        self.misclassified = misclassified(pred, d, limit=len(d.valid_y))
        self._render_model()

    # --- views --------------------------------------------------------------------------------------
    def _build(self, settings: CNNSettings) -> None:
        self.preset = DropoutPreset(
            lambda: self._click(lambda: self.compare_dropout(wait=False)), head=settings.head
        )
        self.compare_button = self.preset.button
        self.panel = TrainingPanel(
            CNNSettings,
            FIELDS,
            settings,
            on_train=lambda: self._click(lambda: self.fit(wait=False)),
            on_clear=lambda: self._click(self.clear_runs),
            on_error=self.fail,
            on_change=self._setting_changed,
            buttons=[self.compare_button],
            columns=RUN_COLUMNS,
            loss_label="cross-entropy",
            chart_width="480px",  # leaves the runs table its columns at 1,280 px
            progress=False,  # LabBase's reserved row has progress and Stop
        )
        traitlets.dlink((self, "busy"), (self.panel, "busy"))
        self.book = RunBook(self.panel, on_diverged=self.fail, row=_row)
        # chart and runs table side by side where they fit (1,280 px), stacked where they do not
        # (JupyterLab's ~850 px column), so neither is squeezed and cut
        for row in self.panel.children:
            if self.panel.chart_box in getattr(row, "children", ()):
                row.layout.flex_flow = "row wrap"
        self.controls = self.panel.form.controls
        self.readout = ModelReadout()
        self.model_html, self.gallery = self.readout.summary, self.readout.gallery
        self.panel.below_chart.children = [self.model_html]
        self.body.children = [self.panel, self.gallery]
        self.add_section("training", self.panel)
        self.add_section("dropout", self.preset.button)
        self.panel.show_runs([])

    def _setting_changed(self, name: str, value: Any) -> None:
        self.clear_error()
        if name == "head" and value in PRESET_AT:  # the preset's dropout position follows the head
            self.preset.show(value)

    def _click(self, fn) -> None:
        with self.guard():
            fn()

    @property
    def settings(self) -> CNNSettings:
        """The controls as a validated CNNSettings (what Train would run)."""
        return self.panel.settings()

    def _render_model(self) -> None:
        self.readout.show(
            self._model, self.data, self.valid_loss, self.accuracy, self.misclassified
        )

    # --- training -----------------------------------------------------------------------------------
    @api_call
    def fit(
        self,
        epochs: int | None = None,
        lr: float | None = None,
        *,
        fresh: bool = True,
        wait: bool = True,
        label: str = "",
        **changes: Any,
    ) -> RunRecord | None:
        """Train a CNN with fastai's one-cycle recipe; blocks (unless ``wait=False``) while the
        page streams, and returns the run's record (its per-epoch history is also ``lab.history``).

        ``changes`` are any CNNSettings fields (``head``, ``dropout``, ``activation`` …); the form
        shows them. ``fresh=False`` keeps training ``lab.model`` instead of building a new one. A
        diverging lr stops the run and restores the last good weights; the run is marked
        "diverged", the banner says so and the call warns (``RuntimeWarning``) and returns it.
        """
        given = {k: v for k, v in dict(epochs=epochs, lr=lr).items() if v is not None}
        s = self.settings.replace(**given, **changes)
        data = self._load(s)  # here, so a bad digits/train_size raises before anything starts
        self.panel.form.show(s)
        task = self.run_and_wait(lambda t: self._run(t, s, data, fresh, label), wait)
        return self.book.outcome(task.result) if wait else None

    @api_call
    def compare_dropout(
        self, p: float = 0.5, *, seed: int | None = None, wait: bool = True
    ) -> list[RunRecord]:
        """The preset "dropout off vs on" (``models.cnn.preset``): two runs on a training set small
        enough to memorise, with the form's head, activation and channels, first without dropout,
        then with dropout ``p`` where the head's preset puts it (``models.cnn.PRESET_AT``: before
        the last layer for maxpool and stride2, on the first conv layer's maps for avgpool and
        concatpool). Without dropout the train loss falls to ~0 while the valid loss turns and
        climbs; with dropout it climbs less and the valid accuracy is at least as high (on at
        least 4 of 5 seeds for every head, by test). ``seed`` picks the
        split, the weights and the batch order (default: the preset's, so the button shows the
        same curves every time). Returns the two runs (records), off first."""
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p <= 0.99:
            raise LabInputError(f"p must be a dropout probability in (0, 0.99], got {p!r}")
        off, on = dropout_pair(self.settings, p, seed)
        data = self._load(off)

        def both(task):
            runs = []
            for s, label in ((off, "dropout off"), (on, f"dropout {p:g}")):
                if task.stopped:
                    break
                runs.append(self._run(task, s, data, True, label))
            if len(runs) == 2 and not any(r.diverged for r in runs):
                self.panel.say(_compare_text(runs, p))
            return runs

        self.panel.form.show(on)
        self.preset.show(on.head)
        task = self.run_and_wait(both, wait)
        return self.book.outcome(task.result) if wait else []

    def _run(self, task, s: CNNSettings, data: CNNData, fresh: bool, label: str = "") -> RunRecord:
        with self._lock:
            if fresh:
                model = make_cnn(s, data.n_classes).to(model_device(self._model))
            else:
                model = self._model
            self._check_shape(model, data)  # fresh=False on other digits: refused, nothing changed
            self._model = model
        self._show_data(data, s.seed)
        rec = self.book.start(
            label, settings=s.asdict(), epochs=s.epochs, train_n=len(data.train_y)
        )
        task.report(0.0, f"run #{rec.run}: training…")

        def on_event(ev):
            self.book.event(rec, ev)
            if ev.kind in ("step", "epoch"):  # short: it fits the progress row at 850 px
                text = f"run #{rec.run} · epoch {ev.epoch:.2f} · train {ev.train_loss:.3f}"
                if ev.kind == "epoch":
                    text += f" · valid {ev.valid_loss:.3f} · acc. {ev.get('accuracy', 0):.1%}"
                task.report(ev.fraction, text)

        run = fit_cnn(
            model, data, s, callback=on_event, should_stop=lambda: task.stopped, lock=self._lock
        )
        self.history = [dict(h) for h in run.history]
        # the epoch line is too long for the status row once training ends (its numbers are in
        # the runs table): leave a short one, so the hidden row holds no cut label
        task.report(1.0, f"run #{rec.run}: {run.status}")
        self.book.finish(rec, run)  # the table, the best run, the summary; diverged: the banner
        self._model_changed()
        return rec

    # --- runs: the RunBook (views.training) -----------------------------------------------------------
    @property
    def runs(self) -> list[RunRecord]:
        """Every finished run, in order (``RunRecord``: ``rec["accuracy"]``, ``rec["history"]`` …)."""
        return self.book.runs

    @api_call
    def clear_runs(self) -> None:
        """Forget every run and its curves (lab.model stays as it is)."""
        if self.busy:
            raise LabInputError("A run is in progress: press Stop first.")
        self.book.clear()


def _number(v: Any) -> bool:
    """A finite number to show (a run that diverged in its first epoch has no accuracy)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _row(r: RunRecord) -> dict:
    """The runs table's CNN cells: what ran (head, activation, width, dropout) and how far."""
    done = f"{r.epochs_done:.2f}" if r.status == "stopped" else f"{int(r.epochs_done)}"
    p = r["dropout"]
    return {
        "run_shown": f"{r.run} {r.label}".strip(),
        "model_shown": f"{r['head']} · {r['activation']} · {r['channels']}ch",
        "dropout_shown": f"{p:g} at {r['dropout_at']}" if p else "off",
        "epochs_shown": f"{done}/{r['epochs']}",
    }


def _rise(run: RunRecord) -> float:
    """How far a run's valid loss climbed from its lowest epoch to its last."""
    losses = [h["valid_loss"] for h in run["history"]] or [math.nan]
    return losses[-1] - min(losses)


def _compare_text(runs: list[RunRecord], p: float) -> str:
    off, on = runs
    return (
        f"Dropout off vs on ({PER_CLASS} digits of each class, {off['epochs']} epochs): valid "
        f"accuracy {off['accuracy']:.1%} off, {on['accuracy']:.1%} with dropout {p:g}; valid loss "
        f"rise {_rise(off):.3f} off, {_rise(on):.3f} with. For {on['head']} the dropout sits "
        f"{preset_where(on['head'])}."
    )
