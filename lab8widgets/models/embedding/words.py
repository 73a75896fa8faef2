"""Lesson 8, claim 4: ids and words become integers, then rows. ``id_classes`` numbers user and
movie ids; ``tokenise`` and ``Words`` (a vocabulary that only grows, so a word keeps its row)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..collab import create_params
from .checks import as_int, check_indices

# --- ids for users and movies ---------------------------------------------------------------------


@dataclass
class RatingIds:
    """User and movie ids numbered as rows (``id_classes``), and the first ratings as index pairs."""

    users: list[Any]
    user_rows: dict[Any, int]
    movies: list[Any]
    movie_rows: dict[Any, int]
    x: torch.Tensor  # (n, 2) user row, movie row
    y: torch.Tensor  # (n,) ratings


def rating_ids(frame: Any, n: int = 2000) -> RatingIds:
    """Number a ratings table's ``user`` and ``movie`` columns and take its first ``n`` ratings."""
    users, user_rows = id_classes(frame["user"].tolist())
    movies, movie_rows = id_classes(frame["movie"].tolist())
    head = frame.iloc[:n]
    x = torch.tensor(
        [[user_rows[u] for u in head["user"]], [movie_rows[m] for m in head["movie"]]]
    ).T
    y = torch.tensor(head["rating"].to_numpy(), dtype=torch.float32)
    return RatingIds(users, user_rows, movies, movie_rows, x, y)


def id_classes(values: Iterable[Any]) -> tuple[list[Any], dict[Any, int]]:
    """Sorted distinct ids with ``#na#`` at row 0, numbered as fastai's ``Categorify`` does."""
    classes = ["#na#", *sorted(set(values))]
    return classes, {c: i for i, c in enumerate(classes) if i}


def rows_for_ids(ids: Iterable[Any], lookup: dict[Any, int], what: str = "id") -> list[int]:
    """Rows of the given ids (ints) in a table numbered by ``id_classes``."""
    rows = []
    for v in ids:
        i = as_int(v, what)
        if i not in lookup:
            lo, hi = min(lookup), max(lookup)
            raise ValueError(f"{what} {i} is not in the ratings (ids run from {lo} to {hi})")
        rows.append(lookup[i])
    if not rows:
        raise ValueError(f"type at least one {what}")
    return rows


# --- 4. words -------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokenise(text: Any) -> list[str]:
    """Lower-cased words (``I've`` stays one word); punctuation is dropped."""
    if not isinstance(text, str):
        raise ValueError(f"the text must be a string, got {type(text).__name__}")
    return _WORD.findall(text.lower().replace("\u2019", "'"))


class Words:
    """A vocabulary that only grows, and its embedding matrix (one ``create_params`` row a word).

    New words get new rows at the end; a word seen before keeps its row, so its integer id and its
    embedding never change while the text is edited.
    """

    def __init__(self, n_factors: int = 8, seed: int = 0):
        self.n_factors = int(n_factors)
        self.seed = seed
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}
        self.emb = create_params([0, self.n_factors])
        self.tokens: list[str] = []

    def update(self, text: Any) -> list[int]:
        """Tokenise ``text``, grow the vocabulary and the matrix with new words; the ids of the text."""
        tokens = tokenise(text)
        if not tokens:
            raise ValueError("the text has no words: type a line of text (letters or digits)")
        new = [w for w in dict.fromkeys(tokens) if w not in self.index]
        if new:
            with torch.random.fork_rng():
                torch.manual_seed(self.seed + len(self.vocab))
                rows = create_params([len(new), self.n_factors])
            self.emb = nn.Parameter(torch.cat([self.emb.detach(), rows.detach()]))
            for w in new:
                self.index[w] = len(self.vocab)
                self.vocab.append(w)
        self.tokens = tokens
        return self.ids

    @property
    def ids(self) -> list[int]:
        return [self.index[w] for w in self.tokens]

    @property
    def matrix(self) -> torch.Tensor:
        """The text as rows of the embedding matrix: ``emb[ids]`` (tokens × factors)."""
        return self.emb.detach()[torch.tensor(self.ids, dtype=torch.long)]

    def rows_for(self, text: str) -> list[int]:
        """Rows for what a learner types: words, or row numbers, mixed (``"hope, 3"``)."""
        parts = [p for p in re.split(r"[\s,;]+", str(text).strip()) if p]
        if not parts:
            raise ValueError("type at least one word or row")
        rows = [
            as_int(p) if p.lstrip("+-").isdigit() else self.rows_for_words([p])[0] for p in parts
        ]
        return check_indices(rows, len(self.vocab))

    def rows_for_words(self, words: Iterable[Any]) -> list[int]:
        rows = []
        for w in words:
            key = str(w).strip().lower()
            if key not in self.index:
                raise ValueError(f"{w!r} is not in the vocabulary ({len(self.vocab)} words)")
            rows.append(self.index[key])
        if not rows:
            raise ValueError("type at least one word")
        return rows
