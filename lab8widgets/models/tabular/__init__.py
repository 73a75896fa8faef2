"""The lesson's tabular model with entity embeddings (no widgets).

- ``data``: a DataFrame prepared as fastai's ``TabularPandas`` does, split by date as the course
  does for Rossmann; ``get_emb_sz``.
- ``model``: fastai's ``TabularModel`` layout, ``fit_tabular`` (one-cycle through the shared loop)
  and ``compare_fastai`` (fastai's own ``tabular_learner`` on the same rows).
- ``project``: reading the embeddings: vectors per category, 2-D projections, map and calendar scores.
"""

from . import project
from .data import NA, TabularData, get_emb_sz, tabular_data
from .model import (
    FitResult,
    TabularFit,
    TabularModel,
    compare_fastai,
    exp_rmspe,
    fastai_tabular,
    fit_tabular,
    partial_dependence,
    predict,
    tabular_model,
)

__all__ = [
    "NA",
    "FitResult",
    "TabularData",
    "TabularFit",
    "TabularModel",
    "compare_fastai",
    "exp_rmspe",
    "fastai_tabular",
    "fit_tabular",
    "get_emb_sz",
    "partial_dependence",
    "predict",
    "project",
    "tabular_data",
    "tabular_model",
]
