"""ConvLab's settings come from ConvConfig once; dropout and activations through the lab's API;
the newcomer fixes of issue 13 (grown kernels centred, pool size off without pooling, banners that
clear, clear → sample digit)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import traitlets

from lab8widgets import ConvLab
from lab8widgets.models.conv import ConvConfig, SpreadsheetCNN
from lab8widgets.testing import send_custom, simulate


def front(widget, **content) -> None:
    """A message the page sends with ``model.send``, through ipywidgets' own path."""
    send_custom(widget, content)


@pytest.fixture(scope="module")
def shared():
    return ConvLab(fit=False)


@pytest.fixture
def lab():
    return ConvLab()


def controls(lab: ConvLab) -> dict:
    return {
        "n_filters": lab.filters_slider,
        "kernel_size": lab.kernel_slider,
        "stride": lab.stride_slider,
        "padding": lab.padding_slider,
        "pool": lab.pool_buttons,
        "pool_size": lab.pool_size_slider,
        "activation": lab.activation_pick,
        "dropout": lab.dropout_slider,
    }


def test_every_control_has_the_dataclass_bounds_and_defaults(shared):
    got = controls(shared)
    assert set(got) == set(ConvConfig.specs())  # every setting has its control
    for name, spec in ConvConfig.specs().items():
        w = got[name]
        assert w.value == ConvConfig.default(name) == getattr(shared, name), name
        if spec.choices:
            values = tuple(o[1] if isinstance(o, tuple) else o for o in w.options)
            assert values == spec.choices, name
        else:
            assert (w.min, w.max) == (spec.lo, spec.hi), name
    m = SpreadsheetCNN()
    assert m.settings() == ConvConfig()  # the model's defaults are the same values


def test_wrong_types_and_ranges_show_in_the_banner(lab):
    with pytest.raises(ValueError) as e:
        lab.stride = "a"
    assert isinstance(e.value, traitlets.TraitError)
    assert lab.error == "stride must be an integer from 1 to 3, got 'a'" == str(e.value)
    assert lab.stride == 1
    for name, bad, text in (
        ("dropout", 0.95, "dropout must be a number in [0, 0.9], got 0.95"),
        ("dropout", -0.1, "dropout must be a number in [0, 0.9], got -0.1"),
        ("activation", "swish", "activation must be one of"),
    ):
        with pytest.raises(ValueError):
            setattr(lab, name, bad)
        assert lab.error.startswith(text), lab.error
        lab.stride = 1
    with pytest.raises(ValueError, match="dropout"):
        lab.configure(dropout=1.0)
    assert "dropout" in lab.error and lab.dropout == 0.0
    with pytest.raises(ValueError, match="seed"):
        lab.new_mask(seed=-3)
    assert "seed" in lab.error


