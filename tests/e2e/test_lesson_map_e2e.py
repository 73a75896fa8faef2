"""The lesson map in a real browser: a part's link opens its lab at the section that shows it
(the tab selected in Python, the section on screen), and a lab's own "In the lesson" links do too."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def test_an_address_with_a_section_opens_that_tab(open_lab):
    lab = open_lab("conv", path="#lab8-matmul")
    lab.wait_kernel("lab.tabs.selected_index", 1)  # Python chose the tab from the address
    lab.page.locator(".lab8-at-matmul").wait_for(state="visible", timeout=15_000)
    assert lab.page.locator(".lab8-at-network").is_hidden()


def test_the_labs_own_lesson_links_open_their_sections(open_lab):
    lab = open_lab("conv")
    assert lab.kernel("lab.tabs.selected_index") == 0
    lab.page.locator(".lab8-lesson a", has_text="1:19:57 The MISH activation function").click()
    lab.wait_kernel("lab.tabs.selected_index", 2)
    lab.page.locator(".lab8-at-activation").wait_for(state="visible", timeout=15_000)
    assert lab.page.evaluate("location.hash") == "#lab8-activation"


def test_the_index_map_links_a_part_to_its_lab_and_section(open_lab):
    index = open_lab(None)  # the whole folder, as `lab8widgets serve` shows it
    link = index.page.locator("a.lab8-part", has_text="EntityLab · calendars")
    assert link.get_attribute("href") == "entity.ipynb#lab8-calendars"
    assert index.page.locator("a.lab8-part").count() == index.kernel(
        "len(__import__('lab8widgets.lesson', fromlist=['PARTS']).PARTS)"
    )
    link.click()
    index.page.wait_for_url("**/entity.ipynb#lab8-calendars", timeout=30_000)
    index.page.locator(".lab8-at-calendars").wait_for(state="visible", timeout=120_000)
