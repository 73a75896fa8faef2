"""ConvLab outside a kernel: front-end gestures are simulated with the grid's custom messages and
every displayed array is checked against torch.nn.functional on the lab's own model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab8widgets import ConvLab, conv_as_matmul
from lab8widgets.data import mnist_sample
from lab8widgets.models.conv import (
    KERNEL_PRESETS,
    VanishedStageError,
    conv_matrix_index,
    left_edge,
    receptive_field,
    top_edge,
)
from lab8widgets.testing import send_custom
from lab8widgets.widgets import LabInputError

MAPS = ("conv1", "act1", "conv2", "act2", "pool")


@pytest.fixture(scope="module")
def digits():
    return mnist_sample()


@pytest.fixture
def lab():
    return ConvLab()


def reference(lab: ConvLab) -> dict[str, np.ndarray]:
    """The lab's network recomputed with F.* from the weights in ``lab.model``."""
    m = lab.model
    x = torch.as_tensor(lab.image)[None, None]
    c1 = F.conv2d(x, m.conv1.weight.detach(), stride=lab.stride, padding=lab.padding)
    c2 = F.conv2d(F.relu(c1), m.conv2.weight.detach(), padding=lab.padding)
    r2 = F.relu(c2)
    pool = {
        "max": lambda t: F.max_pool2d(t, lab.pool_size),
        "avg": lambda t: F.avg_pool2d(t, lab.pool_size),
        "none": lambda t: t,
    }[lab.pool](r2)
    d = F.linear(pool.flatten(1), m.dense.weight.detach(), m.dense.bias.detach())
    return {
        "conv1": c1[0],
        "act1": F.relu(c1)[0],
        "conv2": c2[0],
        "act2": r2[0],
        "pool": pool[0],
        "dense": d,
        "output": F.softmax(d, 1),
    }


def assert_shows_model(lab: ConvLab) -> None:
    """Every stage equals torch's answer, and every heatmap shows exactly ``lab.activations``."""
    acts = lab.activations
    assert list(acts) == ["input", "conv1", "act1", "conv2", "act2", "pool", "dense", "output"]
    assert np.array_equal(acts["input"], lab.image)
    for name, want in reference(lab).items():
        assert acts[name].shape == tuple(want.shape), name
        np.testing.assert_allclose(acts[name], want.numpy(), atol=1e-5, err_msg=name)
    shown = lab.chain.values
    assert np.array_equal(lab.input_grid.values, acts["input"])
    for name in MAPS:
        for ch in range(acts[name].shape[0]):
            assert np.array_equal(shown((name, ch)), acts[name][ch]), (name, ch)
    assert np.array_equal(shown(("dense",)), acts["dense"])
    assert np.array_equal(shown(("output",)), acts["output"])
    for i in range(lab.model.n_filters):
        assert np.array_equal(shown(("kernel", i)), lab.model.conv1.weight[i, 0].detach().numpy())


def front(widget, **content) -> None:
    """A message the page sends with ``model.send``, through ipywidgets' own path."""
    send_custom(widget, content)


def edit(lab: ConvLab, i: int, r: int, c: int, value, done: bool = False) -> None:
    front(lab.chain, event="edit", key=["kernel", i], row=r, col=c, value=value, done=done)


def click(lab: ConvLab, key: tuple, r: int, c: int) -> None:
    front(lab.chain, event="click", key=list(key), row=r, col=c)


def test_default_lab_is_the_lesson(lab, digits):
    assert np.array_equal(lab.image, digits.images[0])
    assert lab.error == ""
    assert torch.equal(lab.model.conv1.weight[0, 0], top_edge)
    assert torch.equal(lab.model.conv1.weight[1, 0], left_edge)
    assert (lab.kernel_size, lab.n_filters, lab.stride, lab.padding, lab.pool, lab.pool_size) == (
        3,
        2,
        1,
        0,
        "max",
        2,
    )
    assert lab.activations["conv1"].shape == (2, 26, 26)
    assert lab.activations["pool"].shape == (2, 12, 12)
    assert lab.activations["dense"].shape == (1, 2)
    assert_shows_model(lab)
    # the dense layer is fitted, so the output means something: this digit is a 3
    assert lab.model.classes == ("3", "7")
    assert int(digits.labels[0]) == 3 and lab.activations["output"][0, 0] > 0.5
    assert "predicts 3" in lab.prediction.value
    # shapes and parameter counts are on screen
    assert "2×26×26 (18)" in lab.summary.value and "2×12×12" in lab.summary.value
    assert "632" in lab.summary.value  # 18 + 36 + 578
    assert "MNIST" in lab.source


