"""The map of the lesson: every lab is reached from it, every link lands on a section that exists,
and opening a section shows it (its tab or view selected)."""

from __future__ import annotations

import html
import re

import ipywidgets as W
import pytest

from lab8widgets import labs
from lab8widgets.lesson import PARTS, parts_for, section_href
from lab8widgets.widgets.index import LabIndex
from tests.reference_data import shared_file


def test_parts_come_in_the_lessons_order():
    seconds = [p.seconds for p in PARTS]
    assert seconds == sorted(seconds)
    assert PARTS[0].seconds == 84 and PARTS[-1].seconds == 79 * 60 + 57  # 1:24 … 1:19:57


def test_parts_are_the_outlines_own_words():
    outline = shared_file("..", "lesson8-outline.txt")  # the outline sits beside data/
    text = outline.read_text(encoding="utf-8").replace("’", "'")
    for p in PARTS:
        assert f"{p.time} | {p.title}" in text, p


def test_every_lab_is_reached_from_the_map():
    reached = {p.lab for p in PARTS}
    assert set(labs.names()) - {"index"} == reached


def test_the_index_links_every_part_in_order():
    page = LabIndex().lesson_map.value
    hrefs = [html.unescape(h) for h in re.findall(r'class="lab8-part" href="([^"]+)"', page)]
    assert hrefs == [section_href(p) for p in PARTS]
    assert hrefs[0] == "scratch.ipynb#lab8-parameters"


def _shown(root: W.Widget, target: W.Widget) -> bool:
    """Whether ``target`` is on screen under ``root``: only a Tab's selected page, no hidden box."""
    if root is target:
        return True
    layout = getattr(root, "layout", None)
    if layout is not None and layout.display == "none":
        return False
    children = list(getattr(root, "children", ()) or ())
    if isinstance(root, W.Tab):
        children = [children[root.selected_index]] if root.selected_index is not None else []
    return any(_shown(c, target) for c in children if isinstance(c, W.Widget))


@pytest.fixture(scope="module")
def built():
    """One instance of every lab that the map links to (built once: some load data)."""
    made = {}

    def build(name):
        if name not in made:
            if name == "collab":  # as its notebook builds it: genres on, so metadata shows
                made[name] = labs.get(name).load()(metadata="genres")
            elif name == "explorer":  # it reads a trained recommender: the collab lab's
                made[name] = labs.get(name).load()(build("collab"))
            else:
                made[name] = labs.get(name).load()()
        return made[name]

    yield build
    for lab in made.values():
        lab.stop()


@pytest.mark.parametrize("name", sorted({p.lab for p in PARTS}))
def test_every_link_opens_a_section_that_exists(built, name):
    lab = built(name)
    header = lab.header.value
    for part in parts_for(name):
        assert part.section in lab.sections, (part, lab.sections)
        assert html.escape(part.title) in header  # the page names the parts it covers
        assert f'href="#lab8-{part.section}"' in header
        lab.show_section(part.section)
        widget = lab.section_widget(part.section)
        assert f"lab8-at-{part.section}" in widget._dom_classes
        assert _shown(lab, widget), f"{name}: section {part.section!r} is not on screen once opened"


def test_an_unknown_section_names_the_ones_there_are(built):
    lab = built("conv")
    with pytest.raises(KeyError, match="its sections: network, matmul, activation"):
        lab.show_section("pooling")


def test_the_pages_address_opens_a_section(built):
    lab = built("conv")
    lab.tabs.selected_index = 0
    lab.router.requested = "matmul"  # what the front end sets from #lab8-matmul
    assert lab.tabs.selected_index == 1
