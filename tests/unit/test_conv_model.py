"""The spreadsheet CNN and its arithmetic against torch's own functions (no widgets involved)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lab8widgets.models.conv import (
    KERNEL_PRESETS,
    SpreadsheetCNN,
    VanishedStageError,
    as_digit_image,
    check_kernel,
    check_value,
    conv_as_matmul,
    conv_matrix_index,
    fit_dense,
    left_edge,
    matmul_demo,
    out_size,
    receptive_field,
    top_edge,
)

RNG = np.random.default_rng(8)


def _configs(n: int = 14):
    """Seeded random configurations within the lab's ranges that keep every stage alive."""
    out = []
    while len(out) < n:
        cfg = dict(
            n_filters=int(RNG.integers(1, 9)),
            kernel_size=int(RNG.integers(1, 8)),
            stride=int(RNG.integers(1, 4)),
            padding=int(RNG.integers(0, 4)),
            pool=str(RNG.choice(["max", "avg", "none"])),
            pool_size=int(RNG.integers(1, 5)),
        )
        try:
            SpreadsheetCNN.plan(**cfg)
        except VanishedStageError:
            continue
        out.append(cfg)
    return out


def _reference(model: SpreadsheetCNN, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The same chain written with torch.nn.functional only, from the model's weights."""
    cfg = model.config()
    w1, w2 = model.conv1.weight.detach(), model.conv2.weight.detach()
    c1 = F.conv2d(x, w1, stride=cfg["stride"], padding=cfg["padding"])
    r1 = F.relu(c1)
    c2 = F.conv2d(r1, w2, stride=1, padding=cfg["padding"])
    r2 = F.relu(c2)
    if cfg["pool"] == "max":
        p = F.max_pool2d(r2, cfg["pool_size"])
    elif cfg["pool"] == "avg":
        p = F.avg_pool2d(r2, cfg["pool_size"])
    else:
        p = r2
    d = F.linear(p.flatten(1), model.dense.weight.detach(), model.dense.bias.detach())
    return dict(conv1=c1, act1=r1, conv2=c2, act2=r2, pool=p, dense=d, output=F.softmax(d, 1))


def test_lesson_kernels_are_fastbooks():
    assert top_edge.tolist() == [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
    assert left_edge.tolist() == [[-1, 1, 0], [-1, 1, 0], [-1, 1, 0]]
    assert torch.equal(KERNEL_PRESETS["top_edge"](3), top_edge)
    assert torch.equal(KERNEL_PRESETS["left_edge"](3), left_edge)
    assert torch.equal(KERNEL_PRESETS["bottom_edge"](3), top_edge.flip(0))
    assert torch.equal(KERNEL_PRESETS["right_edge"](3), left_edge.flip(1))
    assert KERNEL_PRESETS["sharpen"](3).tolist() == [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]


@pytest.mark.parametrize("k", range(1, 8))
def test_presets_have_any_size(k):
    for name, fn in KERNEL_PRESETS.items():
        w = fn(k)
        assert w.shape == (k, k), name
        assert torch.isfinite(w).all()
    assert KERNEL_PRESETS["blur"](k).sum().item() == pytest.approx(1.0)
    x = torch.rand(1, 1, 9, 9)
    ident = KERNEL_PRESETS["identity"](k)[None, None]
    pad = k // 2
    if k % 2:  # an odd identity kernel with "same" padding gives the input back
        assert torch.allclose(F.conv2d(x, ident, padding=pad), x)
    assert KERNEL_PRESETS["sharpen"](k).sum().item() == pytest.approx(1.0)


def test_default_network_is_the_spreadsheet():
    m = SpreadsheetCNN()
    assert torch.equal(m.conv1.weight[0, 0], top_edge)
    assert torch.equal(m.conv1.weight[1, 0], left_edge)
    assert m.conv1.bias is None and m.conv2.bias is None
    assert m.filter_presets == ["top_edge", "left_edge"]
    meta = m.stages_meta()
    assert list(meta) == ["input", "conv1", "act1", "conv2", "act2", "pool", "dense", "output"]
    assert meta["conv1"].shape == (2, 26, 26)
    assert meta["conv2"].shape == (2, 24, 24)
    assert meta["pool"].shape == (2, 12, 12)
    assert meta["dense"].params == 2 * 12 * 12 * 2 + 2
    assert sum(v.params for v in meta.values()) == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cfg", _configs(), ids=lambda c: "-".join(str(v) for v in c.values()))
def test_every_stage_matches_torch_functional(cfg):
    m = SpreadsheetCNN(**cfg)
    with torch.no_grad():  # random kernels, not just presets
        m.conv1.weight.copy_(torch.randn_like(m.conv1.weight))
        m.dense.weight.copy_(torch.randn_like(m.dense.weight) * 0.1)
    x = torch.rand(3, 1, 28, 28)
    stages = m.forward_stages(x)
    ref = _reference(m, x)
    for name, want in ref.items():
        assert stages[name].shape == want.shape, name
        assert torch.allclose(stages[name], want, atol=1e-5), name
    # shapes and parameter counts the lab prints are the real ones
    meta = m.stages_meta()
    for name, t in stages.items():
        assert tuple(t.shape[1:]) == meta[name].shape, name
    assert sum(v.params for v in meta.values()) == sum(p.numel() for p in m.parameters())
    assert torch.allclose(m(x), stages["dense"], atol=1e-6)


def test_pool_none_is_identity_and_pool_present():
    m = SpreadsheetCNN(pool="none")
    s = m.forward_stages(torch.rand(28, 28))
    assert "pool" in s and torch.equal(s["pool"], s["act2"])


def test_vanished_stage_names_the_stage_and_changes_nothing():
    m = SpreadsheetCNN(kernel_size=7, stride=3)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(VanishedStageError, match="pool") as e:
        m.configure(pool_size=4)
    assert e.value.stage == "pool"
    assert m.config()["pool_size"] == 2
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    with pytest.raises(VanishedStageError, match="conv1") as e:
        SpreadsheetCNN.plan(2, 7, 1, 0, "max", 2, input_size=5)
    with pytest.raises(VanishedStageError, match="conv2") as e:
        SpreadsheetCNN.plan(2, 5, 3, 0, "max", 2, input_size=12)
    assert e.value.stage == "conv2"


def test_configure_keeps_edited_kernels_and_regenerates_presets():
    m = SpreadsheetCNN()
    edited = torch.arange(9.0).reshape(3, 3)
    m.set_kernel(1, edited)
    m.configure(kernel_size=5, n_filters=3)
    assert torch.equal(m.kernel(0), KERNEL_PRESETS["top_edge"](5))  # untouched preset, regenerated
    assert torch.equal(m.kernel(1)[1:4, 1:4], edited)  # edited: zero-padded
    assert m.kernel(1).abs()[0].sum() == 0
    assert m.filter_presets == ["top_edge", None, "bottom_edge"]
    assert m.conv2.weight.shape == (2, 3, 5, 5)
    m.configure(kernel_size=3)
    assert torch.equal(m.kernel(1), edited)  # centre crop gives it back
    m.configure(n_filters=1)
    assert m.conv1.weight.shape == (1, 1, 3, 3) and m.conv2.weight.shape == (2, 1, 3, 3)


def test_configure_reports_dense_rebuild():
    m = SpreadsheetCNN()
    assert m.configure(pool="avg") is False  # same shape: dense kept
    assert m.configure(stride=2) is True
    assert m.dense.in_features == 2 * 5 * 5
    assert m.dense_fitted is False


def test_layers_are_the_truth():
    """A change made straight to a layer (as in a notebook cell) is the configuration."""
    m = SpreadsheetCNN()
    m.conv1.stride = (2, 2)
    assert m.stride == 2
    assert m.configure() is True  # the dense layer is rebuilt to fit the new shapes
    s = m.forward_stages(torch.rand(28, 28))
    assert s["conv1"].shape == (1, 2, 13, 13)


@pytest.mark.parametrize(
    "bad",
    [
        [[float("nan")] * 3] * 3,
        [[float("inf")] * 3] * 3,
        [["a", "b", "c"]] * 3,
        [[2e6, 0, 0]] * 3,
        [[1, 2], [3, 4]],
        "top_edge",
        None,
    ],
)
def test_check_kernel_refuses_bad_values(bad):
    with pytest.raises(ValueError):
        check_kernel(bad, 3)


def test_set_kernel_refuses_and_keeps_previous():
    m = SpreadsheetCNN()
    with pytest.raises(ValueError, match="finite"):
        m.set_kernel(0, [[float("nan")] * 3] * 3)
    with pytest.raises(ValueError, match="3×3"):
        m.set_kernel(0, np.ones((4, 4)))
    with pytest.raises(ValueError, match="between"):
        m.set_kernel_value(0, 0, 0, 1e9)
    with pytest.raises(ValueError, match="not a number"):
        m.set_kernel_value(0, 0, 0, "one")
    with pytest.raises(ValueError, match="filter index"):
        m.set_kernel(5, np.ones((3, 3)))
    assert torch.equal(m.kernel(0), top_edge)
    assert check_value(" -1.5 ") == -1.5 and check_value("1e3") == 1000.0


def test_as_digit_image():
    from PIL import Image

    rgb = Image.fromarray(
        (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8), "RGB"
    )
    img = as_digit_image(rgb)
    assert img.shape == (28, 28) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    u8 = np.full((28, 28), 255, np.uint8)
    assert as_digit_image(u8).max() == 1.0
    signed = np.linspace(-3, 5, 28 * 28).reshape(28, 28)
    got = as_digit_image(signed)
    assert got.min() == 0 and got.max() == pytest.approx(1.0)
    assert np.array_equal(as_digit_image(np.eye(28) * 0.5), (np.eye(28) * 0.5).astype(np.float32))
    assert as_digit_image(torch.rand(1, 1, 28, 28)).shape == (28, 28)
    assert as_digit_image(np.ones((7, 9))).shape == (28, 28)
    for bad in (np.zeros((28, 28, 3)), np.zeros(784), np.zeros((2, 28, 28)), np.zeros((0, 4))):
        with pytest.raises(ValueError, match=r"\(28, 28\)"):
            as_digit_image(bad)
    with pytest.raises(ValueError, match="finite"):
        as_digit_image(np.full((28, 28), np.nan))
    with pytest.raises(ValueError):
        as_digit_image([["a"] * 28] * 28)


def test_out_size():
    for n, k, s, p in itertools.product(range(1, 12), range(1, 8), range(1, 4), range(0, 4)):
        want = (
            F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p).shape[
                -1
            ]
            if n + 2 * p >= k
            else 0
        )
        assert out_size(n, k, s, p) == want


def test_conv_as_matmul_equals_conv2d_everywhere():
    g = torch.Generator().manual_seed(0)
    checked = 0
    for h, w, k, s, p in itertools.product(
        (2, 4, 6), (3, 6), range(1, 6), range(1, 4), range(0, 4)
    ):
        if out_size(h, k, s, p) < 1 or out_size(w, k, s, p) < 1:
            with pytest.raises(VanishedStageError):
                conv_as_matmul(torch.rand(h, w), torch.rand(k, k), s, p)
            continue
        x = torch.rand(h, w, generator=g)
        kern = torch.randn(k, k, generator=g)
        matrix, flat, out = conv_as_matmul(x, kern, s, p)
        ref = F.conv2d(x[None, None], kern[None, None], stride=s, padding=p)[0, 0]
        assert out.shape == ref.shape
        assert torch.allclose(out, ref, atol=1e-5), (h, w, k, s, p)
        assert matrix.shape == (ref.numel(), h * w)
        assert torch.equal(flat, x.reshape(-1))
        idx = conv_matrix_index(h, w, k, s, p)
        # tied weights: every entry is its kernel weight, everything else is exactly zero
        assert torch.equal(matrix[torch.from_numpy(idx >= 0)], kern.reshape(-1)[idx[idx >= 0]])
        assert (matrix[torch.from_numpy(idx < 0)] == 0).all()
        assert ((idx >= 0).sum(1) <= k * k).all()
        checked += 1
    assert checked > 150


def test_matmul_demo_reports_agreement():
    d = matmul_demo(np.random.default_rng(1).random((6, 6)), top_edge, stride=2, padding=1)
    assert d.max_abs_error < 1e-6
    assert torch.allclose(d.output, d.reference)
    assert d.product.shape == (9,) and d.index.shape == (9, 36)


def _grad_windows(model, x, stage, r, c, ch):
    """Bounding boxes of non-zero gradients: what (r, c) of ``stage`` really depends on."""
    cfg = model.config()
    t = {"input": x.requires_grad_()}
    t["conv1"] = F.conv2d(
        t["input"], model.conv1.weight, stride=cfg["stride"], padding=cfg["padding"]
    )
    t["act1"] = F.relu(t["conv1"])
    t["conv2"] = F.conv2d(t["act1"], model.conv2.weight, padding=cfg["padding"])
    t["act2"] = F.relu(t["conv2"])
    t["pool"] = F.avg_pool2d(t["act2"], cfg["pool_size"]) if cfg["pool"] == "avg" else t["act2"]
    names = list(t)
    for v in t.values():
        v.retain_grad()
    t[stage][0, ch, r, c].backward()
    out = {}
    for name in names[: names.index(stage)]:
        g = t[name].grad[0].abs().sum(0)
        rows, cols = torch.nonzero(g, as_tuple=True)
        out[name] = (int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))
    return out


