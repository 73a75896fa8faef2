"""The bootstrapping problem: a new user rates a few items; fit their vector and bias with the item
factors frozen, pulled toward the average user, and recommend from it."""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import torch

from .._threads import one_thread
from ..collab import check_whole, sigmoid_range
from .factors import Factors, find_name
from .maps import default_min_ratings, eligible

NEW_USER_STEPS = 150
NEW_USER_LR = 0.1
NEW_USER_PULL = 0.05  # pull of the user vector towards the average user's
# A handful of ratings cannot tell a generous rater from a fan of these films; holding the bias near
# the average user's makes the vector (the taste) explain them: on synthetic_ratings a fan of one
# planted group then gets that group (a free bias soaks up all-5-star answers instead).
NEW_USER_BIAS_PULL = 1.0
# ...and the vector stays a vector a real user could have: no farther from the average user than
# this share of real users are (the pull is doubled until it is).
NEW_USER_WITHIN = 0.95


def user_spread(f: Factors, q: float = NEW_USER_WITHIN) -> float:
    """The ``q`` quantile of real users' distances from the average user: how far real tastes go."""
    if f.user_factors is None or len(f.user_factors) < 2:
        return float("inf")
    u0 = f.user_factors.mean(0)
    return float(torch.quantile((f.user_factors - u0).norm(dim=1).double(), float(q)))


def average_user(f: Factors) -> tuple[torch.Tensor, torch.Tensor]:
    """The mean user vector and bias: fastbook's first answer for a user with no ratings."""
    k = f.user_factors.shape[1] if f.user_factors is not None else f.item_factors.shape[1]
    u = f.user_factors.mean(0) if f.user_factors is not None else torch.zeros(k)
    b = f.user_bias.mean() if f.user_bias is not None else torch.zeros(())
    return u.clone(), b.clone()


