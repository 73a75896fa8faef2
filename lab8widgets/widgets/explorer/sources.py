"""Where an EmbeddingExplorer's factors come from: a CollabLab, a module with its data, a fastai
Learner or a plain matrix; and the served lab's default (a model trained on start)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import explore as X


def _field(ev: Any, name: str, default: Any = None) -> Any:
    """A training event's field, whether events are dicts or typed records."""
    return ev.get(name, default) if isinstance(ev, Mapping) else getattr(ev, name, default)


def _report(task: Any, ev: Any, epochs: int) -> None:
    step, total = _field(ev, "step", 0), _field(ev, "total", 0) or 1
    epoch = _field(ev, "epoch", 0.0) or 0.0
    task.report(step / total, f"training DotProductBias on start: epoch {epoch:.1f} of {epochs}")


def source_reader(self, source, data, names, factors, bias, counts):
    """A function that reads ``self``'s source into ``Factors`` (called again on refresh); sets
    ``self.lab`` for a CollabLab and ``self._model`` to the module it reads."""
    from torch import nn

    from .collab import CollabLab

    if isinstance(source, CollabLab):
        lab = self.lab = source
        if self._genres is None:  # the planted groups, or a ratings frame's genres column
            self._genres = X.genre_map(getattr(lab, "truth", None) or getattr(lab, "ratings", None))

        def read():
            self._model = lab.model
            runs = f"run #{lab.runs[-1]['run']}" if lab.runs else "untrained"
            return X.from_collab(lab.model, lab.data, self._genres, f"CollabLab's model ({runs})")

    elif isinstance(source, nn.Module):
        if data is None:
            raise TypeError(
                f"a {type(source).__name__} needs data=, the CollabData it was trained on"
            )

        def read():
            self._model = source
            return X.from_collab(source, data, self._genres, f"a {type(source).__name__}")

    elif source is None and factors is not None:
        if names is None:
            raise TypeError("factors= needs names=, one per row")
        f0 = X.from_factors(
            names, factors, bias, counts, source="your factor matrix", genres=self._genres
        )

        def read():
            return f0

    elif source is not None and hasattr(source, "dls") and hasattr(source, "model"):

        def read():
            self._model = source.model
            return X.from_learner(source, self._genres, "a fastai collab_learner")

    else:
        raise TypeError(
            "EmbeddingExplorer needs a CollabLab, a fastai collab Learner, a DotProductBias or "
            "CollabNN with data=, or names= and factors=; got "
            f"{type(source).__name__ if source is not None else 'nothing'}"
        )
    return read


def served_default(cls, epochs: int = 15, **kwargs: Any):
    """The served lab: MovieLens 100k (fastai cache or download) else labelled synthetic ratings,
    and a DotProductBias trained on start in the background, with progress."""
    from .. import data as D
    from ..models.collab import collab_data, fit_collab, make_model

    try:
        r = D.movielens("ml-100k")
        frame, src, genres, truth = r.ratings, r.source, r.ratings, None
    except FileNotFoundError:
        syn = D.synthetic_ratings()
        frame, src, genres, truth = syn.ratings, syn.source, syn.ratings, syn.truth
    data = collab_data(frame)
    model = make_model(data, 50, data.default_y_range())
    ex = cls(model, data, genres=genres, **kwargs)
    ex.truth = truth
    ex.data_source = src

    def train(task):
        res = fit_collab(
            model,
            data,
            epochs,
            1e-2,
            0.1,
            256 if len(data.train_idx) > 50_000 else 64,
            callback=lambda ev: _report(task, ev, epochs),
            should_stop=lambda: task.stopped,
        )
        ex.refresh()  # before busy turns False, so a waiting caller sees the trained model
        ex.source = (
            f"{src} · DotProductBias, 50 factors, {res.history[-1]['epoch'] if res.history else 0}"
            f" of {epochs} epochs on start"
        )
        return res

    ex.source = f"{src} · training a DotProductBias on start…"
    ex.run_task(train)
    return ex
