"""The foundation in a real browser: the index is served at /, the heatmap component answers a real
click with the Python state changing, and no traceback or source reaches the page."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_index_served_at_root_and_click_reaches_python(open_lab):
    lab = open_lab(None)  # `lab8widgets serve` with no lab: the index at /
    page = lab.page
    assert page.url.endswith("/voila/render/index.ipynb")
    page.wait_for_selector(".lab8-index-digit canvas")
    assert "Lesson 8 labs" in page.inner_text(".lab8-header")
    assert "CC BY-SA 3.0" in page.inner_text(".lab8-source")
    links = page.eval_on_selector_all("a.lab8-link", "els => els.map(e => e.getAttribute('href'))")
    assert "conv.ipynb" in links and "collab.ipynb" in links
    # strip_sources: the code cell's text is not on the page
    assert "LabIndex()" not in page.content()

    box = page.locator(".lab8-index-digit canvas").bounding_box()
    cell = lab.kernel("lab.grid.cell")
    row, col = 14, 13
    page.mouse.click(box["x"] + (col + 0.5) * cell, box["y"] + (row + 0.5) * cell)
    page.wait_for_function(
        "() => document.querySelector('.lab8-index-digit .lab8-grid').dataset.selected === '[14,13]'"
    )
    expected = lab.kernel("float(lab.grid.values[14, 13])")
    assert lab.kernel("lab.clicked[:2]") == (row, col)
    assert lab.kernel("lab.clicked[2]") == pytest.approx(expected)
    page.wait_for_function(
        "() => document.querySelector('.lab8-pixel').innerText.includes('pixel[14, 13]')"
    )
    assert f"{expected:.3f}" in page.inner_text(".lab8-pixel")
    lab.screenshot(DOCS / "index.png")


def test_kernel_change_reaches_page(open_lab):
    """Python is the source of truth: changing the grid in the kernel repaints the canvas."""
    lab = open_lab(None)
    page = lab.page
    page.wait_for_selector(".lab8-index-digit .lab8-grid")
    before = page.get_attribute(".lab8-index-digit .lab8-grid", "data-sum")
    lab.run("import numpy as np; lab.grid.values = np.ones((28, 28))")
    page.wait_for_function(
        "() => document.querySelector('.lab8-index-digit .lab8-grid').dataset.sum === '784.0000'"
    )
    assert before != "784.0000"


def test_error_banner_not_traceback(open_lab):
    """Bad input in a callback shows a banner; no traceback text reaches the page."""
    lab = open_lab(None)
    page = lab.page
    lab.run("lab.fail('Kernel values must be finite numbers')")
    page.wait_for_selector(".lab8-error [role=alert]")
    assert "finite numbers" in page.inner_text(".lab8-error")
    assert "Traceback" not in page.content()
