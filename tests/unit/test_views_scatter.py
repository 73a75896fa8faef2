"""LinkedScatter and link_selection: browser-side selections become keys, links never loop."""

from __future__ import annotations

import bqplot as bq
import numpy as np
import pytest

from lab8widgets.testing import send_custom
from lab8widgets.views import LinkedScatter, link_selection
from lab8widgets.views.scatter import CHUNK, PALETTE


def browser_sets(widget, **state) -> None:
    """What the front end sends when a gesture changes a widget's state."""
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def scatter(keys, restyle_max=0, **kw) -> LinkedScatter:
    """Points (i, i²); by default drawn as a large view is (overlay), whatever their number."""
    n = len(keys)
    x = np.arange(n, dtype=float)
    return LinkedScatter(x, x**2, keys, restyle_max=restyle_max, **kw)


def brush(view, x, y) -> None:
    """A drag on ``view``: bqplot sends brushing, then the rectangle (data units) as it ends."""
    browser_sets(view.brush, brushing=True)
    browser_sets(view.brush, selected_x=[x[0], (x[0] + x[1]) / 2], selected_y=list(y))
    browser_sets(view.brush, brushing=False, selected_x=list(x), selected_y=list(y))


def overlay_points(view) -> list[tuple[float, float]]:
    """The points the selection layer draws (sorted), as the page gets them: its own copy of
    every point's (x, y), indexed by the ``shown`` indices."""
    pts = view.overlay.points[view.overlay.shown_index]
    return sorted((float(x), float(y)) for x, y in pts)


def test_brush_selects_the_points_inside_when_brushing_ends():
    s = scatter(list("abcdef"))  # x = 0..5, y = x²
    browser_sets(s.brush, brushing=True)
    browser_sets(s.brush, selected_x=[0.5, 3.0], selected_y=[0.0, 9.0])
    assert s.selected == []  # still dragging: nothing sent on
    browser_sets(s.brush, brushing=False, selected_x=[3.0, 0.5], selected_y=[9.0, 0.0])
    assert s.selected == ["b", "c", "d"]  # edges count, either corner order
    assert s.brush.marks == []  # the browser restyles no mark while dragging
    brush(s, (10.0, 11.0), (0.0, 1.0))  # an empty rectangle clears
    assert s.selected == []


def test_brush_on_a_log_axis_compares_in_data_units():
    s = LinkedScatter([1.0, 10.0, 100.0, 1000.0], [0.0, 1.0, 2.0, 3.0], list("abcd"), x_log=True)
    brush(s, (5.0, 200.0), (-1.0, 5.0))
    assert s.selected == ["b", "c"]


def test_selection_draws_the_overlay_and_leaves_the_points_alone():
    s = scatter(list("abcdef"))
    styles = [(m.selected_style, m.unselected_style, list(m.opacities)) for m in s.marks]
    s.selected = ["e", "b", "zz"]  # unknown keys dropped, order is the view's
    assert s.selected == ["b", "e"] and s.painted_keys == ["b", "e"]
    assert overlay_points(s) == [(1.0, 1.0), (4.0, 16.0)]
    assert all(m.selected is None for m in s.marks)  # no per-point restyle in the browser
    assert [(m.selected_style, m.unselected_style, list(m.opacities)) for m in s.marks] == styles
    assert "lab8-scatter-dim" in s._dom_classes  # the rest fades (one class, lab8.css)
    # drawn on a canvas stacked on the figure (lab8.css), not as a bqplot mark
    assert s.overlay not in s.figure.marks and s.overlay.layout is not None
    plot = s.children[1]
    assert list(plot.children) == [s.figure, s.overlay] and "lab8-scatter-plot" in plot._dom_classes
    s.selected = []
    assert overlay_points(s) == [] and "lab8-scatter-dim" not in s._dom_classes


def test_overlay_keeps_each_points_colour():
    s = scatter(list("abcde"))
    s.set_color(["x", "y", "x", "z", "y"])
    s.selected = ["b", "c", "d", "e"]
    # each point in the colour it has in the marks (x: a and c, y: b and e, z: d)
    layer = s.overlay
    assert layer.colors == [PALETTE[0], PALETTE[1], PALETTE[2]]
    codes = np.frombuffer(layer.codes, dtype="u1")
    assert codes.tolist() == [0, 1, 0, 2, 1] == list(s.mark.color)
    assert layer.shown_index.tolist() == [1, 2, 3, 4]
    s.set_color(None)  # one colour again: no codes, the palette's first
    assert layer.codes == b"" and layer.colors == [PALETTE[0]]


