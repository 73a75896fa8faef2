"""LinkedScatter and link_selection: browser-side selections become keys, links never loop."""

from __future__ import annotations

import numpy as np
import pytest

from lab8widgets.views import LinkedScatter, link_selection


def browser_sets(widget, **state) -> None:
    """What the front end sends when a gesture changes a widget's state."""
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def scatter(keys, **kw) -> LinkedScatter:
    n = len(keys)
    return LinkedScatter(np.arange(n, dtype=float), np.arange(n, dtype=float) ** 2, keys, **kw)


def test_brush_selection_arrives_when_brushing_ends():
    s = scatter(list("abcdef"))
    browser_sets(s.brush, brushing=True)
    browser_sets(s.mark, selected=[1, 2])
    assert s.selected == []  # still dragging: nothing sent on
    browser_sets(s.mark, selected=[1, 2, 3])
    browser_sets(s.brush, brushing=False)
    assert s.selected == ["b", "c", "d"]


def test_lasso_and_click_select_directly():
    s = scatter(list("abcdef"))
    s.mode = "lasso"
    assert s.figure.interaction is s.lasso
    browser_sets(s.mark, selected=[5, 0])
    assert s.selected == ["a", "f"]
    s.mode = "click"
    assert s.figure.interaction is None  # the mark's own click-select works
    browser_sets(s.mark, selected=[4])
    assert s.selected == ["e"]


def test_hover_tooltip_kept_with_click_select():
    s = scatter(list("abc"))
    assert s.mark.interactions == {"hover": "tooltip", "click": "select"}
    assert s.mark.tooltip is not None and "name" in s.mark.tooltip.fields
    assert list(s.mark.names) == ["a", "b", "c"]


def test_python_selection_paints_the_mark_in_view_order():
    s = scatter(list("abcdef"))
    s.selected = ["e", "b", "zz"]  # unknown keys dropped, order is the view's
    assert s.selected == ["b", "e"]
    assert list(s.mark.selected) == [1, 4]
    s.selected = []
    assert s.mark.selected is None


def test_link_follows_without_loops_and_subsets():
    a = scatter(list("abcdef"))
    b = scatter(list("bdf"))  # a view showing fewer points
    c = scatter(list("abcdef"))
    calls = {"a": 0, "b": 0, "c": 0}
    for name, v in (("a", a), ("b", b), ("c", c)):
        v.observe(lambda _ch, n=name: calls.__setitem__(n, calls[n] + 1), "selected")
    link = link_selection(a, b, c)
    browser_sets(a.mark, selected=[0, 1, 3])
    assert a.selected == ["a", "b", "d"]
    assert b.selected == ["b", "d"] and list(b.mark.selected) == [0, 1]
    assert c.selected == ["a", "b", "d"] and list(c.mark.selected) == [0, 1, 3]
    assert calls == {"a": 1, "b": 1, "c": 1}  # one change each: nothing bounced back
    # b's narrower selection did not shrink a's (no echo)
    browser_sets(b.mark, selected=[2])
    assert a.selected == c.selected == ["f"] and b.selected == ["f"]
    link.unlink()
    a.selected = ["a"]
    assert b.selected == ["f"]


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
    s.set_data([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], ["d", "x", "b"])
    assert s.selected == ["d", "b"] and list(s.mark.selected) == [0, 2]
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
    s = LinkedScatter(np.random.rand(10_000), np.random.rand(10_000), keys)
    other = LinkedScatter(np.random.rand(10_000), np.random.rand(10_000), keys)
    link_selection(s, other)
    t = time.perf_counter()
    browser_sets(s.mark, selected=list(range(100, 3100)))
    ms = (time.perf_counter() - t) * 1e3
    assert s.selected == keys[100:3100] and other.selected == keys[100:3100]
    assert ms < 500, f"{ms:.0f} ms to spread a 3,000-point selection over 10,000 points"
