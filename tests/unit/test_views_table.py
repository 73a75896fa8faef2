"""TableView: sorting by header clicks, row clicks to keys, selection highlight, bad input."""

from __future__ import annotations

import pandas as pd
import pytest

from lab8widgets.views import LinkedScatter, TableView, link_selection


def click(table: TableView, **content) -> None:
    """A custom message as the front end sends it on a header or row click."""
    table._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


@pytest.fixture
def frame():
    return pd.DataFrame(
        {"title": ["b", "a", "c", "d"], "bias": [0.1, -0.3, 0.5, float("nan")], "n": [3, 10, 1, 7]}
    )


def test_rows_and_formatting(frame):
    t = TableView(frame, key="title", caption="films")
    assert t.columns == ["title", "bias", "n"]
    assert t.numeric == [False, True, True]
    assert t.rows[0] == ["b", "0.100", "3"] and t.rows[3][1] == "–"
    assert t.n_rows == 4 and t.all_keys == ["b", "a", "c", "d"]


def test_header_click_sorts_then_reverses(frame):
    t = TableView(frame, key="title")
    click(t, event="sort", column="bias")  # numbers: largest first
    assert t.sort_by == "bias" and t.ascending is False
    assert t.all_keys == ["c", "b", "a", "d"]  # NaN last
    assert [r[0] for r in t.rows] == t.all_keys
    click(t, event="sort", column="bias")
    assert t.all_keys == ["a", "b", "c", "d"]
    click(t, event="sort", column="title")  # text: A to Z
    assert t.all_keys == ["a", "b", "c", "d"] and t.ascending is True
    click(t, event="sort", column="no such column")  # ignored, nothing breaks
    assert t.sort_by == "title"


def test_sort_kept_when_rows_change(frame):
    t = TableView(frame, key="title")
    t.sort("n")
    t.set_frame(frame.iloc[:2])
    assert t.all_keys == ["a", "b"]
    assert list(t.frame["n"]) == [10, 3]


def test_row_click_gives_the_key(frame):
    t = TableView(frame, key="title")
    got = []
    t.on_row_click(got.append)
    assert t.clickable
    t.sort("n")
    click(t, event="row", row=0)
    click(t, event="row", row=99)  # out of range: ignored
    assert got == ["a"]


def test_max_rows_and_selection_highlight(frame):
    t = TableView(frame, key="title", max_rows=2)
    assert len(t.rows) == 2 and t.n_rows == 4
    t.selected = ["a", "d"]
    assert t.selected_rows == [1]  # d is past max_rows


def test_bad_input(frame):
    with pytest.raises(TypeError, match="DataFrame"):
        TableView([1, 2, 3])
    with pytest.raises(KeyError, match="key column"):
        TableView(frame, key="nope")
    t = TableView(frame, key="title")
    with pytest.raises(KeyError, match="no column"):
        t.sort("nope")


def test_links_with_a_scatter(frame):
    t = TableView(frame, key="title")
    s = LinkedScatter([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0], ["a", "b", "c", "d"])
    link_selection(s, t)
    s.selected = ["c", "a"]
    assert set(t.selected) == {"a", "c"} and t.selected_rows == [1, 2]
