"""Heatmap views without a browser: gestures arrive as the front end's custom messages (through the
widget's public ``on_msg`` path), and what a stack sends is counted message by message."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lab8widgets import HeatmapGrid as ExportedGrid
from lab8widgets.models.conv import conv_matrix_index
from lab8widgets.views.heatmap import HeatmapGrid, HeatmapStack, nice_limit
from lab8widgets.views.matrix import MatrixView
from lab8widgets.widgets import HeatmapGrid as WidgetsGrid


def front(widget, **content) -> None:
    """What ipywidgets does with a message the page sends through ``model.send``."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def count_messages(widget) -> list[dict]:
    sent: list[dict] = []
    real = widget.send_state

    def spy(key=None):
        sent.append(dict.fromkeys([key] if isinstance(key, str) else (key or ["all"])))
        return real(key)

    widget.send_state = spy
    return sent


def test_public_import_paths_are_the_same_class():
    assert ExportedGrid is HeatmapGrid and WidgetsGrid is HeatmapGrid


def test_grid_gestures_arrive_through_on_msg():
    g = HeatmapGrid(np.arange(6).reshape(2, 3), editable=True)
    got = []
    g.on_click(lambda r, c: got.append(("click", r, c)))
    g.on_edit(lambda r, c, v, done: got.append(("edit", r, c, v, done)))
    g.on_draw(lambda cells, done: got.append(("draw", cells, done)))
    front(g, event="click", row=1, col=2)
    front(g, event="edit", row=0, col=1, value="2.5", done=True)
    front(g, event="draw", cells=[[0, 0, 1.0]], done=False)
    front(g, event="nonsense")
    front(g, event="click", row="x", col=0)  # a stale page: ignored, never raised
    assert got == [("click", 1, 2), ("edit", 0, 1, "2.5", True), ("draw", [(0, 0, 1.0)], False)]
    assert g.selected == [1, 2]
    assert g.values.dtype == np.float32 and g.values.tolist() == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="2-D"):
        g.values = np.zeros(3)
    assert "_handle_custom_msg" not in HeatmapGrid.__dict__  # the public on_msg path, no override


def stack_with_two_groups() -> HeatmapStack:
    s = HeatmapStack(css_prefix="t-")
    s.set_layout(
        [
            {
                "key": "a",
                "title": "conv",
                "notes": ["2×4×4"],
                "parts": [
                    {
                        "legend": True,
                        "grids": [{"key": ("a", 0), "cell": 5}, {"key": ("a", 1), "cell": 5}],
                    }
                ],
            },
            {
                "key": "b",
                "title": "k",
                "parts": [
                    {
                        "cmap": "gray",
                        "vmin": 0,
                        "vmax": 1,
                        "grids": [{"key": ("b",), "editable": True}],
                    }
                ],
            },
        ]
    )
    return s


def test_stack_batch_is_one_message_with_every_grid():
    s = stack_with_two_groups()
    sent = count_messages(s)
    rng = np.random.default_rng(0)
    arrays = {
        ("a", 0): rng.normal(size=(4, 4)),
        ("a", 1): rng.normal(size=(4, 4)),
        ("b",): np.eye(3),
    }
    with s.batch():
        for k, a in arrays.items():
            s.set(k, a)
        s.set_scale("a", 0, vmin=-2.0, vmax=2.0)
        s.set(("a", 1), highlight=[[0, 0, 1, 1]])
    assert len(sent) == 1  # one message …
    buf = np.frombuffer(s.data, dtype="<f4")
    for g in s.groups:  # … carrying every grid at its offset, with its part's shared scale
        for part in g["parts"]:
            for spec in part["grids"]:
                key = tuple(spec["key"])
                n = spec["rows"] * spec["cols"]
                np.testing.assert_array_equal(
                    buf[spec["offset"] : spec["offset"] + n].reshape(spec["rows"], spec["cols"]),
                    arrays[key].astype(np.float32),
                )
    assert s.scale("a") == (-2.0, 2.0) and s.props(("a", 0))["vmax"] == 2.0
    assert s.props(("a", 1))["highlight"] == [[0, 0, 1, 1]]
    assert s.props(("b",))["cmap"] == "gray" and s.props(("b",))["shape"] == [3, 3]
    # outside a batch each change is its own message; an unchanged prop sends nothing
    s.set(("b",), editable=True)
    assert len(sent) == 1
    s.set(("b",), np.zeros((3, 3)))
    assert len(sent) == 2


