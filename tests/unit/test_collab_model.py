"""The collaborative-filtering models and loop, checked against torch and fastai's own functions."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.func import functional_call

from lab8widgets.data import synthetic_ratings
from lab8widgets.models.collab import (
    NA,
    CollabNN,
    DotProductBias,
    RowAdamW,
    bias_table,
    collab_data,
    create_params,
    emb_sz_rule,
    fastai_dls,
    find_item,
    fit_collab,
    fit_fastai,
    get_emb_sz,
    make_model,
    one_cycle,
    one_thread,
    random_split,
    sigmoid_range,
    similar_items,
    valid_mse,
)
from lab8widgets.models.train import TrainEvent


@pytest.fixture(scope="module")
def syn():
    return synthetic_ratings()


@pytest.fixture(scope="module")
def data(syn):
    return collab_data(syn.ratings, valid_pct=0.2, seed=42)


def test_importing_the_package_does_not_import_fastai():
    code = "import lab8widgets, lab8widgets.models.collab, sys; print('fastai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the lesson's pieces --------------------------------------------------------------------------


def test_create_params_is_a_tracked_small_normal_tensor():
    torch.manual_seed(0)
    p = create_params([2000, 50])
    assert isinstance(p, nn.Parameter) and p.requires_grad
    assert p.shape == (2000, 50)
    assert abs(p.mean().item()) < 1e-3
    assert abs(p.std().item() - 0.01) < 5e-4
    assert create_params(7).shape == (7,)


def test_create_params_modules_expose_their_parameters():
    m = DotProductBias(5, 7, 3)
    names = dict(m.named_parameters())
    assert set(names) == {"user_factors", "user_bias", "movie_factors", "movie_bias"}
    assert {id(p) for p in m.parameters()} == {
        id(m.user_factors),
        id(m.user_bias),
        id(m.movie_factors),
        id(m.movie_bias),
    }
    assert names["user_factors"].shape == (5, 3) and names["movie_bias"].shape == (7,)
    # an optimizer built from parameters() moves every one of them
    opt = torch.optim.SGD(m.parameters(), lr=1.0)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    x = torch.tensor([[0, 1], [4, 6]])
    m(x).sum().backward()
    opt.step()
    assert all(not torch.equal(before[n], p) for n, p in m.named_parameters() if n != "movie_bias")
    no_bias = DotProductBias(5, 7, 3, bias=False)
    assert set(dict(no_bias.named_parameters())) == {"user_factors", "movie_factors"}
    nn_model = CollabNN((5, 4), (7, 6), n_act=10)
    assert {"user_factors", "item_factors"} <= set(dict(nn_model.named_parameters()))
    assert sum(p.numel() for p in nn_model.parameters()) == 5 * 4 + 7 * 6 + 10 * 10 + 10 + 10 + 1


def test_dot_product_bias_forward_is_the_books_formula():
    torch.manual_seed(1)
    m = DotProductBias(4, 6, 3, y_range=(0, 5.5))
    x = torch.tensor([[0, 5], [3, 2], [1, 1]])
    u, i = x[:, 0], x[:, 1]
    raw = (m.user_factors[u] * m.movie_factors[i]).sum(1) + m.user_bias[u] + m.movie_bias[i]
    torch.testing.assert_close(m(x), torch.sigmoid(raw) * 5.5)
    m.y_range = None
    torch.testing.assert_close(m(x), raw)
    with pytest.raises(ValueError, match="low < high"):
        DotProductBias(2, 2, 2, y_range=(5, 1))


def test_sigmoid_range_matches_fastai():
    from fastai.layers import sigmoid_range as fastai_sigmoid_range

    x = torch.linspace(-8, 8, 101)
    torch.testing.assert_close(sigmoid_range(x, 0, 5.5), fastai_sigmoid_range(x, 0, 5.5))


def test_sigmoid_range_uses_its_low_end():
    """With a nonzero low (a 1-10 scale), a sigmoid_range that dropped ``+ low`` would fail."""
    from fastai.layers import sigmoid_range as fastai_sigmoid_range

    x = torch.linspace(-8, 8, 101)
    torch.testing.assert_close(sigmoid_range(x, 1.0, 10.5), fastai_sigmoid_range(x, 1.0, 10.5))
    torch.testing.assert_close(sigmoid_range(x, 1.0, 10.5), torch.sigmoid(x) * 9.5 + 1.0)
    assert float(sigmoid_range(torch.tensor(-1e4), 1.0, 10.5)) == 1.0  # the floor is low, not 0
    m = DotProductBias(3, 3, 2, y_range=(1.0, 10.5))
    assert float(m(torch.tensor([[1, 1]]))) > 5.0  # sigmoid(≈0) lands mid-range, not at 4.75


def test_emb_sz_rule_matches_fastai():
    from fastai.tabular.model import emb_sz_rule as fastai_rule

    for n in [*range(1, 300), 944, 1665, 9065, 10**6]:
        assert emb_sz_rule(n) == fastai_rule(n)
    assert emb_sz_rule(944) == 74 and emb_sz_rule(1665) == 102  # the book's ml-100k sizes


def test_use_nn_sizes_equal_fastais_get_emb_sz(data):
    from fastai.tabular.model import get_emb_sz as fastai_get_emb_sz

    dls = fastai_dls(data, bs=64)
    assert get_emb_sz(data) == fastai_get_emb_sz(dls)
    m = make_model(data, use_nn=True)
    assert isinstance(m, CollabNN)
    (nu, su), (ni, si) = fastai_get_emb_sz(dls)
    assert m.user_factors.shape == (nu, su) and m.item_factors.shape == (ni, si)
    assert m.layers[0].in_features == su + si


# --- data -------------------------------------------------------------------------------------------


def test_random_split_is_fastais_random_splitter():
    from fastai.data.transforms import RandomSplitter

    train, valid = RandomSplitter(valid_pct=0.2, seed=42)(range(1000))
    ours_train, ours_valid = random_split(1000, 0.2, 42)
    assert list(ours_train.numpy()) == list(train) and list(ours_valid.numpy()) == list(valid)


def test_classes_and_split_are_fastais(data):
    dls = fastai_dls(data, bs=64)
    assert list(dls.classes[data.user_name]) == data.users
    assert list(dls.classes[data.item_name]) == data.items
    assert data.items[0] == NA and data.users[0] == NA
    assert sorted(dls.valid.items.index) == sorted(data.valid_idx.tolist())
    xs = torch.tensor(dls.valid_ds.xs.loc[data.valid_idx.numpy()].values)
    assert torch.equal(xs, data.x[data.valid_idx])


def test_collab_data_finds_columns_by_name():
    df = pd.DataFrame({"userId": [1, 2, 2, 3], "movieId": [10, 10, 20, 30], "rating": [4, 3, 5, 1]})
    d = collab_data(df, valid_pct=0.25)
    assert (d.user_name, d.item_name, d.rating_name) == ("userId", "movieId", "rating")
    assert d.items == [NA, 10, 20, 30] and d.y.dtype == torch.float32
    # titles win over movie ids, as in the book
    df["title"] = ["a", "a", "b", "c"]
    assert collab_data(df, valid_pct=0.25).item_name == "title"


@pytest.mark.parametrize(
    "frame, match",
    [
        (
            pd.DataFrame({"who": [1], "what": [2], "stars_given": [3]}),
            r"found columns \['who', 'what', 'stars_given'\].*user: one of user",
        ),
        (
            pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": ["good", "bad"]}),
            r"non-numeric.*'good'.*found dtype (object|str)",
        ),
        (
            pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [4.0, float("nan")]}),
            r"empty or non-numeric.*row 1",
        ),
        (
            pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [4.0, float("inf")]}),
            r"infinite",
        ),
        (pd.DataFrame({"user": [], "item": [], "rating": []}), r"empty: 0 rows"),
        (pd.DataFrame({"user": [1], "item": [1], "rating": [3]}), r"at least 2 ratings"),
    ],
)
def test_bad_ratings_frames_say_what_was_found_and_what_is_needed(frame, match):
    with pytest.raises(ValueError, match=match):
        collab_data(frame)


def test_unknown_title_suggests_close_matches(data):
    title = data.items[7]
    assert find_item(data, title) == 7
    assert find_item(data, title.upper()) == 7  # case does not matter
    with pytest.raises(KeyError) as err:
        find_item(data, title[:-4] + "zzz")
    msg = err.value.args[0]
    assert "Did you mean" in msg and title in msg


# --- the schedule and the optimizer -----------------------------------------------------------------


def test_one_cycle_is_fastais_schedule():
    from fastai.callback.schedule import combined_cos

    lrs, moms = one_cycle(200, 5e-3)
    pos = np.arange(200) / 200
    f_lr = combined_cos(0.25, 5e-3 / 25, 5e-3, 5e-3 / 1e5)
    f_mom = combined_cos(0.25, 0.95, 0.85, 0.95)
    np.testing.assert_allclose(lrs, [float(f_lr(p)) for p in pos], rtol=1e-5)
    np.testing.assert_allclose(moms, [float(f_mom(p)) for p in pos], rtol=1e-5)


def _train(mode: str, eps: float, steps: int = 300, wd: float = 0.1, lr: float = 1e-2):
    """Train a small DotProductBias on random batches with torch's AdamW or RowAdamW."""
    torch.manual_seed(0)
    x = torch.stack([torch.randint(1, 30, (2000,)), torch.randint(1, 40, (2000,))], 1)
    y = torch.rand(2000) * 4 + 1
    torch.manual_seed(1)
    m = DotProductBias(30, 40, 5)
    lrs, moms = one_cycle(steps, lr)
    if mode == "torch":
        opt = torch.optim.AdamW(m.parameters(), lr=lr, betas=(0.9, 0.99), eps=eps, weight_decay=wd)
    else:
        opt = RowAdamW(m, lrs, moms, wd, eps=eps, dense=(mode == "dense"))
    g = torch.Generator().manual_seed(3)
    for t in range(steps):
        idx = torch.randint(0, 2000, (16,), generator=g)
        xb, yb = x[idx], y[idx]
        if mode == "torch":
            pg = opt.param_groups[0]
            pg["lr"], pg["betas"] = lrs[t], (moms[t], 0.99)
            opt.zero_grad()
            ((m(xb) - yb) ** 2).mean().backward()
            opt.step()
            continue
        leaves, xl = opt.gather(xb)
        # the gathered rows stand in for their tables, as the fit loop does it
        pred = functional_call(m, leaves, (xl,), tie_weights=False, strict=False)
        loss = ((pred - yb) ** 2).mean()
        names = list(leaves) + list(opt.dense_params)
        grads = torch.autograd.grad(loss, [*leaves.values(), *opt.dense_params.values()])
        opt.step(leaves, dict(zip(names, grads, strict=True)))
    if mode != "torch":
        opt.catch_up()
    return {n: p.detach().clone() for n, p in m.named_parameters()}


