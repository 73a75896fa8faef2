"""Entity embeddings inside other models (Guo & Berkhahn 2016, section VI.2; lesson 8, 41:04).

The paper trained KNN, a random forest and gradient-boosted trees on Rossmann twice: on the
categories as the models usually take them (KNN one-hot, the trees integer codes) and with every
category replaced by the vector a neural network had learned for it. The embeddings improved every
model. ``other_models`` repeats that on a live ``TabularModel`` and its data, with scikit-learn's
``KNeighborsRegressor``, ``RandomForestRegressor`` and ``HistGradientBoostingRegressor`` (in place of
the paper's xgboost), and sets the paper's published figures beside ours. No widget code.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .model import predict

if TYPE_CHECKING:
    import pandas as pd

    from .data import TabularData

__all__ = ["PAPER", "PAPER_MAPE", "other_models"]

PAPER = (
    "Guo & Berkhahn 2016, Entity Embeddings of Categorical Variables (arXiv:1604.06737), "
    "section VI.2: Rossmann, test set the latest 10% of the data, 200,000 training rows, MAPE"
)
#: (model, input) -> the paper's MAPE on the time-ordered split. "Without EE" the paper fed KNN
#: one-hot features and the trees integer codes; its network's figure is with embeddings.
PAPER_MAPE = {
    ("KNeighborsRegressor", "one-hot"): 0.290,
    ("KNeighborsRegressor", "embeddings"): 0.116,
    ("RandomForestRegressor", "codes"): 0.158,
    ("RandomForestRegressor", "embeddings"): 0.108,
    ("HistGradientBoostingRegressor", "codes"): 0.152,
    ("HistGradientBoostingRegressor", "embeddings"): 0.115,
    ("neural network", "embeddings"): 0.093,
}
#: the paper's inputs without embeddings, then with them
_PLAN = (
    ("KNeighborsRegressor", "one-hot"),
    ("KNeighborsRegressor", "embeddings"),
    ("RandomForestRegressor", "codes"),
    ("RandomForestRegressor", "embeddings"),
    ("HistGradientBoostingRegressor", "codes"),
    ("HistGradientBoostingRegressor", "embeddings"),
)


def _estimator(name: str, seed: int):
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    from sklearn.neighbors import KNeighborsRegressor

    if name == "KNeighborsRegressor":  # the paper's Table 2 settings
        return KNeighborsRegressor(n_neighbors=10, weights="distance", p=1)
    if name == "RandomForestRegressor":  # the paper's depth, fewer trees (seconds, not hours)
        return RandomForestRegressor(n_estimators=60, max_depth=35, random_state=seed, n_jobs=1)
    return HistGradientBoostingRegressor(max_iter=300, random_state=seed)


def features(model: Any, data: TabularData, rows: torch.Tensor, kind: str) -> np.ndarray:
    """The inputs of ``rows`` as ``codes``, ``one-hot`` or ``embeddings`` (each category's learned
    vector, from ``model.embeds``), each followed by the normalized continuous columns."""
    cats, conts = data.x_cat[rows], data.x_cont[rows].numpy().astype(np.float64)
    if kind == "codes":
        parts = [cats.numpy().astype(np.float64)]
    elif kind == "one-hot":
        parts = [
            np.eye(len(data.classes[n]))[cats[:, j].numpy()] for j, n in enumerate(data.cat_names)
        ]
    elif kind == "embeddings":
        with torch.no_grad():
            parts = [
                e.weight.detach().cpu().double()[cats[:, j]].numpy()
                for j, e in enumerate(model.embeds)
            ]
    else:
        raise ValueError(f"kind must be 'codes', 'one-hot' or 'embeddings', got {kind!r}")
    return np.concatenate([*parts, conts], axis=1)


def _error(pred: np.ndarray, y: np.ndarray, log_target: bool) -> float:
    """MAPE of sales (the paper's measure) for a log-sales target, else RMSE."""
    if log_target:
        return float(np.mean(np.abs(np.exp(y) - np.exp(pred)) / np.exp(y)))
    return float(np.sqrt(np.mean((y - pred) ** 2)))


def other_models(
    model: Any,
    data: TabularData,
    *,
    max_train: int = 1_000,
    max_valid: int = 2_000,
    seed: int = 0,
    data_label: str = "",
) -> pd.DataFrame:
    """One row per model and input: ``model``, ``input``, ``valid_error``, ``paper_mape``,
    ``metric``, ``train_rows``, ``valid_rows`` and ``data``, plus the network's own row.

    Every row trains on the same ``max_train`` training rows and is scored on the same
    ``max_valid`` validation rows (seeded samples of ``data``'s date split; few training rows, as
    the paper sparsified its data to 200,000 of a million). The error is the paper's MAPE of sales
    when the target is log sales (``LogSales``), else the RMSE. scikit-learn runs on one thread:
    on a shared 2-core machine its OpenMP team made gradient boosting 30 times slower.
    """
    import pandas as pd
    from threadpoolctl import threadpool_limits

    if not getattr(model, "embeds", None) or len(model.embeds) != len(data.cat_names):
        raise ValueError("the model must be a TabularModel built for this data (tabular_model)")
    for name, n in (("max_train", max_train), ("max_valid", max_valid)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 10:
            raise ValueError(f"{name} must be an integer of at least 10, got {n!r}")
    rng = np.random.default_rng(seed)

    def sample(idx: torch.Tensor, n: int) -> torch.Tensor:
        idx = idx.numpy()
        return torch.as_tensor(np.sort(rng.choice(idx, n, replace=False)) if len(idx) > n else idx)

    tr, va = sample(data.train_idx, max_train), sample(data.valid_idx, max_valid)
    y_tr, y_va = data.y[tr].double().numpy(), data.y[va].double().numpy()
    log_target = data.y_name.lower().startswith("log")
    metric = "MAPE of sales" if log_target else f"RMSE of {data.y_name}"
    rows = []
    with threadpool_limits(1):
        for name, kind in _PLAN:
            est = _estimator(name, seed)
            est.fit(features(model, data, tr, kind), y_tr)
            err = _error(est.predict(features(model, data, va, kind)), y_va, log_target)
            rows.append((name, kind, err))
    rows.append(
        ("neural network", "embeddings", _error(predict(model, data, va), y_va, log_target))
    )
    return pd.DataFrame(
        [
            {
                "model": name,
                "input": kind,
                "valid_error": err,
                "paper_mape": PAPER_MAPE.get((name, kind), math.nan),
                "metric": metric,
                "train_rows": len(tr),
                "valid_rows": len(va),
                "data": data_label,
            }
            for name, kind, err in rows
        ]
    )