def test_stack_gestures_carry_tuple_keys():
    s = stack_with_two_groups()
    s.set(("b",), np.eye(3))
    got = []
    s.on_edit(lambda key, r, c, v, done: got.append((key, r, c, v, done)))
    s.on_click(lambda key, r, c: got.append((key, r, c)))
    s.on_draw(lambda key, cells, done: got.append((key, cells, done)))
    front(s, event="edit", key=["b"], row=1, col=1, value=0.5, done=False)
    front(s, event="click", key=["a", 1], row=2, col=3)
    front(s, event="draw", key=["a", 0], cells=[[1, 1, 0.5]], done=True)
    front(s, event="click", key=["gone", 3], row=0, col=0)  # a grid no longer laid out
    front(s, event="click", key="a-1", row=0, col=0)  # never a string parsed back
    assert got == [(("b",), 1, 1, 0.5, False), (("a", 1), 2, 3), (("a", 0), [(1, 1, 0.5)], True)]


def keys(sent: list[dict]) -> list[set]:
    """The trait names each message ``count_messages`` saw carried."""
    return [set(d) for d in sent]


def test_stack_gesture_is_answered_in_the_message_it_caused():
    """A drag step's answer (the grids it changed) carries its ``ack``: one message, and the
    layout only when it changed; a gesture that changes nothing is acknowledged alone, so the page
    never waits on it."""
    s = stack_with_two_groups()
    s.set(("a", 0), np.zeros((4, 4)))
    s.set(("b",), np.eye(3))

    def on_edit(key, r, c, v, done):
        with s.batch():
            a = s.values(("b",))
            a[r, c] = float(v)
            s.set(("b",), a)
            s.set(("a", 0), np.full((4, 4), float(v)))

    s.on_edit(on_edit)
    sent = count_messages(s)
    front(s, event="edit", key=["b"], row=0, col=1, value=0.5, done=False, seq=41)
    # one message, without the groups: the layout is the same
    assert keys(sent) == [{"data", "update", "ack"}] and s.ack == 41
    assert s.values(("b",))[0, 1] == 0.5 and s.values(("a", 0)).sum() == 8.0
    front(s, event="edit", key=["b"], row=0, col=1, value=0.5, done=False, seq=42)
    assert keys(sent)[1:] == [{"ack"}] and s.ack == 42  # the same value: nothing to repaint
    front(s, event="edit", key=["gone"], row=0, col=0, value=1, seq=43)  # stale: still answered
    front(s, event="nonsense", seq=44)
    assert s.ack == 44 and keys(sent)[2:] == [{"ack"}, {"ack"}]
    front(s, event="edit", key=["b"], row=1, col=1, value=0.25)  # no seq (an older page): no ack
    assert keys(sent)[4:] == [{"data", "update"}] and s.ack == 44
    s.set_scale("a", 0, vmin=-3.0, vmax=3.0)  # a new scale travels with the layout
    assert keys(sent)[5:] == [{"groups", "update"}]


def test_stack_sends_only_what_changed():
    s = stack_with_two_groups()
    s.set(("a", 0), np.ones((4, 4)))
    sent = count_messages(s)
    s.set(("a", 0), np.ones((4, 4)))  # equal values: no message, no repaint
    s.set(("a", 0), highlight=[])
    assert sent == []
    s.set(("a", 0), np.full((4, 4), np.nan))
    s.set(("a", 0), np.full((4, 4), np.nan))  # NaN equals NaN here: not sent twice
    assert keys(sent) == [{"data", "update"}]
    s.set(("a", 0), np.ones((2, 2)))  # a new shape moves every offset after it
    assert keys(sent)[1] == {"groups", "data", "update"}
    a = np.zeros((2, 2))
    s.set(("a", 0), a)
    a[0, 0] = 9  # the stack keeps its own copy
    assert s.values(("a", 0))[0, 0] == 0