def test_set_kernel_updates_every_stage(lab):
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        w = torch.randn(3, 3, generator=g)
        lab.set_kernel(1, w)
        assert torch.equal(lab.model.conv1.weight[1, 0], w)
        assert_shows_model(lab)
    want = F.conv2d(torch.as_tensor(lab.image)[None, None], w[None, None])[0, 0]
    np.testing.assert_allclose(lab.activations["conv1"][1], want.numpy(), atol=1e-5)
    assert lab.chain.props(("kernel", 1))["subtitle"] == "edited"


def test_drag_edits_recompute_while_dragging(lab):
    before = lab.activations["conv1"][0].copy()
    for v in (0.1, 0.5, 2.5):  # a drag sends done=False on every step
        edit(lab, 0, 0, 1, v, done=False)
        assert lab.model.conv1.weight[0, 0, 0, 1].item() == pytest.approx(v)
        assert_shows_model(lab)
    assert not np.array_equal(before, lab.activations["conv1"][0])
    edit(lab, 0, 2, 2, "-0.75", done=True)  # a typed value arrives as text
    assert lab.model.conv1.weight[0, 0, 2, 2].item() == -0.75
    assert lab.chain.values(("kernel", 0))[2, 2] == -0.75
    assert lab.error == ""


@pytest.mark.parametrize("bad", ["abc", "nan", "NaN", "inf", "-inf", 1e7, -2e6, None, "", [1]])
def test_bad_kernel_values_are_refused_with_a_message(lab, bad):
    kernel = lab.model.kernel(0)
    shown = lab.activations
    edit(lab, 0, 1, 1, bad, done=True)
    assert lab.error.startswith("Kernel not changed")
    assert torch.equal(lab.model.kernel(0), kernel)
    assert np.array_equal(lab.chain.values(("kernel", 0)), kernel.numpy())
    for k, v in lab.activations.items():
        assert np.array_equal(v, shown[k])
    edit(lab, 0, 1, 1, 0.5, done=True)  # the next good edit clears the message
    assert lab.error == ""


def test_set_kernel_api_raises_and_keeps_kernel(lab):
    for bad in ([[np.nan] * 3] * 3, [[np.inf, 0, 0]] * 3, [["x"] * 3] * 3, np.full((3, 3), 5e6)):
        with pytest.raises(ValueError):
            lab.set_kernel(0, bad)
        assert "Kernel not changed" in lab.error
        assert torch.equal(lab.model.kernel(0), top_edge)
    with pytest.raises(ValueError, match="3×3"):
        lab.set_kernel(0, np.ones((5, 5)))
    with pytest.raises(ValueError, match="filter index"):
        lab.set_kernel(2, np.ones((3, 3)))
    assert_shows_model(lab)


def test_presets(lab):
    lab.apply_preset(1, "blur")
    assert torch.allclose(lab.model.kernel(1), torch.full((3, 3), 1 / 9))
    assert lab.chain.props(("kernel", 1))["subtitle"] == "blur"
    lab.filter_pick.value = "all"
    lab.preset_pick.value = "sharpen"
    lab.preset_button.click()
    for i in range(2):
        assert torch.equal(lab.model.kernel(i), KERNEL_PRESETS["sharpen"](3))
    lab.preset_pick.value = "random"
    lab.preset_button.click()
    assert not torch.equal(lab.model.kernel(0), lab.model.kernel(1))
    assert_shows_model(lab)
    with pytest.raises(ValueError, match="unknown preset"):
        lab.apply_preset(0, "nope")


def test_sizes_change_shapes_and_stay_exact(lab):
    lab.stride = 2
    assert lab.activations["conv1"].shape == (2, 13, 13)
    assert_shows_model(lab)
    lab.pool = "avg"
    assert_shows_model(lab)
    lab.pool = "none"
    assert np.array_equal(lab.activations["pool"], lab.activations["act2"])
    assert_shows_model(lab)
    lab.configure(kernel_size=5, n_filters=4, padding=2, pool="max", pool_size=3, stride=1)
    assert lab.activations["conv1"].shape == (4, 28, 28)
    assert lab.activations["pool"].shape == (2, 9, 9)
    assert [lab.chain.props(("kernel", i))["shape"] for i in range(4)] == [[5, 5]] * 4
    assert_shows_model(lab)
    assert lab.model.dense_fitted  # a new dense shape is refitted at once
    assert "4×28×28 (100)" in lab.summary.value