def test_dropout_matches_torch_and_eval_is_no_dropout(lab):
    no_drop = lab.activations
    lab.dropout = 0.5
    seed = lab.new_mask(seed=11)
    assert seed == 11
    acts = lab.activations
    assert list(acts) == [
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
    act2 = torch.as_tensor(acts["act2"])[None]
    torch.manual_seed(11)
    want = F.dropout(act2, 0.5, training=True)[0]
    np.testing.assert_array_equal(acts["dropout"], want.numpy())
    torch.manual_seed(11)
    np.testing.assert_array_equal(acts["dropout"], torch.nn.Dropout(0.5).train()(act2)[0].numpy())
    mask = lab.dropout_mask
    assert mask.shape == acts["act2"].shape and set(np.unique(mask)) <= {0.0, 1.0}
    np.testing.assert_allclose(acts["dropout"], acts["act2"] * mask * 2, rtol=1e-6)
    # every later stage follows the corrupted activations
    np.testing.assert_allclose(acts["pool"], F.max_pool2d(want, 2).numpy(), rtol=1e-6)
    for ch in range(2):  # the mask is its own heatmap beside what it corrupts
        assert np.array_equal(lab.chain.values(("mask", ch)), mask[ch])
        assert np.array_equal(lab.chain.values(("dropout", ch)), acts["dropout"][ch])
    assert "1/(1−0.5)" in lab.scaling_note.value and "×2" in lab.scaling_note.value
    # seeded: the same seed gives the same mask, no seed a new one
    lab.new_mask()
    other = lab.dropout_mask
    lab.new_mask(seed=11)
    assert np.array_equal(lab.dropout_mask, mask) and not np.array_equal(other, mask)
    # eval: no mask, no scaling — the same numbers as no dropout at all
    lab.training = False
    assert lab.model.training is False
    e = lab.activations
    assert np.array_equal(e["dropout"], e["act2"]) and np.all(lab.dropout_mask == 1)
    np.testing.assert_allclose(e["output"], no_drop["output"], atol=1e-6)
    assert "eval" in lab.scaling_note.value and lab.mask_button.disabled
    lab.dropout = 0.0
    assert "dropout" not in lab.activations and lab.dropout_mask is None


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "gelu", "silu", "mish", "sigmoid", "tanh"])
def test_activation_choice_runs_through_the_chain(shared, name):
    lab = shared
    lab.activation = name
    fn = {
        "relu": F.relu,
        "leaky_relu": F.leaky_relu,
        "gelu": F.gelu,
        "silu": F.silu,
        "mish": F.mish,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
    }[name]
    acts = lab.activations
    np.testing.assert_allclose(acts["act1"], fn(torch.as_tensor(acts["conv1"])).numpy(), atol=1e-6)
    np.testing.assert_allclose(acts["act2"], fn(torch.as_tensor(acts["conv2"])).numpy(), atol=1e-6)
    assert lab.model.activation == name and lab.error == ""
    lab.tabs.selected_index = 2
    panel = lab.activation_panel
    x = torch.as_tensor(panel.x)
    np.testing.assert_allclose(panel.f.y, fn(x).numpy(), atol=1e-6)
    xs = x.clone().requires_grad_(True)
    (dy,) = torch.autograd.grad(fn(xs).sum(), xs)
    np.testing.assert_allclose(panel.df.y, dy.numpy(), atol=1e-6)
    assert panel.counts["act1"] == int((acts["act1"] == 0).sum())
    assert f"{panel.counts['act1']:,} of" in panel.text.value
    assert f"act1 = {name}(conv1)" in panel.text.value
    lab.tabs.selected_index = 0