def test_grid_gesture_answer_and_ack_are_one_message():
    g = HeatmapGrid(np.zeros((3, 3)), drawable=True)

    def on_draw(cells, done):
        a = g.values
        for r, c, v in cells:
            a[r, c] = v
        g.values = a

    g.on_draw(on_draw)
    sent = count_messages(g)
    front(g, event="draw", cells=[[1, 1, 1.0]], done=False, seq=7)
    assert keys(sent) == [{"data", "ack"}] and g.ack == 7 and g.values[1, 1] == 1.0
    front(g, event="click", row=0, col=0, seq=8)
    assert keys(sent)[1] == {"selected", "ack"}


def test_stack_relayout_keeps_values_of_kept_keys_and_checks_input():
    s = stack_with_two_groups()
    s.set(("a", 0), np.ones((4, 4)))
    s.set_layout([{"key": "a", "parts": [{"grids": [{"key": ("a", 0)}]}]}])
    assert s.grid_keys == [("a", 0)] and s.values(("a", 0)).sum() == 16
    with pytest.raises(KeyError):
        s.values(("b",))
    with pytest.raises(KeyError):
        s.set(("zz",), np.ones((2, 2)))
    with pytest.raises(ValueError, match="2-D"):
        s.set(("a", 0), np.ones(3))
    with pytest.raises(TypeError, match="unknown heatmap property"):
        s.set(("a", 0), colour="red")


def test_nice_limits_are_round_and_cover():
    for v in (0.013, 0.9, 1.0, 1.2, 7.3, 42.0, 1e5):
        lim = nice_limit(v)
        assert lim >= v and float(f"{lim / 10 ** np.floor(np.log10(lim)):.6g}") in (
            1,
            1.5,
            2,
            3,
            4,
            5,
            6,
            8,
            10,
        )
    assert (
        nice_limit(0.0) == 1.0
        and nice_limit(float("nan")) == 1.0
        and nice_limit(0.2, floor=1) == 1.0
    )


def test_matrix_view_unrolled_convolution_ties_and_values():
    x = torch.rand(5, 5)
    k = torch.randn(3, 3)
    idx = conv_matrix_index(5, 5, 3)
    matrix = torch.cat([k.reshape(-1), torch.zeros(1)])[torch.from_numpy(idx)]
    product = matrix @ x.reshape(-1)
    ref = F.conv2d(x[None, None], k[None, None])[0, 0]
    assert torch.allclose(product.reshape(3, 3), ref, atol=1e-5)
    v = MatrixView(css_prefix="mm-")
    sent = count_messages(v)
    v.show(
        matrix,
        x.reshape(-1),
        product,
        ties=idx,
        after=[("reshaped", product.reshape(3, 3), {"title": "reshaped"})],
    )
    assert len(sent) == 1
    np.testing.assert_array_equal(v.values(("matrix",)), matrix.numpy())
    np.testing.assert_allclose(v.values(("product",))[:, 0], ref.reshape(-1).numpy(), atol=1e-5)
    spec = next(g for g in v.groups if g["key"] == "matrix")["parts"][0]["grids"][0]
    ties = np.frombuffer(v.data, "<f4")[spec["ties_offset"] : spec["ties_offset"] + idx.size]
    np.testing.assert_array_equal(ties.reshape(idx.shape), idx)
    assert spec["n_ties"] == 9 and (ties >= 0).sum() == 81  # 9 outputs × 9 tied weights
    assert [g["symbol"] for g in v.groups] == ["", "×", "=", ""]


def test_matrix_view_one_hot_times_embedding():
    emb = torch.randn(6, 4)
    idx = torch.tensor([2, 5, 2])
    one_hot = F.one_hot(idx, 6).float()
    v = MatrixView()
    # one row of the product per token: column j of (one_hot @ emb) = one_hot @ emb[:, j]
    v.show(one_hot, emb[:, 1], one_hot @ emb[:, 1])
    np.testing.assert_allclose(v.values(("product",))[:, 0], emb[idx, 1].numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="do not multiply"):
        v.show(one_hot, emb[:5, 1], one_hot @ emb[:, 1])
