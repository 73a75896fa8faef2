"""Activations and dropout (models/layers.py) against torch's own: F.dropout / nn.Dropout under the
same generator state, autograd derivatives, names that round-trip; and ConvConfig's ranges."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab8widgets.models.conv import ConvConfig, SpreadsheetCNN
from lab8widgets.models.layers import (
    ACTIVATION_NAMES,
    SeededDropout,
    SparseDropout,
    activation_curve,
    activation_name,
    check_p,
    dropout_mask,
    dropped_positions,
    make_activation,
)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_equals_torch_under_the_same_seed(p):
    x = torch.randn(1, 2, 24, 24)
    d = SeededDropout(p, seed=1234)
    ours = d(x)
    torch.manual_seed(1234)
    want = F.dropout(x, p, training=True)
    torch.manual_seed(1234)
    want_module = nn.Dropout(p).train()(x)
    assert torch.equal(ours, want) and torch.equal(ours, want_module)
    mask = d.mask(tuple(x.shape))
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    # inverted scaling: kept activations are multiplied by 1/(1-p), dropped ones are 0
    assert torch.allclose(ours, x * mask / (1 - p), atol=1e-6)
    assert torch.equal(dropout_mask(tuple(x.shape), p, 1234), mask)


def test_dropout_is_reproducible_leaves_rng_alone_and_eval_is_identity():
    x = torch.randn(3, 8, 8)
    d = SeededDropout(0.5, seed=7)
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    a = d(x)
    after = torch.rand(3)
    assert torch.equal(before, after)  # drawing the mask did not move the global generator
    assert torch.equal(a, d(x))  # same seed, same mask on every forward
    d.seed = 8
    assert not torch.equal(a, d(x))
    d.eval()
    assert torch.equal(d(x), x)  # eval: no mask, no scaling
    assert torch.equal(d.mask((3, 8, 8)), torch.ones(3, 8, 8))
    assert torch.equal(SeededDropout(0.0).train()(x), x)


@pytest.mark.parametrize("bad", [1.0, -0.1, 1.5, float("nan"), "0.5", None, True])
def test_bad_p_is_refused(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        check_p(bad)
    with pytest.raises(ValueError):
        SeededDropout(bad)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activation_curves_use_autograd(name):
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    y, dy = activation_curve(name, x)
    module = make_activation(name)
    assert activation_name(module) == name
    assert torch.allclose(y, module(x))
    # the derivative agrees with a central difference away from ReLU's kink
    h = 1e-5
    num = (module(x + h) - module(x - h)) / (2 * h)
    away = x.abs() > 1e-3
    assert torch.allclose(dy[away], num[away], atol=1e-6)


def test_activation_names_and_values():
    assert ACTIVATION_NAMES == ("relu", "leaky_relu", "gelu", "silu", "mish", "sigmoid", "tanh")
    x = torch.tensor([-2.0, 0.0, 2.0])
    assert torch.allclose(make_activation("mish")(x), x * torch.tanh(F.softplus(x)))
    assert torch.allclose(make_activation("silu")(x), x * torch.sigmoid(x))
    with pytest.raises(ValueError, match="'swish'"):
        make_activation("swish")
    assert activation_name(nn.Identity()) is None


def test_conv_config_ranges_are_the_lessons():
    c = ConvConfig()
    assert (c.n_filters, c.kernel_size, c.stride, c.padding, c.pool, c.pool_size) == (
        2,
        3,
        1,
        0,
        "max",
        2,
    )
    assert (c.activation, c.dropout) == ("relu", 0.0)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 0.9\], got 0.95"):
        ConvConfig(dropout=0.95)
    with pytest.raises(ValueError, match="activation must be one of"):
        ConvConfig(activation="swish")
    with pytest.raises(ValueError, match="kernel_size must be an integer from 1 to 7, got 9"):
        ConvConfig(kernel_size=9)


def test_network_activation_and_dropout_stages_match_torch():
    m = SpreadsheetCNN(activation="mish", dropout=0.5)
    m.new_mask(99)
    x = torch.rand(28, 28)
    st = m.forward_stages(x)
    assert list(st) == [
        "input",
        "conv1",
        "act1",
        "conv2",
        "act2",
        "dropout",
        "pool",
        "dense",
        "output",
    ]
    w1, w2 = m.conv1.weight.detach(), m.conv2.weight.detach()
    r1 = F.mish(F.conv2d(x[None, None], w1))
    r2 = F.mish(F.conv2d(r1, w2))
    torch.manual_seed(99)
    dropped = F.dropout(r2, 0.5, training=True)
    assert torch.allclose(st["act2"], r2, atol=1e-6)
    assert torch.allclose(st["dropout"], dropped, atol=1e-6)
    assert torch.allclose(st["pool"], F.max_pool2d(dropped, 2), atol=1e-6)
    assert list(m.stages_meta()) == list(st)
    # eval mode equals no dropout at all
    m.eval()
    st_eval = m.forward_stages(x)
    assert torch.equal(st_eval["dropout"], st_eval["act2"])
    off = SpreadsheetCNN(activation="mish")
    off.load_state_dict(m.state_dict())
    assert torch.allclose(off.forward_stages(x)["output"], st_eval["output"], atol=1e-6)
    assert torch.equal(m.dropout_mask(), torch.ones(2, 24, 24))


def test_model_runs_where_its_weights_live():
    """Inputs are created on the model's device (``meta`` stands in for a GPU here)."""
    m = SpreadsheetCNN(dropout=0.3).to("meta")
    st = m.forward_stages(np.zeros((28, 28), np.float32))
    assert all(t.device.type == "meta" for t in st.values())
    assert st["pool"].shape == (1, 2, 12, 12)
    m.configure(pool="avg", stride=2)  # a new pool and dense layer are made on the model's device
    assert m.dense.weight.device.type == "meta"
    assert m.forward_stages(torch.zeros(28, 28))["output"].device.type == "meta"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_conv_lab_on_cuda_shows_no_device_error():
    from lab8widgets import ConvLab

    lab = ConvLab(fit=False)
    cpu = lab.activations
    lab.model = lab.model.cuda()
    assert lab.error == "" and lab.model.conv1.weight.is_cuda
    for k, v in cpu.items():
        np.testing.assert_allclose(lab.activations[k], v, atol=1e-4)
    lab.set_kernel(0, np.ones((3, 3)))
    lab.configure(kernel_size=5, dropout=0.5)
    lab.fit_dense()
    lab.tabs.selected_index = 1
    assert lab.error == "" and lab.model.conv1.weight.is_cuda and lab.model.dense.weight.is_cuda
    assert "✓" in lab.matmul.check.value


