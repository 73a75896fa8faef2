"""Embeddings from scratch, as Lesson 8 builds them, in plain torch (no widgets here).

Four claims of the lesson, one module each, so a lab can compute them and a test can check them:

1. ``parameter``: a module only tracks (and an optimizer only moves) tensors wrapped in ``nn.Parameter``.
2. ``lookup``: an embedding is indexing, and indexing is a one-hot matrix product done fast.
3. ``init``: ``create_params`` starts at normal(0, 0.01), ``nn.Embedding`` at N(0, 1).
4. ``words``: ids and words become integers, then rows of a growing embedding matrix.

``checks`` turns what a learner typed into indices and numbers, or a clear message.
"""

from ..collab import create_params
from .checks import as_int, check_indices, check_real, parse_ints
from .init import InitComparison, histogram, init_comparison
from .lookup import Lookup, compare_paths, time_paths, toy_table
from .parameter import StepResult, ToggleModule, sgd_step
from .words import RatingIds, Words, id_classes, rating_ids, rows_for_ids, tokenise

__all__ = [
    "InitComparison",
    "Lookup",
    "RatingIds",
    "StepResult",
    "ToggleModule",
    "Words",
    "as_int",
    "check_indices",
    "check_real",
    "compare_paths",
    "create_params",
    "histogram",
    "id_classes",
    "init_comparison",
    "parse_ints",
    "rating_ids",
    "rows_for_ids",
    "sgd_step",
    "time_paths",
    "tokenise",
    "toy_table",
]