def test_ten_thousand_points_are_split_into_small_marks():
    n = 10_000
    rng = np.random.default_rng(0)
    x, y = rng.random(n), rng.random(n)
    s = LinkedScatter(x, y, list(range(n)))
    assert len(s.marks) == -(-n // CHUNK) and all(len(m.x) <= CHUNK for m in s.marks)
    assert np.array_equal(np.concatenate([m.x for m in s.marks]), x)
    assert [str(k) for m in s.marks for k in m.names] == [str(k) for k in range(n)]
    assert s.figure.marks == [s.paint, *s.marks] and s.lasso.marks == s.marks
    s.set_data(x[:1500], y[:1500], list(range(1500)))  # fewer points: fewer marks
    assert len(s.marks) == 2 and s.figure.marks == [s.paint, *s.marks]
    assert s.lasso.marks == s.marks
    line = bq.Lines(x=[0, 1], y=[0, 1], scales={"x": s.x_scale, "y": s.y_scale})
    s.figure.marks = [line, s.mark]  # a lab adds a line behind: the points stay on top
    assert s.figure.marks == [line, s.paint, *s.marks]


def test_lasso_joins_the_marks_answers():
    n = CHUNK + 10
    s = LinkedScatter(np.arange(n, dtype=float), np.zeros(n), list(range(n)))
    s.mode = "lasso"
    assert s.figure.interaction is s.lasso
    browser_sets(s.marks[0], selected=[5, 0])
    browser_sets(s.marks[1], selected=[3])
    assert s.selected == [0, 5, CHUNK + 3]
    assert overlay_points(s) == [(0.0, 0.0), (5.0, 0.0), (CHUNK + 3.0, 0.0)]


def click(mark, index) -> None:
    send_custom(mark, {"event": "element_click", "data": {"index": index}})


def test_click_adds_and_drops_points_and_empty_space_clears():
    n = CHUNK + 10
    s = LinkedScatter(np.arange(n, dtype=float), np.zeros(n), list(range(n)))
    s.mode = "click"
    assert s.figure.interaction is None
    click(s.marks[1], 2)
    click(s.marks[0], 4)
    assert s.selected == [4, CHUNK + 2]
    click(s.marks[0], 4)  # again: dropped
    assert s.selected == [CHUNK + 2]
    click(s.marks[1], 2)  # the selection's dots let clicks through to the point
    assert s.selected == []
    s.selected = [1, 2]
    send_custom(s.mark, {"event": "background_click", "data": None})
    assert s.selected == []


def test_hover_tooltip_kept_without_bqplots_click_select():
    s = scatter(list("abc"))
    for m in s.marks:
        assert m.interactions == {"hover": "tooltip"}  # clicks come to Python instead
        assert m.tooltip is not None and "name" in m.tooltip.fields
    assert list(s.mark.names) == ["a", "b", "c"]


def test_small_views_keep_bqplots_own_selection_styles():
    s = scatter(list("abcdef"), restyle_max=10)  # a few points: per-point styles are cheap
    assert s.mark.unselected_style == {"opacity": 0.25} and s.mark.selected_style
    assert s.mark.interactions == {"hover": "tooltip", "click": "select"}  # ctrl-click adds
    s.selected = ["e", "b"]
    assert list(s.mark.selected) == [1, 4] and not len(s.overlay.shown_index)
    assert len(s.overlay.points) == 6  # the layer has the points for hover tooltips only
    browser_sets(s.mark, selected=[5, 0])  # bqplot's click-select in the page
    assert s.selected == ["a", "f"]
    click(s.mark, 2)  # its element_click message changes nothing more
    assert s.selected == ["a", "f"]
    brush(s, (1.5, 3.5), (0.0, 20.0))
    assert s.selected == ["c", "d"] and list(s.mark.selected) == [2, 3]
    assert not len(s.overlay.shown_index)
    s.set_data(np.arange(20.0), np.arange(20.0), [f"k{i}" for i in range(20)])  # now large
    assert s.mark.unselected_style == {} and s.mark.selected is None
    s.selected = ["k3"]
    assert s.mark.selected is None and s.painted_keys == ["k3"]


def test_python_selection_in_view_order_with_many_keys():
    keys = [f"k{i}" for i in range(50)]
    s = scatter(keys)
    s.selected = list(reversed(keys[10:40]))  # many keys: filtered in view order
    assert s.selected == keys[10:40] and s.painted_keys == keys[10:40]


def test_link_follows_without_loops_and_subsets():
    a = scatter(list("abcdef"))
    b = scatter(list("bdf"))  # a view showing fewer points
    c = scatter(list("abcdef"))
    calls = {"a": 0, "b": 0, "c": 0}
    for name, v in (("a", a), ("b", b), ("c", c)):
        v.observe(lambda _ch, n=name: calls.__setitem__(n, calls[n] + 1), "selected")
    link = link_selection(a, b, c)
    brush(a, (-0.5, 3.5), (-1.0, 10.0))  # a, b, c, d
    assert a.selected == ["a", "b", "c", "d"]
    assert b.selected == ["b", "d"] and overlay_points(b) == [(0.0, 0.0), (1.0, 1.0)]
    assert c.selected == ["a", "b", "c", "d"] and c.painted_keys == c.selected
    assert calls == {"a": 1, "b": 1, "c": 1}  # one change each: nothing bounced back
    # b's narrower selection did not shrink a's (no echo)
    brush(b, (1.5, 2.5), (0.0, 10.0))
    assert a.selected == c.selected == ["f"] and b.selected == ["f"]
    assert overlay_points(a) == [(5.0, 25.0)]
    link.unlink()
    a.selected = ["a"]
    assert b.selected == ["f"]


def test_link_follows_a_views_new_keys():
    """The link keeps a set of each view's keys while its list is the same; new points, new set."""
    a = scatter(list("abcdef"))
    b = scatter(list("abc"))
    link_selection(a, b)
    a.selected = ["a", "e"]
    assert b.selected == ["a"]
    b.set_data([0.0, 1.0], [0.0, 1.0], ["e", "f"])  # b now shows other points
    a.selected = ["a", "e", "f"]
    assert b.selected == ["e", "f"]


def test_link_with_a_key_function():
    a = scatter(["A", "B", "C"])
    b = scatter(["a", "b", "c"])
    link_selection(a, b, key=str.lower)
    b.selected = ["c"]
    assert a.selected == ["C"]


def test_link_rejects_non_views():
    a = scatter(list("ab"))
    with pytest.raises(ValueError, match="at least two"):
        link_selection(a)
    with pytest.raises(TypeError, match="not a selectable view"):
        link_selection(a, object())


def test_set_data_keeps_selected_keys():
    s = scatter(list("abcd"))
    s.selected = ["b", "d"]
    s.set_data([0.0, 1.0, 2.0], [5.0, 6.0, 7.0], ["d", "x", "b"])
    assert s.selected == ["d", "b"] and overlay_points(s) == [(0.0, 5.0), (2.0, 7.0)]
    s.set_data([9.0, 1.0, 2.0], [9.0, 6.0, 7.0])  # same keys, new places: the overlay follows
    assert s.selected == ["d", "b"] and overlay_points(s) == [(2.0, 7.0), (9.0, 9.0)]
    with pytest.raises(ValueError, match="differ in length"):
        s.set_data([0.0], [0.0, 1.0], ["a"])


def test_colour_by_category_gets_a_legend():
    s = scatter(list("abcd"))
    s.set_color(["x", "y", "x", "z"])
    assert list(s.mark.color) == [0, 1, 0, 2]
    assert "x" in s.legend.value and "z" in s.legend.value
    with pytest.raises(ValueError, match="3 values for 4 points"):
        s.set_color(["x", "y", "z"])
    s.set_color(None)
    assert s.mark.color is None and s.legend.value == ""


def test_ten_thousand_points_keep_selection_fast():
    import time

    keys = list(range(10_000))
    s = LinkedScatter(np.arange(10_000, dtype=float), np.random.rand(10_000), keys)
    other = LinkedScatter(np.random.rand(10_000), np.random.rand(10_000), keys)
    link_selection(s, other)
    t = time.perf_counter()
    brush(s, (99.5, 3099.5), (-1.0, 2.0))
    ms = (time.perf_counter() - t) * 1e3
    assert s.selected == keys[100:3100] and other.selected == keys[100:3100]
    assert len(other.painted_keys) == 3000 and len(other.overlay.shown) == 4 * 3000  # int32 each
    assert ms < 500, f"{ms:.0f} ms to spread a 3,000-point selection over 10,000 points"


def paint_points(view) -> list[tuple[float, float, str]]:
    """The points a large view's ``paint`` paths draw (sorted), each with its path's colour."""
    if not view.paint.visible:
        return []
    xs, ys = np.asarray(view.paint.x), np.asarray(view.paint.y)
    out = set()
    for row_x, row_y, colour in zip(xs, ys, view.paint.colors, strict=True):
        for x, y in zip(row_x[1::3], row_y[1::3], strict=True):
            out.add((float(x), float(y), colour))
    return sorted(out)


def test_a_large_view_paints_its_points_as_paths_and_hides_the_dots():
    """Chromium re-layerizes every dot (a transformed group each) on any repaint of the page:
    a large view draws its points as one path per colour and keeps the dots for the pointer."""
    keys = list(range(12))
    s = scatter(keys, color=[k % 3 for k in keys])
    assert "lab8-scatter-large" in s._dom_classes
    assert paint_points(s) == sorted(
        (float(k), float(k * k), PALETTE[k % 3]) for k in keys
    )  # every point once, in its category's colour
    assert s.paint.apply_clip and s.paint.interactions == {}
    assert s.figure.marks[0] is s.paint  # under the hit-testable marks and the selection
    s.set_color(["a"] * 6 + ["b"] * 6)  # recolouring repaints
    assert {c for *_, c in paint_points(s)} == {PALETTE[0], PALETTE[1]}
    s.selected = [3, 4]
    assert paint_points(s) and s.painted_keys == [3, 4]  # a selection does not touch the paths
    s.restyle_max = 100  # now small: bqplot draws its own dots, no paths, no class
    assert not s.paint.visible and "lab8-scatter-large" not in s._dom_classes
    s.restyle_max = 0
    assert s.paint.visible and len(paint_points(s)) == 12


def test_the_brush_gesture_is_not_echoed_back_to_the_page():
    """ipywidgets 8 echoes each update from the page; for the brush that is one more redraw per
    mouse move and one more message before the selection's at mouse-up."""
    s = scatter(list(range(5)))
    sent = []
    s.brush.comm.send = lambda data=None, buffers=None, **_: sent.append(data)  # what goes out
    brush(s, (0.5, 2.5), (0, 10))
    assert s.selected == [1, 2]
    assert not [m for m in sent if m.get("method") == "echo_update"]
    plain = bq.interacts.BrushSelector(x_scale=bq.LinearScale(), y_scale=bq.LinearScale())
    assert plain.trait_metadata("selected_x", "echo_update") is None  # bqplot's class untouched


def test_the_layer_shows_tooltips_where_bqplots_cannot():
    """bqplot's brush and lasso cover the plot, so its own tooltips never show there: the layer
    has every point's name and shows it on hover in those modes (bqplot's own in click mode)."""
    s = scatter(list("abc"))
    assert s.overlay.names == ["a", "b", "c"] and s.overlay.hover  # brush mode to start
    s.mode = "click"
    assert not s.overlay.hover
    s.mode = "lasso"
    assert s.overlay.hover
    s.set_data([1.0, 2.0], [3.0, 4.0], ["x", 7])
    assert s.overlay.names == ["x", "7"] and len(s.overlay.points) == 2


def test_the_layer_gets_anchor_points_for_each_axis():
    """The page maps data to pixels through the dots bqplot drew at each axis's ends: the points
    at min and max x (positive, on a log axis) and at min and max y."""
    s = LinkedScatter([3.0, -1.0, 5.0, np.nan], [0.0, 7.0, -2.0, 1.0], list("abcd"), restyle_max=0)
    assert s.overlay.anchors == [1, 2, 2, 1]
    assert s.overlay.x_log is False and s.overlay.radius > 1
    log = LinkedScatter(
        [0.0, 10.0, 1000.0], [1.0, 2.0, 3.0], list("abc"), x_log=True, restyle_max=0
    )
    assert log.overlay.anchors == [1, 2, 1, 2] and log.overlay.x_log is True  # x=0: not drawn
    assert np.array_equal(log.overlay.points, [[0.0, 1.0], [10.0, 2.0], [1000.0, 3.0]])