def _rel(a, b):
    return max(float((a[n] - b[n]).abs().max() / b[n].abs().max()) for n in b)


def test_row_adamw_equals_dense_adamw():
    """Updating only used rows and catching the others up in closed form is torch's AdamW."""
    ref = _train("torch", eps=1e-12)
    assert _rel(_train("rows", eps=1e-12), ref) < 1e-5  # exact but for float rounding
    assert _rel(_train("dense", eps=1e-12), ref) < 1e-5
    ref5 = _train("torch", eps=1e-5)
    assert _rel(_train("dense", eps=1e-5), ref5) < 1e-5
    assert _rel(_train("rows", eps=1e-5), ref5) < 2e-2  # eps in skipped steps is approximated


def test_fit_is_reproducible_and_learns(data):
    torch.manual_seed(0)
    a = make_model(data)
    b = DotProductBias(data.n_users, data.n_items)
    b.load_state_dict(a.state_dict())
    ra = fit_collab(a, data, epochs=3, bs=64, seed=5)
    rb = fit_collab(b, data, epochs=3, bs=64, seed=5)
    assert [h["valid_mse"] for h in ra.history] == [h["valid_mse"] for h in rb.history]
    assert ra.status == "done" and len(ra.history) == 3
    assert ra.history[-1]["valid_mse"] < 0.5 < ra.history[0]["train_loss"]
    assert ra.steps == 3 * (len(data.train_idx) // 64)
    vx, vy = data.x[data.valid_idx], data.y[data.valid_idx]
    assert math.isclose(valid_mse(a, vx, vy), ra.valid_mse, rel_tol=1e-6)


def test_sparse_and_dense_training_agree(data):
    torch.manual_seed(0)
    a = make_model(data)
    b = DotProductBias(data.n_users, data.n_items)
    b.load_state_dict(a.state_dict())
    ra = fit_collab(a, data, epochs=2, bs=128, seed=1)
    rb = fit_collab(b, data, epochs=2, bs=128, seed=1, dense=True)
    # measured 6.8e-5 and 0.0071: eps inside skipped steps is the only difference, so a dropped
    # weight-decay or momentum catch-up (~0.05 on the weights) fails these
    assert abs(ra.valid_mse - rb.valid_mse) < 2e-4
    for n, p in a.named_parameters():
        assert float((p - dict(b.named_parameters())[n]).detach().abs().max()) < 0.012


def test_streaming_events_and_stop_keep_the_last_finished_step(data):
    events = []
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 250  # stop during the second epoch (185 steps an epoch)

    m = make_model(data)
    res = fit_collab(m, data, epochs=10, bs=64, callback=events.append, should_stop=should_stop)
    assert res.status == "stopped" and res.steps == 250
    assert [h.get("partial", False) for h in res.history] == [False, True]
    assert 1 < res.history[-1]["epoch"] < 2
    kinds = {e.kind for e in events}
    assert kinds == {"step", "epoch", "stopped"} and events[-1].kind == "stopped"
    assert all(isinstance(e, TrainEvent) for e in events)
    steps = [e for e in events if e["kind"] == "step"]
    assert len(steps) >= 9 and all(0 < e["epoch"] < 2 for e in steps)
    vx, vy = data.x[data.valid_idx], data.y[data.valid_idx]
    assert math.isclose(valid_mse(m, vx, vy), res.history[-1]["valid_mse"], rel_tol=1e-6)


def test_non_finite_loss_stops_and_restores_last_good_weights(data):
    torch.manual_seed(0)
    m = make_model(data, y_range=None)  # with y_range the sigmoid keeps even huge weights finite
    init = {n: p.detach().clone() for n, p in m.named_parameters()}
    # lr × wd far too high: the weights flip and grow ×39 a step, the loss overflows within the
    # first report window, and the initial weights come back
    res = fit_collab(m, data, epochs=1, lr=10, wd=100, bs=64)
    assert res.status == "diverged" and res.history == []
    assert re_search(r"Loss became (inf|nan) at step \d+ of epoch 1: lr=10 \(wd=100\)", res.message)
    assert "restored the weights from the start of training" in res.message
    for n, p in m.named_parameters():
        assert torch.equal(p.detach(), init[n])

    # weights going bad after epoch 1: the run stops in epoch 2 and epoch 1's weights come back
    saved = {}

    def spoil_after_first_epoch(ev):
        if ev["kind"] == "epoch" and ev["epoch"] == 1:
            saved.update({n: p.detach().clone() for n, p in m.named_parameters()})
            with torch.no_grad():
                m.user_factors.fill_(float("inf"))

    res = fit_collab(m, data, epochs=3, bs=64, callback=spoil_after_first_epoch)
    assert res.status == "diverged" and len(res.history) == 1
    assert re_search(r"Loss became (inf|nan) at step 1 of epoch 2", res.message)
    assert "from the end of epoch 1" in res.message
    for n, p in m.named_parameters():
        assert torch.equal(p.detach(), saved[n])


def re_search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_high_lr_times_wd_uses_dense_steps_and_diverges_cleanly(data):
    m = make_model(data)
    init = {n: p.detach().clone() for n, p in m.named_parameters()}
    res = fit_collab(m, data, epochs=2, lr=10.0, wd=1.0, bs=64)  # lr*wd=10: weights flip and grow
    assert res.status == "diverged" and "start of training" in res.message
    for n, p in m.named_parameters():
        assert torch.equal(p.detach(), init[n])


def test_a_loss_growing_far_above_its_start_is_divergence(data):
    """lr 1 on the plain dot product (no y_range, bias or wd): no NaN, but the loss runs away.
    The run is flagged "diverged", says so, and the starting weights come back."""
    torch.manual_seed(0)
    m = make_model(data, y_range=None, bias=False)
    init = {n: p.detach().clone() for n, p in m.named_parameters()}
    events = []
    res = fit_collab(m, data, epochs=5, lr=1.0, wd=0.0, bs=64, callback=events.append)
    assert res.status == "diverged" and res.history == []
    assert re_search(r"Train loss grew to [\d.]+, \d+× its start", res.message)
    assert "lr=1 (wd=0) is too high" in res.message
    assert events[-1].kind == "diverged" and events[-1].message == res.message
    for n, p in m.named_parameters():
        assert torch.equal(p.detach(), init[n])
    # a sane lr on the same model trains normally
    ok = fit_collab(make_model(data, y_range=None, bias=False), data, epochs=2, lr=5e-3, bs=64)
    assert ok.status == "done" and len(ok.history) == 2


def test_bad_hyper_parameters_are_named():
    m = DotProductBias(3, 3, 2)
    df = pd.DataFrame({"user": [1, 2, 3, 1], "item": [1, 2, 1, 2], "rating": [1, 2, 3, 4]})
    d = collab_data(df, valid_pct=0.25)
    for kw, match in [
        (dict(lr=0), r"lr must be a number in \(0, 10\], got 0"),
        (dict(lr=float("nan")), r"lr must be a number in \(0, 10\], got nan"),
        (dict(lr=100), r"lr must be a number in \(0, 10\], got 100"),
        (dict(epochs=0), "epochs must be an integer from 1 to 1000, got 0"),
        (dict(wd=-1), r"wd must be a number in \[0, 100\], got -1"),
        (dict(bs=0), "bs must be one of 16, 32, 64"),
    ]:
        with pytest.raises(ValueError, match=match):
            fit_collab(m, d, **kw)


def test_one_thread_is_restored():
    before = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_fit_fastai_really_trains_fastai_on_our_split(data):
    from fastai.collab import EmbeddingDotBias

    events = []
    res = fit_fastai(data, epochs=1, lr=5e-3, wd=0.1, n_factors=20, bs=128, callback=events.append)
    learn = res.learner
    assert isinstance(learn.model, EmbeddingDotBias)
    assert learn.model.u_weight.weight.shape == (data.n_users, 20)
    assert sorted(learn.dls.valid.items.index) == sorted(data.valid_idx.tolist())
    assert res.status == "done" and len(res.history) == 1 and res.steps == len(learn.dls.train)
    # fastai's weights moved far from their init (std 0.01), and its reported MSE is real
    assert learn.model.i_bias.weight.abs().max() > 0.1
    assert math.isclose(float(learn.validate()[0]), res.valid_mse, rel_tol=1e-4)
    assert res.valid_mse < 1.0
    assert {e["kind"] for e in events} == {"step", "epoch", "done"}
    assert events[-1]["kind"] == "done" and events[-1].fraction == 1.0


def test_fit_fastai_use_nn_and_stop(data):
    from fastai.collab import EmbeddingNN
    from fastai.tabular.model import get_emb_sz as fastai_get_emb_sz

    calls = {"n": 0}

    def stop_after_30():
        calls["n"] += 1
        return calls["n"] >= 30

    res = fit_fastai(data, epochs=3, use_nn=True, n_act=16, bs=64, should_stop=stop_after_30)
    learn = res.learner
    assert isinstance(learn.model, EmbeddingNN)
    sizes = [(e.num_embeddings, e.embedding_dim) for e in learn.model.embeds]
    assert sizes == get_emb_sz(data) == fastai_get_emb_sz(learn.dls)
    assert res.status == "stopped" and res.steps == 30
    assert res.history[-1]["partial"] is True and 0 < res.history[-1]["epoch"] < 1
    assert math.isfinite(res.history[-1]["valid_mse"])
    assert not any(type(cb).__name__ == "Stream" for cb in learn.cbs)  # handed back clean


def test_reader_counts_must_be_whole_numbers(data):
    """Wrong types through the API get a message that names the argument, not int()'s text."""
    model = DotProductBias(data.n_users, data.n_items, 5)
    with pytest.raises(ValueError, match="n must be an integer"):
        bias_table(model, data, "item", n="x")
    with pytest.raises(ValueError, match="k must be an integer"):
        similar_items(model, data, data.items[1], k=2.5)
    assert len(bias_table(model, data, "user", n=3)) == 3