@pytest.mark.parametrize("p", [0.001, 0.04, 0.1])
def test_sparse_dropout_draws_what_nn_dropout_draws(p):
    """Each element dropped independently with probability p: the count per draw and the share per
    position stay within binomial bounds (4 sd), survivors are scaled by 1/(1-p) exactly as
    ``nn.Dropout``, the gradient is the same mask, and eval is the identity."""
    torch.manual_seed(0)
    d = SparseDropout(p)
    x = torch.rand(512, 100) + 0.5  # no zeros of its own
    n, draws = x.numel(), 60
    dropped = torch.zeros(n)
    for _ in range(draws):
        out = d(x)
        zero = out.reshape(-1) == 0
        k = int(zero.sum())
        assert abs(k - n * p) < 4 * np.sqrt(n * p * (1 - p)) + 1, (k, n * p)
        torch.testing.assert_close(out[out != 0], (x / (1 - p))[out != 0])
        dropped += zero
    # the drops spread evenly: first and second half of the positions, every 7th position
    for part in (dropped[: n // 2], dropped[n // 2 :], dropped[::7]):
        m = len(part) * draws
        assert abs(float(part.sum()) - m * p) < 4 * np.sqrt(m * p * (1 - p)) + 1
    xg = x.clone().requires_grad_()
    torch.manual_seed(1)
    out = d(xg)
    out.sum().backward()
    torch.testing.assert_close(xg.grad, (out.detach() != 0).float() / (1 - p))
    d.eval()
    assert d(x) is x or torch.equal(d(x), x)


def test_sparse_dropout_positions_are_repeatable_sorted_and_in_range():
    torch.manual_seed(3)
    a = dropped_positions(10_000, 0.01)
    torch.manual_seed(3)
    b = dropped_positions(10_000, 0.01)
    assert torch.equal(a, b) and a.dtype == torch.long
    assert bool((a[1:] > a[:-1]).all()) and int(a.min()) >= 0 and int(a.max()) < 10_000
    assert len(dropped_positions(0, 0.5)) == 0 and len(dropped_positions(100, 0.0)) == 0
    # a tiny n at a large p takes the "draw more gaps" branch and still covers [0, n)
    torch.manual_seed(0)
    hits = torch.cat([dropped_positions(3, 0.1) for _ in range(2000)])
    assert set(hits.tolist()) == {0, 1, 2}


def test_sparse_dropout_masks_repeat_after_seed_and_train():
    """Positions come from a pool drawn ahead; ``train()`` drops it, so seed + train() repeats the
    masks of a run (as fit_tabular does), while successive batches get fresh masks."""
    d = SparseDropout(0.05)
    x = torch.ones(256, 40)

    def run():
        torch.manual_seed(7)
        d.train()
        return [d(x) == 0 for _ in range(3)] + [d(torch.ones(100, 3)) == 0]

    a, b = run(), run()
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], a[1]) and a[3].shape == (100, 3)


def test_sparse_dropout_is_nn_dropout_above_its_range():
    """Above p = 0.1 it is ``nn.Dropout`` itself: the same mask under the same seed."""
    x = torch.randn(64, 32)
    torch.manual_seed(5)
    ours = SparseDropout(0.5)(x)
    torch.manual_seed(5)
    torch.testing.assert_close(ours, nn.Dropout(0.5)(x))
    assert isinstance(SparseDropout(0.1), nn.Dropout)