def predict_for_user(f: Factors, u: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Predicted rating of every item for a user with vector ``u`` and bias ``b``."""
    if f.head is not None:
        res = f.head(torch.cat([u.expand(len(f.item_factors), -1), f.item_factors], dim=1))
    else:
        res = f.item_factors @ u
        if f.item_bias is not None:
            res = res + f.item_bias + b
    return res if f.y_range is None else sigmoid_range(res, *f.y_range)


def _check_ratings(f: Factors, ratings: Mapping) -> tuple[np.ndarray, torch.Tensor]:
    if not isinstance(ratings, Mapping):
        raise TypeError(f"ratings must be a dict of title -> stars, got {type(ratings).__name__}")
    low, high = f.rating_range
    rows, stars = [], []
    for title, s in ratings.items():
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not np.isfinite(float(s)):
            raise ValueError(f"the rating of {title!r} must be a number of stars, got {s!r}")
        if not low <= float(s) <= high:
            raise ValueError(
                f"the rating of {title!r} is {s}, outside this data's scale {low:g}–{high:g}"
            )
        rows.append(find_name(f, title))
        stars.append(float(s))
    if len(set(rows)) != len(rows):
        raise ValueError("a title is rated twice")
    return np.asarray(rows, dtype=np.int64), torch.tensor(stars, dtype=torch.float32)


@one_thread()
def fit_new_user(
    f: Factors,
    ratings: Mapping,
    steps: int = NEW_USER_STEPS,
    lr: float = NEW_USER_LR,
    pull: float = NEW_USER_PULL,
    bias_pull: float = NEW_USER_BIAS_PULL,
    within: float | None = NEW_USER_WITHIN,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A new user's vector and bias fitted to ``ratings`` (title -> stars) with every item factor,
    item bias and layer frozen. Starts at, and is pulled towards, the average user, so no ratings
    give the average user and a few ratings move it only as far as they justify. ``within``: the
    pull doubles until the vector is no farther from the average user than that share of real
    users (``user_spread``); None fits with ``pull`` as given."""
    rows, y = _check_ratings(f, ratings)
    u0, b0 = average_user(f)
    if not len(rows):
        return u0, b0
    radius = float("inf") if within is None else user_spread(f, within)
    u, b = _fit_user(f, rows, y, u0, b0, steps, lr, pull, bias_pull)
    for _ in range(40):
        if float((u - u0).norm()) <= radius * (1 + 1e-4):
            break
        pull *= 2
        u, b = _fit_user(f, rows, y, u0, b0, steps, lr, pull, bias_pull)
    return u, b


def _fit_user(f, rows, y, u0, b0, steps, lr, pull, bias_pull):
    sub = Factors(
        items=[f.items[i] for i in rows],
        item_factors=f.item_factors[rows],
        item_bias=None if f.item_bias is None else f.item_bias[rows],
        user_factors=f.user_factors,
        head=f.head,
        y_range=f.y_range,
        kind=f.kind,
    )
    scale = float(u0.norm()) ** 2 / max(1, len(u0)) + 1e-2  # typical size of a user's factors
    if f.head is None:
        return _gauss_newton(sub, y, u0, b0, pull / scale / len(u0), bias_pull)
    u = u0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    params = [u, b]
    # Adam written out: torch.optim's first use imports torch._dynamo (seconds on this machine)
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    b1, b2, eps = 0.9, 0.999, 1e-8
    for t in range(1, int(steps) + 1):
        pred = predict_for_user(sub, u, b)
        loss = ((pred - y) ** 2).mean() + (
            pull * ((u - u0) ** 2).mean() / scale + bias_pull * (b - b0) ** 2
        ) / len(rows)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for p, g, mi, vi in zip(params, grads, m, v, strict=True):
                if g is None:
                    continue
                mi.mul_(b1).add_(g, alpha=1 - b1)
                vi.mul_(b2).addcmul_(g, g, value=1 - b2)
                step = lr / (1 - b1**t)
                p.addcdiv_(mi, (vi / (1 - b2**t)).sqrt_().add_(eps), value=-step)
    return u.detach(), b.detach()


def _gauss_newton(
    sub: Factors, y: torch.Tensor, u0: torch.Tensor, b0: torch.Tensor, wu: float, wb: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same objective as the Adam path, for dot-product models, by damped Gauss-Newton steps
    on the k+1 numbers (exact for a model without y_range): a millisecond, not a hundred."""
    a = sub.item_factors.double()
    ib = sub.item_bias.double() if sub.item_bias is not None else torch.zeros(len(a), dtype=a.dtype)
    has_b = sub.item_bias is not None
    yy = y.double()
    th0 = torch.cat([u0.double(), b0.double().reshape(1)])
    th = th0.clone()
    d = torch.full_like(th, wu)
    d[-1] = wb
    x = torch.cat([a, torch.full((len(a), 1), 1.0 if has_b else 0.0, dtype=a.dtype)], dim=1)

    def objective(t):
        z = x @ t + ib
        if sub.y_range is None:
            pred, slope = z, torch.ones_like(z)
        else:
            lo, hi = sub.y_range
            sg = torch.sigmoid(z)
            pred, slope = lo + (hi - lo) * sg, (hi - lo) * sg * (1 - sg)
        r = pred - yy
        return float((r**2).sum() + (d * (t - th0) ** 2).sum()), r, slope

    cost, r, slope = objective(th)
    damp = 1e-3
    for _ in range(50):
        j = x * slope[:, None]
        g = j.T @ r + d * (th - th0)
        h = j.T @ j + torch.diag(d)
        step = torch.linalg.solve(h + damp * torch.diag(torch.diagonal(h) + 1e-9), -g)
        new_cost, new_r, new_slope = objective(th + step)
        if new_cost < cost:
            th, cost, r, slope = th + step, new_cost, new_r, new_slope
            damp = max(damp / 3, 1e-9)
            if float(step.abs().max()) < 1e-7:
                break
        else:
            damp *= 10
            if damp > 1e8:
                break
    return th[:-1].float(), th[-1].float()


def recommend(
    f: Factors,
    ratings: Mapping,
    k: int = 10,
    min_ratings: int | None = None,
    user: tuple[torch.Tensor, torch.Tensor] | None = None,
):
    """The k titles with the highest predicted rating for a new user who gave ``ratings``, never
    one they rated, among titles with at least ``min_ratings`` training ratings. ``predicted`` is
    clipped to the rating scale (what a learner reads); ``model_output`` is the model's own number,
    which ``y_range`` lets reach 5.5 on a 5-star scale."""
    import pandas as pd

    k = check_whole("k", k, 0, 1 << 30)
    if min_ratings is None:
        min_ratings = default_min_ratings(f.item_counts)
    min_ratings = check_whole("min_ratings", min_ratings, 0, 1 << 30)
    rows, _ = _check_ratings(f, ratings)
    u, b = user if user is not None else fit_new_user(f, ratings)
    with torch.no_grad():
        pred = predict_for_user(f, u, b).numpy().astype(float)
    ok = eligible(f, min_ratings)
    ok[rows] = False
    cand = np.flatnonzero(ok)
    order = cand[np.argsort(-pred[cand], kind="stable")][:k]
    counts = f.item_counts if f.item_counts is not None else np.full(f.n_items, -1)
    return pd.DataFrame(
        {
            "title": [f.items[j] for j in order],
            "predicted": np.clip(pred[order], *f.rating_range),
            "n_ratings": counts[order].astype(int),
            "model_output": pred[order],
        }
    )