def test_random_configurations_match_torch(lab):
    rng = np.random.default_rng(5)
    seen = 0
    while seen < 8:
        cfg = dict(
            kernel_size=int(rng.integers(1, 8)),
            n_filters=int(rng.integers(1, 9)),
            stride=int(rng.integers(1, 4)),
            padding=int(rng.integers(0, 4)),
            pool=str(rng.choice(["max", "avg", "none"])),
            pool_size=int(rng.integers(1, 5)),
        )
        try:
            lab.configure(**cfg)
        except VanishedStageError:
            continue
        for i in range(lab.n_filters):
            lab.set_kernel(i, rng.normal(size=(lab.kernel_size, lab.kernel_size)).round(2))
        assert_shows_model(lab)
        seen += 1


def test_vanished_stage_keeps_last_valid_picture(lab):
    lab.configure(kernel_size=7, stride=3)
    shown = lab.activations
    grids = {
        k: lab.chain.values(k) for k in lab.chain.grid_keys if k[0] in ("pool", "conv1", "conv2")
    }
    with pytest.raises(VanishedStageError, match="pool"):
        lab.configure(pool_size=4)
    assert "pooling has no output" in lab.error
    assert lab.model.config()["pool_size"] == 2  # the model kept its last valid shape
    for k, v in lab.activations.items():
        assert np.array_equal(v, shown[k])
    for k, v in grids.items():
        assert np.array_equal(lab.chain.values(k), v)
    # a slider move (trait assignment) never raises, it reports, and says the picture is older
    lab.pool_size = 3
    assert "pooling has no output" in lab.error and lab.pool_size == 3
    assert "still shows the last network that had an output (pool_size 2)" in lab.error
    assert lab.pool_size_slider.value == 3 and lab.model.pool_size == 2
    assert lab.activations["pool"].shape == shown["pool"].shape
    lab.pool_size = 2
    assert lab.error == ""
    assert lab.activations["pool"].shape == (2, 1, 1)
    assert_shows_model(lab)


def test_configure_checks_everything_before_changing_anything(lab):
    with pytest.raises(ValueError, match="kernel_size must be an integer from 1 to 7"):
        lab.configure(stride=2, kernel_size=9)
    assert (lab.stride, lab.kernel_size) == (1, 3) and lab.model.stride == 1
    with pytest.raises(ValueError, match="pool must be one of"):
        lab.configure(pool="median")
    with pytest.raises(TypeError, match="strides"):
        lab.configure(strides=2)


def test_out_of_range_traits_are_refused(lab):
    with pytest.raises(Exception, match="from 1 to 7"):
        lab.kernel_size = 9
    assert "kernel_size" in lab.error
    with pytest.raises(Exception, match="pool must be"):
        lab.pool = "median"
    assert lab.kernel_size == 3 and lab.pool == "max"


def test_stride2_toggle_is_one_click(lab):
    lab.padding = 1
    pooled = lab.activations["pool"].shape
    lab.stride2_toggle.value = True
    assert (lab.pool, lab.stride) == ("none", 2)
    assert lab.activations["pool"].shape == pooled  # same size, reached by striding instead
    assert_shows_model(lab)
    lab.stride2_toggle.value = False
    assert (lab.pool, lab.pool_size, lab.stride) == ("max", 2, 1)
    lab.configure(pool="none", stride=2)
    assert lab.stride2_toggle.value is True


def test_click_highlights_receptive_field(lab):
    lab.padding = 1
    hl = lambda key: lab.chain.props(key)["highlight"]  # noqa: E731
    click(lab, ("conv2", 1), 5, 7)
    assert lab.chain.props(("conv2", 1))["selected"] == [5, 7]
    assert lab.selection == ("conv2", 1, 5, 7)
    rf = receptive_field(lab.model.stages_meta(), "conv2", 5, 7, 1)
    assert lab.input_grid.highlight == [list(rf["input"][:4])]
    assert lab.input_grid.highlight == [[3, 5, 7, 9]]  # two 3×3 convs: a 5×5 window
    for ch in range(2):  # conv2 mixes every conv1 channel
        assert hl(("conv1", ch)) == [[4, 6, 6, 8]]
        assert hl(("act1", ch)) == [[4, 6, 6, 8]]
    assert hl(("conv2", 0)) == [] and hl(("pool", 1)) == []
    assert "5×5 receptive field" in lab.rf_note.value
    # clicking a pool cell: only its own channel before conv2
    click(lab, ("pool", 0), 0, 0)
    assert hl(("act2", 0)) == [[0, 0, 1, 1]] and hl(("act2", 1)) == []
    assert lab.chain.props(("conv2", 1))["selected"] == []
    # the output depends on the whole input
    click(lab, ("output",), 0, 1)
    assert lab.input_grid.highlight == [[0, 0, 27, 27]]
    # a bad click from a stale front end is a message, not a traceback
    with pytest.raises(LabInputError):
        lab.select("conv1", 99, 0)
    assert "outside" in lab.error


