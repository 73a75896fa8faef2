"""Where an EmbeddingExplorer's factors come from: a lab it follows (anything that satisfies
``models.explore.CollabSource``, such as CollabLab), a module with its data, a fastai Learner or a
plain matrix; and the served lab's default (a model trained on start)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ...models import explore as X


def _field(ev: Any, name: str, default: Any = None) -> Any:
    """A training event's field, whether events are dicts or typed records."""
    return ev.get(name, default) if isinstance(ev, Mapping) else getattr(ev, name, default)


def _report(task: Any, ev: Any, epochs: int) -> None:
    step, total = _field(ev, "step", 0), _field(ev, "total", 0) or 1
    epoch = _field(ev, "epoch", 0.0) or 0.0
    task.report(step / total, f"training DotProductBias on start: epoch {epoch:.1f} of {epochs}")


@dataclass
class Source:
    """What the explorer shows: ``read()`` gives fresh ``Factors``; ``model()`` the live module
    (None for a plain matrix); ``lab`` the followed ``CollabSource`` (None otherwise)."""

    read: Callable[[], X.Factors]
    model: Callable[[], nn.Module | None]
    lab: X.CollabSource | None = None
    genres: dict | None = None


def source_reader(source, data, names, factors, bias, counts, genres=None) -> Source:
    """The explorer's ``Source`` for what it was given (``genres``: title -> "A|B", or None)."""
    genres = X.genre_map(genres)
    if isinstance(source, nn.Module):
        if data is None:
            raise TypeError(
                f"a {type(source).__name__} needs data=, the CollabData it was trained on"
            )
        what = f"a {type(source).__name__}"
        return Source(
            lambda: X.from_collab(source, data, genres, what), lambda: source, None, genres
        )
    if source is None and factors is not None:
        if names is None:
            raise TypeError("factors= needs names=, one per row")
        f0 = X.from_factors(
            names, factors, bias, counts, source="your factor matrix", genres=genres
        )
        return Source(lambda: f0, lambda: None, None, genres)
    if source is not None and hasattr(source, "dls") and hasattr(source, "model"):
        return Source(
            lambda: X.from_learner(source, genres, "a fastai collab_learner"),
            lambda: source.model,
            None,
            genres,
        )
    if isinstance(source, X.CollabSource):
        lab = source
        if genres is None:  # the lab's own: MovieLens genres, or the planted groups
            genres = X.genre_map(lab.genres)

        def read():
            runs = f"run #{lab.runs[-1]['run']}" if lab.runs else "untrained"
            name = type(lab).__name__
            return X.from_collab(lab.model, lab.data, genres, f"{name}'s model ({runs})")

        return Source(read, lambda: lab.model, lab, genres)
    raise TypeError(
        "EmbeddingExplorer needs a CollabLab, a fastai collab Learner, a DotProductBias or "
        "CollabNN with data=, or names= and factors=; got "
        f"{type(source).__name__ if source is not None else 'nothing'}"
    )


def served_default(cls, epochs: int = 15, **kwargs: Any):
    """The served lab: MovieLens 100k (fastai cache or download) else labelled synthetic ratings,
    and a DotProductBias trained on start in the background, with progress."""
    from ... import data as D
    from ...models.collab import collab_data, fit_collab, item_tags, make_model

    try:
        r = D.movielens("ml-100k")
        frame, src, genres, truth = r.ratings, r.source, r.ratings, None
    except FileNotFoundError:
        syn = D.synthetic_ratings()
        frame, src, genres, truth = syn.ratings, syn.source, syn.ratings, syn.truth
    data = collab_data(frame)
    # genres as metadata (lesson 8, 28:19): a new user's few ratings speak for their genres
    tags = item_tags(data, truth if truth is not None else genres)
    model = make_model(data, 50, data.default_y_range(), item_tags=tags)
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
            f"{src} · DotProductBias, 50 factors + {tags.n_tags} genres, "
            f"{res.history[-1]['epoch'] if res.history else 0} of {epochs} epochs on start"
        )
        return res

    ex.source = f"{src} · training a DotProductBias on start…"
    ex.run_task(train)
    return ex