@pytest.mark.parametrize(
    "cfg",
    [c for c in _configs(30) if c["pool"] != "max"][:8],
    ids=lambda c: "-".join(str(v) for v in c.values()),
)
def test_receptive_field_matches_gradients(cfg):
    m = SpreadsheetCNN(**cfg)
    with torch.no_grad():  # positive weights and input: every ReLU passes, every path shows
        m.conv1.weight.copy_(m.conv1.weight.abs() + 0.1)
        m.conv2.weight.copy_(m.conv2.weight.abs() + 0.1)
    meta = m.stages_meta()
    g = torch.Generator().manual_seed(3)
    for stage in ("conv1", "act1", "conv2", "act2", "pool"):
        C, H, W = meta[stage].shape
        for _ in range(3):
            r, c, ch = (int(torch.randint(n, (1,), generator=g)) for n in (H, W, C))
            x = torch.rand(1, 1, 28, 28, generator=g) + 0.1
            want = _grad_windows(m, x, stage, r, c, ch)
            got = receptive_field(meta, stage, r, c, ch)
            assert got[stage][:4] == (r, c, r, c)
            for name, box in want.items():
                assert got[name][:4] == box, (stage, r, c, name)


def test_receptive_field_channels_and_dense():
    m = SpreadsheetCNN(n_filters=3)
    meta = m.stages_meta()
    rf = receptive_field(meta, "pool", 2, 3, channel=1)
    assert (
        rf["pool"].channels == (1,) and rf["act2"].channels == (1,) and rf["conv2"].channels == (1,)
    )
    assert rf["act1"].channels is None and rf["input"].channels is None  # conv2 reads every channel
    assert rf["input"][:4] == (4, 6, 9, 11)  # 2×2 pool, two 3×3 convs: 6×6
    rf = receptive_field(meta, "dense", 0, 1)
    assert rf["input"][:4] == (0, 0, 27, 27) and rf["pool"][:4] == (0, 0, 11, 11)
    with pytest.raises(ValueError):
        receptive_field(meta, "conv1", 26, 0)
    with pytest.raises(KeyError):
        receptive_field(meta, "conv9", 0, 0)


def test_fit_dense_learns_three_versus_seven():
    from lab8widgets.data import mnist_sample

    d = mnist_sample()
    m = SpreadsheetCNN()
    train, valid = fit_dense(m, d.images[::2], d.labels[::2])
    assert m.dense_fitted and valid > 0.9
    x = torch.as_tensor(d.images[1::2])
    y = torch.as_tensor((d.labels[1::2] == 7).astype(np.int64))
    assert (m(x).argmax(1) == y).float().mean() > 0.9
    # the conv layers were not touched
    assert torch.equal(m.conv1.weight[0, 0], top_edge)