def test_draw_pad_becomes_the_input(lab):
    pad = lab.pad
    assert pad.drawable
    front(pad, event="draw", cells=[[5, 5, 1.0], [5, 6, 0.6], [27, 27, 9.0]], done=False)
    assert (
        lab.image[5, 5] == 1.0
        and lab.image[5, 6] == pytest.approx(0.6)
        and lab.image[27, 27] == 1.0
    )
    assert lab.image.sum() == pytest.approx(2.6)
    assert np.array_equal(pad.values, lab.image)
    assert_shows_model(lab)
    assert "your drawing" in lab.input_grid.title
    assert lab.digit_button.layout.display == ""  # a way back to the sample digit
    lab.clear_button.click()  # clearing the pad returns to the sample digit
    assert pad.values.sum() == 0
    assert np.array_equal(lab.image, lab.digits.images[0])
    assert lab.input_grid.title.startswith("MNIST sample #0")
    front(pad, event="draw", cells=[[5, 5, 1.0]], done=True)
    lab.digit_button.click()
    assert np.array_equal(lab.image, lab.digits.images[0])
    assert lab.digit_button.layout.display == "none"
    lab.index = 3
    assert np.array_equal(lab.image, lab.digits.images[3])


def test_images_through_the_api(lab):
    from PIL import Image

    lab.image = Image.fromarray(np.full((56, 56, 3), 255, np.uint8), "RGB")
    assert lab.image.shape == (28, 28) and lab.image.min() == 1.0
    lab.set_image(np.eye(10))
    assert lab.image.shape == (28, 28)
    assert_shows_model(lab)
    for bad in (np.zeros((28, 28, 3)), np.zeros(784), np.zeros((3, 28, 28))):
        with pytest.raises(ValueError, match=r"\(28, 28\)"):
            lab.image = bad
        assert "(28, 28)" in lab.error
    with pytest.raises(ValueError, match="finite"):
        lab.set_image(np.full((28, 28), np.nan))
    assert lab.image.shape == (28, 28) and np.isfinite(lab.image).all()


def test_constructor_arguments():
    with pytest.raises(TypeError, match="strid"):
        ConvLab(strid=2)
    lab = ConvLab(np.ones((28, 28)) * 0.5, n_filters=3, kernel_size=5, pool="avg", fit=False)
    assert lab.activations["conv1"].shape == (3, 24, 24)
    assert_shows_model(lab)
    with pytest.raises(TypeError, match="SpreadsheetCNN"):
        ConvLab(model=nn.Linear(2, 2))


def test_model_changed_in_code_updates_the_lab(lab):
    with torch.no_grad():
        lab.model.conv1.weight[0, 0] = torch.ones(3, 3)
    lab.sync_with_model()  # what the post_execute hook runs after every cell
    assert_shows_model(lab)
    lab.model.conv1 = nn.Conv2d(1, 3, 5, bias=False)
    lab.sync_with_model()
    assert (lab.n_filters, lab.kernel_size) == (3, 5)
    assert lab.kernel_slider.value == 5
    assert lab.activations["conv1"].shape == (3, 24, 24)
    assert_shows_model(lab)


