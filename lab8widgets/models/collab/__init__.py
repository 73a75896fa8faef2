"""Collaborative filtering as Lesson 8 builds it, in plain torch, with a loop fast enough to watch.

- ``modules``: the book's models, ``create_params``, ``sigmoid_range``, ``DotProductBias``,
  ``CollabNN`` sized by ``get_emb_sz`` (fastai's ``emb_sz_rule``), ``make_model``;
- ``data``: ratings as index tensors split and numbered like fastai's ``CollabDataLoaders``, and
  where ratings come from (``load_ratings``: a DataFrame, MovieLens, labelled synthetic ratings);
- ``fit``: ``fit_collab`` (the generic loop of ``lab8widgets.models.train`` with MSE), the lab's
  settings ``CollabSettings`` and the book's ablation recipe;
- ``fastai_runner``: fastai's own ``collab_learner`` on the same split (fastai imported lazily);
- ``inspect``: bias tables, similar items (one default ``min_ratings``), finding a title
  (read through ``.cpu()``).

Every name stays importable from ``lab8widgets.models.collab``. No widget code here.
"""

from .._threads import one_thread
from ..train import FitSettings, RowAdamW, Run, TrainEvent, combined_cos, one_cycle
from .data import (
    DATASETS,
    ITEM_NAMES,
    NA,
    NO_TAGS,
    RATING_NAMES,
    USER_NAMES,
    CollabData,
    ItemTags,
    LoadedRatings,
    auto_bs,
    collab_data,
    genre_map,
    item_tags,
    load_ratings,
    random_split,
)
from .fastai_runner import fastai_dls, fit_fastai
from .fit import (
    ABLATION,
    DEFAULT_BS,
    FEW_RATINGS,
    CollabSettings,
    Event,
    FitResult,
    ablation_steps,
    check_fit_args,
    check_whole,
    describe_run,
    fit_collab,
    mse,
    resolve_y_range,
    run_settings,
    valid_mse,
    valid_mse_by_count,
)
from .inspect import (
    MIN_RATINGS,
    bias_table,
    default_min_ratings,
    find_item,
    find_title,
    similar_items,
)
from .modules import (
    CollabNN,
    DotProductBias,
    bias_tables,
    create_params,
    emb_sz_rule,
    factor_tables,
    get_emb_sz,
    has_metadata,
    make_model,
    sigmoid_range,
)

__all__ = [
    "ABLATION",
    "DATASETS",
    "DEFAULT_BS",
    "FEW_RATINGS",
    "ITEM_NAMES",
    "MIN_RATINGS",
    "NA",
    "NO_TAGS",
    "RATING_NAMES",
    "USER_NAMES",
    "CollabData",
    "CollabNN",
    "CollabSettings",
    "DotProductBias",
    "Event",
    "FitResult",
    "FitSettings",
    "ItemTags",
    "LoadedRatings",
    "RowAdamW",
    "Run",
    "TrainEvent",
    "ablation_steps",
    "auto_bs",
    "bias_table",
    "bias_tables",
    "check_fit_args",
    "check_whole",
    "collab_data",
    "combined_cos",
    "create_params",
    "default_min_ratings",
    "emb_sz_rule",
    "factor_tables",
    "describe_run",
    "fastai_dls",
    "find_item",
    "find_title",
    "fit_collab",
    "fit_fastai",
    "genre_map",
    "get_emb_sz",
    "has_metadata",
    "item_tags",
    "load_ratings",
    "make_model",
    "mse",
    "one_cycle",
    "one_thread",
    "random_split",
    "resolve_y_range",
    "run_settings",
    "sigmoid_range",
    "similar_items",
    "valid_mse",
    "valid_mse_by_count",
]