def test_stage_names_follow_no_particular_activation(lab):
    """Issue 20: the activation's outputs are 'act1'/'act2' in ``lab.activations``, on every
    heatmap's class and in the text, and each title names the function in use (never "relu" for Mish)."""
    lab.configure(activation="mish", dropout=0.5)
    assert list(lab.activations) == [
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
    titles = {g["key"]: g["title"] for g in lab.chain.groups}
    assert titles["act1"] == "act1: Mish" and titles["act2"] == "act2: Mish"
    assert ("act2", 0) in lab.chain.grid_keys and ("act1", 0) in lab.chain.grid_keys
    assert "act1: Mish" in lab.summary.value and "act2: Mish" in lab.summary.value
    notes = {g["key"]: g["notes"] for g in lab.chain.groups}
    assert "mask · act2 / (1−p)" in notes["dropout"]
    shown = " ".join([lab.summary.value, *map(str, lab.chain.groups)])
    assert "relu" not in shown.lower()
    lab.select("act2", 1, 1, channel=1)
    assert "act2[1] (1, 1)" in lab.rf_note.value
    lab.activation = "relu"
    assert {g["key"]: g["title"] for g in lab.chain.groups}["act1"] == "act1: ReLU"


def test_activation_change_refits_the_dense_layer(lab):
    lab.activation = "tanh"
    assert lab.model.dense_fitted and "refit" not in lab.prediction.value
    assert "held-out accuracy" in lab.prediction.value


def test_grown_kernel_keeps_edits_centred(lab):
    edited = np.arange(9, dtype=np.float32).reshape(3, 3) - 4
    lab.set_kernel(1, edited)
    lab.kernel_size = 4  # a slider passes through every size
    lab.kernel_size = 5
    k5 = lab.model.kernel(1).numpy()
    np.testing.assert_array_equal(k5[1:4, 1:4], edited)
    assert np.abs(k5).sum() == np.abs(edited).sum()
    lab.kernel_size = 7
    np.testing.assert_array_equal(lab.model.kernel(1).numpy()[2:5, 2:5], edited)
    lab.kernel_size = 3
    np.testing.assert_array_equal(lab.model.kernel(1).numpy(), edited)
    lab.configure(kernel_size=7)  # straight from 3 to 7
    np.testing.assert_array_equal(lab.model.kernel(1).numpy()[2:5, 2:5], edited)


def test_pool_size_slider_is_disabled_without_pooling(lab):
    assert not lab.pool_size_slider.disabled
    lab.pool = "none"
    assert lab.pool_size_slider.disabled
    lab.stride2_toggle.value = False
    lab.pool = "avg"
    assert not lab.pool_size_slider.disabled


def test_banner_clears_after_the_next_successful_action(lab):
    actions = [
        lambda: setattr(lab, "stride", 2),
        lambda: lab.preset_button.click(),
        lambda: front(lab.pad, event="draw", cells=[[3, 3, 1.0]], done=True),
        lambda: lab.clear_button.click(),
        lambda: setattr(lab, "index", 4),
        lambda: front(lab.chain, event="click", key=["conv1", 0], row=1, col=1),
        lambda: front(
            lab.chain, event="edit", key=["kernel", 0], row=0, col=0, value=0.3, done=True
        ),
        lambda: setattr(lab, "activation", "silu"),
        lambda: (
            lab.mask_button.click()
            if not lab.mask_button.disabled
            else setattr(lab, "dropout", 0.2)
        ),
    ]
    for act in actions:
        front(lab.chain, event="edit", key=["kernel", 0], row=0, col=0, value="abc", done=True)
        assert lab.error.startswith("Kernel not changed")
        act()
        assert lab.error == "", act


def test_clear_returns_to_the_sample_digit(lab):
    lab.index = 5
    front(lab.pad, event="draw", cells=[[10, 10, 1.0], [11, 10, 1.0]], done=True)
    assert lab.input_grid.title == "your drawing"
    lab.clear_button.click()
    assert np.array_equal(lab.image, lab.digits.images[5])
    assert lab.pad.values.sum() == 0 and lab.input_grid.title.startswith("MNIST sample #5")


@pytest.mark.parametrize(
    "name, typed, text",
    [
        ("stride", "2.5", "stride must be an integer from 1 to 3, got '2.5'"),
        ("stride", "1e309", "stride must be an integer from 1 to 3, got '1e309'"),
        ("stride", "4", "stride must be an integer from 1 to 3, got '4'"),
        ("padding", "-1", "padding must be an integer from 0 to 3, got '-1'"),
        ("kernel_size", "three", "kernel_size must be an integer from 1 to 7, got 'three'"),
        ("dropout", "0.95", "dropout must be a number in [0, 0.9], got '0.95'"),
        ("dropout", "nan", "dropout must be a number in [0, 0.9], got 'nan'"),
        ("index", "2.5", "index must be an integer from 0 to "),
    ],
)
def test_slider_readouts_never_change_what_was_typed(shared, name, typed, text):
    """Issue 24: ipywidgets' own readout sends 2 for "2.5", 1 for "1e309" and clamps; the typed
    readout refuses with field, value and range, and shows the last good value again."""
    lab = shared
    readout = lab.controls.readouts[name]
    before, shown = getattr(lab, name), readout.value
    slider = {"index": lab.index_slider, **controls(lab)}[name]
    assert slider.readout is False  # the front end's clamping readout is off
    simulate(readout, value=typed)  # what the page sends when the learner types and presses Enter
    assert lab.error.startswith(text) and lab.error.endswith(f"got {typed!r}")
    assert getattr(lab, name) == before and slider.value == before and readout.value == shown


def test_a_typed_readout_value_is_used_exactly(shared):
    lab = shared
    try:
        simulate(lab.controls.readouts["stride"], value="9")
        assert "stride" in lab.error and lab.stride == 1
        simulate(lab.controls.readouts["stride"], value="2")
        assert lab.stride == 2 == lab.stride_slider.value == lab.model.conv1.stride[0]
        assert lab.error == "" and lab.controls.readouts["stride"].value == "2"
        simulate(lab.controls.readouts["dropout"], value="0.35")
        assert lab.dropout == 0.35 == lab.model.dropout
        lab.stride = 1  # and a change from Python shows in the readout
        assert lab.controls.readouts["stride"].value == "1"
        lab.tabs.selected_index = 1  # the matmul tab's sliders refuse the same way
        top = lab.matmul.readouts["top row"]
        simulate(top, value="24")  # crop size 5: rows 0 to 23
        assert lab.error == "top row must be an integer from 0 to 23, got '24'"
        assert lab.matmul.row.value == 11 and top.value == "11"
        simulate(top, value="23")
        assert lab.matmul.row.value == 23 and lab.error == ""
    finally:
        lab.configure(stride=1, dropout=0.0)
        lab.tabs.selected_index = 0
