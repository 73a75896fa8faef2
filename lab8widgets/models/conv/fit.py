"""Fitting SpreadsheetCNN's dense layer on the sample digits (logistic regression, conv frozen), memoised."""

from __future__ import annotations

import numbers
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from .._threads import one_thread

if TYPE_CHECKING:
    from .network import SpreadsheetCNN

__all__ = ["FIT_IMAGES", "DenseFit", "fit_dense", "fit_dense_cached"]


# --- fitting the dense layer ----------------------------------------------------------------------------
def fit_dense(
    model: SpreadsheetCNN,
    images: Any,
    labels: Any,
    steps: int = 300,
    valid_frac: float = 0.2,
    seed: int = 0,
) -> tuple[float, float]:
    """Fit only the dense layer (logistic regression on the pooled features), conv layers untouched.

    The features are standardised while fitting and the scaling is folded back into the weights, so
    the fit works whatever the kernels' scale. Features are read in eval mode (no dropout mask).
    ``labels`` are class names or digits matching ``model.classes``. Returns (train accuracy,
    validation accuracy) on a seeded split.
    """
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if len(x) != len(labels):
        raise ValueError(f"got {len(x)} images but {len(labels)} labels")
    lab = [
        str(int(v)) if isinstance(v, numbers.Integral | np.integer) else str(v)
        for v in np.asarray(labels).tolist()
    ]
    keep = [i for i, v in enumerate(lab) if v in model.classes]
    if len(keep) < 2:
        raise ValueError(f"need images of classes {model.classes} to fit the dense layer")
    y = torch.tensor([model.classes.index(lab[i]) for i in keep])
    x = x[keep]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            feats = model.features(x).cpu()
    finally:
        model.train(was_training)
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(y), generator=g)
    n_valid = int(len(y) * valid_frac)
    tr, va = perm[n_valid:], perm[:n_valid]
    mu = feats[tr].mean(0)
    sd = feats[tr].std(0).clamp_min(1e-6)
    z = (feats - mu) / sd
    with one_thread():  # small tensors: a second OpenMP thread only spins on a busy machine
        w_z, b_z = _softmax_regression(z[tr], y[tr], len(model.classes), steps=steps, wd=1e-2)
    with torch.no_grad():
        w = w_z / sd
        b = b_z - (w * mu).sum(1)
        pred = (feats @ w.T + b).argmax(1)
        model.dense.weight.copy_(w.to(model.device))
        model.dense.bias.copy_(b.to(model.device))
        train_acc = float((pred[tr] == y[tr]).float().mean())
        valid_acc = float((pred[va] == y[va]).float().mean()) if n_valid else float("nan")
    model.dense_fitted = True
    return train_acc, valid_acc


def _softmax_regression(
    z: torch.Tensor, y: torch.Tensor, n_classes: int, steps: int, wd: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression, cross-entropy + wd/2·|W|², by Nesterov's accelerated gradient.

    Written out (autograd for the gradient, a step of 1/L from a power iteration) rather than with
    ``torch.optim``, whose first use imports torch._dynamo: seconds added to every ConvLab page.
    """
    n, d = z.shape
    g = torch.Generator().manual_seed(0)
    v = torch.randn(d, generator=g)
    for _ in range(20):  # the largest eigenvalue of zᵀz/n bounds the loss's curvature (×1/2)
        v = z.T @ (z @ v) / n
        v = v / v.norm().clamp_min(1e-12)
    lam = float(v @ (z.T @ (z @ v)) / n)
    step = 1.0 / (0.5 * (lam + 1.0) + wd)  # +1 for the bias column
    w = torch.zeros(n_classes, d)
    b = torch.zeros(n_classes)
    w_prev, b_prev = w.clone(), b.clone()
    for t in range(1, steps + 1):
        mom = (t - 1) / (t + 2)
        yw = (w + mom * (w - w_prev)).requires_grad_(True)
        yb = (b + mom * (b - b_prev)).requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(z @ yw.T + yb, y) + wd * yw.pow(2).sum() / 2
            gw, gb = torch.autograd.grad(loss, (yw, yb))
        w_prev, b_prev = w, b
        w, b = (yw - step * gw).detach(), (yb - step * gb).detach()
    return w, b


FIT_IMAGES = 600  # per fit: enough for a stable 3-vs-7 dense layer, small enough to fit in ~0.2 s
_FIT_CACHE: OrderedDict[tuple, tuple] = (
    OrderedDict()
)  # fitted dense layers by data and conv weights


class DenseFit(NamedTuple):
    """What ``fit_dense_cached`` did: accuracies and how many digits it fitted on."""

    train_accuracy: float
    valid_accuracy: float
    n_train: int


def fit_dense_cached(
    model: SpreadsheetCNN, images: Any, labels: Any, data_key: str = ""
) -> DenseFit:
    """``fit_dense`` on up to FIT_IMAGES digits spread over the sample (both classes), memoised.

    The same data, sizes, activation and conv weights always fit the same dense layer, so going back
    to an earlier setting is instant. ``data_key`` names the data (e.g. its source).
    """
    n = min(len(images), FIT_IMAGES)
    pick = np.linspace(0, len(images) - 1, n).astype(int)
    key = (
        data_key,
        len(images),
        model.classes,
        tuple(sorted(model.config().items())),
        model.activation,
        model.conv1.weight.detach().cpu().numpy().tobytes(),
        model.conv2.weight.detach().cpu().numpy().tobytes(),
    )
    hit = _FIT_CACHE.get(key)
    if hit is None:
        tr, va = fit_dense(model, np.asarray(images)[pick], np.asarray(labels)[pick])
        hit = (
            model.dense.weight.detach().cpu().clone(),
            model.dense.bias.detach().cpu().clone(),
            tr,
            va,
        )
        _FIT_CACHE[key] = hit
        while len(_FIT_CACHE) > 64:
            _FIT_CACHE.popitem(last=False)
    else:
        with torch.no_grad():
            model.dense.weight.copy_(hit[0].to(model.device))
            model.dense.bias.copy_(hit[1].to(model.device))
        model.dense_fitted = True
    return DenseFit(hit[2], hit[3], n - int(n * 0.2))