def test_cell_hook_follows_the_model():
    """In IPython, running a cell that edits lab.model repaints without calling anything."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        lab = ConvLab(fit=False)
        shell.user_ns["lab"] = lab
        shell.run_cell(
            "import torch\nwith torch.no_grad(): lab.model.conv1.weight[1, 0, 1, 1] = 7.0"
        )
        assert lab.chain.values(("kernel", 1))[1, 1] == 7.0
        assert_shows_model(lab)
        shell.run_cell("lab.model.conv1.stride = (2, 2)")
        assert lab.stride == 2 and lab.activations["conv1"].shape == (2, 13, 13)
        assert_shows_model(lab)
    finally:
        InteractiveShell.clear_instance()


def test_matmul_view_equals_conv2d(lab):
    lab.configure(stride=2, padding=1)
    lab.tabs.selected_index = 1
    mm = lab.matmul
    mm.size.value = 6
    mm.row.value, mm.col.value = 10, 9
    crop = lab.image[10:16, 9:15]
    matrix, flat, out = conv_as_matmul(crop, lab.model.kernel(0), 2, 1)
    ref = F.conv2d(
        torch.as_tensor(crop)[None, None], lab.model.kernel(0)[None, None], stride=2, padding=1
    )[0, 0]
    assert torch.allclose(out, ref, atol=1e-6)
    view = mm.view
    assert np.array_equal(view.values(("vector",))[:, 0], crop.reshape(-1))
    np.testing.assert_allclose(view.values(("product",))[:, 0], ref.reshape(-1).numpy(), atol=1e-5)
    np.testing.assert_allclose(view.values(("torch",)), ref.numpy(), atol=1e-6)
    np.testing.assert_allclose(view.values(("matrix",)), matrix.numpy(), atol=1e-6)
    assert "✓" in mm.check.value
    ties = view.ties(("matrix",))
    assert np.array_equal(ties, conv_matrix_index(6, 6, 3, 2, 1))
    assert f"{matrix.shape[0]}×{matrix.shape[1]}" in mm.note.value
    mm.filter.value = 1  # the other kernel: the view follows
    _, _, out1 = conv_as_matmul(crop, left_edge, 2, 1)
    np.testing.assert_allclose(view.values(("output",)), out1.numpy(), atol=1e-6)
    edit(lab, 1, 0, 0, 2.0)  # and a drag of that kernel
    _, _, out2 = conv_as_matmul(crop, lab.model.kernel(1), 2, 1)
    np.testing.assert_allclose(view.values(("output",)), out2.numpy(), atol=1e-6)


def test_fit_dense_button(lab):
    lab.set_kernel(0, np.zeros((3, 3)))
    assert "refit" in lab.prediction.value
    lab.fit_button.click()
    assert "refit" not in lab.prediction.value and lab.error == ""
    _, valid = lab.fit_dense()
    assert valid > 0.85


def test_one_kernel_drag_step_is_one_message_with_every_stage(lab):
    """A drag step changes the whole chain: it reaches the page as one message, not one per map."""
    sent = []
    real = lab.chain.send_state

    def spy(key=None):
        sent.append(key)
        return real(key)

    lab.chain.send_state = spy
    others = []
    for w in (lab.input_grid, lab.pad):
        w.send_state = lambda key=None, w=w: others.append(key)
    front(lab.chain, event="edit", key=["kernel", 0], row=0, col=0, value=0.5, seq=12)
    assert len(sent) == 1 and others == []
    assert lab.chain.ack == 12  # the page's next drag step goes when this very message arrives
    buf = np.frombuffer(lab.chain.data, "<f4")
    acts = lab.activations
    for g in lab.chain.groups:
        for part in g["parts"]:
            for spec in part["grids"]:
                key = tuple(spec["key"])
                if key[0] in MAPS or key[0] in ("dense", "output"):
                    want = acts[key[0]] if len(key) == 1 else acts[key[0]][key[1]]
                    n = spec["rows"] * spec["cols"]
                    got = buf[spec["offset"] : spec["offset"] + n].reshape(want.shape)
                    assert np.array_equal(got, want), key
    assert_shows_model(lab)


def test_a_drag_is_one_chain_message_per_step_and_the_layout_travels_only_when_it_changes(lab):
    """Forty drag steps: forty messages, each with the answer's ``ack``; the layout (titles, props,
    scales) rides along only on the few steps whose colour scales moved."""
    sent = []
    real = lab.chain.send_state

    def spy(key=None):
        sent.append(set(key) if not isinstance(key, str) else {key})
        return real(key)

    lab.chain.send_state = spy
    for step in range(1, 41):
        front(lab.chain, event="edit", key=["kernel", 0], row=1, col=1, value=step / 10, seq=step)
        assert len(sent) == step and {"data", "ack"} <= sent[-1], step
        assert lab.chain.ack == step
    with_layout = sum("groups" in keys for keys in sent)
    assert 1 <= with_layout <= 12  # the first ("edited") and those where a nice_limit moved
    assert_shows_model(lab)
