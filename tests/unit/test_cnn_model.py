"""The small CNN of models/cnn/ against torch and fastai: heads, dropout, activations, data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab8widgets.data.mnist import mnist_digits
from lab8widgets.models.cnn import (
    ACTIVATIONS,
    HEADS,
    AdaptiveConcatPool2d,
    CNNSettings,
    cnn_data,
    evaluate,
    make_cnn,
    misclassified,
)


@pytest.fixture
def fastai_home(tmp_path, monkeypatch):
    home = tmp_path / "fastai_home"
    home.mkdir()
    monkeypatch.setenv("FASTAI_HOME", str(home))
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")
    return home


def test_concat_pool_equals_fastai():
    from fastai.layers import AdaptiveConcatPool2d as FastaiConcat

    x = torch.randn(4, 6, 7, 5, generator=torch.Generator().manual_seed(1))
    for size in (1, 2, 3):
        ours, theirs = AdaptiveConcatPool2d(size)(x), FastaiConcat(size)(x)
        assert ours.shape == (4, 12, size, size)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    # max first, then average: what fastai's cnn_learner heads expect
    out = AdaptiveConcatPool2d()(x)
    torch.testing.assert_close(out[:, :6, 0, 0], x.amax((2, 3)))
    torch.testing.assert_close(out[:, 6:, 0, 0], x.mean((2, 3)))


@pytest.mark.parametrize("head", HEADS)
def test_heads_shapes_and_layers(head):
    model = make_cnn(CNNSettings(head=head, channels=4), n_classes=10)
    x = torch.rand(3, 1, 28, 28)
    assert model(x).shape == (3, 10)
    names = [n for n, _ in model.named_children()]
    assert names[0] == "conv1" and names[-1] == "fc"
    strides = {model.get_submodule(f"conv{i}").stride for i in (1, 2, 3)}
    if head == "maxpool":
        assert strides == {(1, 1)} and isinstance(model.pool1, nn.MaxPool2d)
        assert model.fc.in_features == 16 * 3 * 3  # 28 → 14 → 7 → 3
    else:
        assert strides == {(2, 2)} and not hasattr(model, "pool1")
    if head == "stride2":
        assert model.fc.in_features == 16 * 4 * 4  # 28 → 14 → 7 → 4
    if head == "avgpool":
        assert isinstance(model.pool, nn.AdaptiveAvgPool2d) and model.fc.in_features == 16
    if head == "concatpool":
        assert isinstance(model.pool, AdaptiveConcatPool2d) and model.fc.in_features == 32


def test_forward_is_the_layers_in_order():
    """The model is exactly conv → activation → pool … → linear, computed by torch's own ops."""
    m = make_cnn(CNNSettings(head="maxpool", activation="mish", channels=3), n_classes=2)
    x = torch.rand(2, 1, 28, 28)
    h = x
    for i in (1, 2, 3):
        c = m.get_submodule(f"conv{i}")
        h = F.max_pool2d(F.mish(F.conv2d(h, c.weight, c.bias, padding=1)), 2)
    ref = F.linear(h.flatten(1), m.fc.weight, m.fc.bias)
    torch.testing.assert_close(m(x), ref)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_choice(name):
    m = make_cnn(CNNSettings(activation=name, channels=2))
    ref = {
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "gelu": F.gelu,
        "silu": F.silu,
        "mish": F.mish,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
    }[name]
    x = torch.randn(50)
    torch.testing.assert_close(m.act1(x), ref(x))
    assert type(m.act1) is type(m.act3) and m.act1 is not m.act2


def test_dropout_position_and_scaling():
    s = CNNSettings(dropout=0.25, channels=2)
    head = make_cnn(s)
    assert isinstance(head.drop, nn.Dropout) and head.drop.p == 0.25
    assert not hasattr(head, "drop1")
    conv = make_cnn(s, dropout_at="conv")
    assert all(conv.get_submodule(f"drop{i}").p == 0.25 for i in (1, 2, 3))
    assert not hasattr(conv, "drop")
    first = make_cnn(s, dropout_at="conv1", head="avgpool")  # the first conv layer's maps only
    names = [n for n, m in first.named_children() if isinstance(m, nn.Dropout)]
    assert names == ["drop1"] and list(first.named_children())[2][0] == "drop1"
    x = torch.rand(4, 1, 28, 28)
    torch.manual_seed(5)
    y = first.train()(x)
    torch.manual_seed(5)  # the same mask drawn by hand on act1's maps
    h = F.dropout(first.act1(first.conv1(x)), 0.25, training=True)
    torch.testing.assert_close(y, first.fc(first.flatten(first.pool(first[3:7](h)))))
    both = make_cnn(s, dropout_at="both")
    assert hasattr(both, "drop1") and hasattr(both, "drop")
    assert not any(isinstance(m, nn.Dropout) for m in make_cnn(dropout=0.0).modules())
    # inverted dropout: kept activations scaled by 1/(1-p) in train mode, identity in eval
    x = torch.ones(10_000)
    torch.manual_seed(3)
    y = conv.drop1.train()(x)
    torch.manual_seed(3)
    torch.testing.assert_close(y, F.dropout(x, 0.25, training=True))
    kept = y[y != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / 0.75))
    assert 0.2 < 1 - len(kept) / len(x) < 0.3
    torch.testing.assert_close(conv.drop1.eval()(x), x)


def test_same_seed_same_weights_without_touching_global_rng():
    torch.manual_seed(0)
    before = torch.rand(1)
    torch.manual_seed(0)
    a = make_cnn(CNNSettings(seed=5))
    after = torch.rand(1)
    assert torch.equal(before, after)  # the global generator was not used
    b = make_cnn(CNNSettings(seed=5))
    c = make_cnn(CNNSettings(seed=6))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.conv1.weight, c.conv1.weight)
    # PyTorch's default init range: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert a.conv2.weight.abs().max() <= 1 / np.sqrt(8 * 9)


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(dropout=1.0), "dropout must be a number in [0, 0.99], got 1.0"),
        (dict(dropout=-0.1), "dropout must be"),
        (dict(dropout=float("nan")), "dropout must be"),
        (dict(head="resnet"), "head must be one of 'maxpool', 'stride2', 'avgpool'"),
        (dict(activation="swish"), "activation must be one of 'relu'"),
        (dict(channels=0), "channels must be an integer from 1 to 128, got 0"),
        (dict(channels=2.5), "channels must be"),
        (dict(dropout_at="fc"), "dropout_at must be one of"),
        (dict(digits="1 vs 2"), "digits must be one of"),
    ],
)
def test_bad_settings_name_the_field(changes, words):
    with pytest.raises(ValueError) as err:
        CNNSettings(**changes)
    assert words in str(err.value)
    with pytest.raises(ValueError):
        make_cnn(**changes)


def test_unknown_setting_is_a_type_error():
    with pytest.raises(TypeError, match="colour"):
        make_cnn(colour="red")


def test_data_split_is_stratified_and_stable(fastai_home):
    d = cnn_data("3 vs 7", seed=0)
    assert d.vocab == (3, 7) and d.n_classes == 2
    assert d.train_x.shape[1:] == (1, 28, 28) and d.train_x.dtype == torch.float32
    assert 0 <= float(d.train_x.min()) and float(d.train_x.max()) <= 1
    assert len(d.train_y) + len(d.valid_y) == 1000 and len(d.valid_y) == 200
    assert d.valid_y.bincount().tolist() == [100, 100]
    assert "shipped" in d.source
    small = cnn_data("3 vs 7", train_size=40, seed=0)
    assert torch.equal(small.valid_x, d.valid_x)  # same valid images whatever the train size
    assert len(small.train_y) == 40 and small.train_y.bincount().tolist() == [20, 20]
    # no valid image leaks into training
    train = {tuple(t.flatten().tolist()) for t in small.train_x}
    assert not any(tuple(v.flatten().tolist()) in train for v in small.valid_x)
    ten = cnn_data("0-9")
    assert ten.vocab == tuple(range(10)) and set(ten.valid_y.tolist()) == set(range(10))
    with pytest.raises(ValueError, match="train_size"):
        cnn_data("0-9", train_size=5)
    with pytest.raises(ValueError, match="digits must be"):
        cnn_data("1 vs 2")


def _pngs(folder, parts, digits, n=3):
    from PIL import Image

    for part in parts:
        for d in digits:
            (folder / part / str(d)).mkdir(parents=True)
            for i in range(n):
                img = np.full((28, 28), 25 * d + i, dtype=np.uint8)
                Image.fromarray(img).save(folder / part / str(d) / f"{i}.png")


def test_full_mnist_and_mnist_sample_from_fastai_cache(fastai_home):
    _pngs(fastai_home / "data" / "mnist_png", ("training", "testing"), range(10))
    full = mnist_digits(range(10))
    assert "full MNIST" in full.source and len(full.labels) == 60
    fours = full.images[full.labels == 4][:, 0, 0] * 255  # training then testing, by file name
    assert np.allclose(fours, [100, 101, 102, 100, 101, 102], atol=1e-3)
    assert sorted(set(full.labels.tolist())) == list(range(10))
    # 3 vs 7 prefers the lesson's own mnist_sample when it is there
    assert "full MNIST" in mnist_digits((3, 7)).source
    _pngs(fastai_home / "data" / "mnist_sample", ("train", "valid"), (3, 7))
    assert "mnist_sample" in mnist_digits((3, 7)).source
    d = cnn_data("0-9")
    assert "full MNIST" in d.source and d.n_classes == 10
    assert len(mnist_digits(range(10), max_per_digit=2).labels) == 20


def test_full_mnist_from_a_given_path(tmp_path, fastai_home):
    _pngs(tmp_path / "mine" / "mnist_png", ("training", "testing"), (1, 2))
    d = mnist_digits((1, 2), path=tmp_path / "mine")
    assert len(d.labels) == 12 and str(tmp_path) in d.source
    with pytest.raises(FileNotFoundError):
        mnist_digits((5,), path=tmp_path / "mine")


def test_evaluate_and_misclassified():
    d = cnn_data("3 vs 7")
    m = make_cnn(CNNSettings(head="stride2"))
    loss, acc, pred = evaluate(m, d.valid_x, d.valid_y)
    out = m.eval()(d.valid_x)
    assert loss == pytest.approx(float(F.cross_entropy(out, d.valid_y)), rel=1e-5)
    assert acc == pytest.approx(float((out.argmax(1) == d.valid_y).float().mean()))
    wrong = misclassified(pred, d, limit=500)
    assert len(wrong) == round((1 - acc) * len(d.valid_y))
    for i, true, guess in wrong:
        assert true == d.vocab[int(d.valid_y[i])] and guess != true
