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


def test_traceback_is_logged_not_shown(browser, tmp_path):
    """A failing cell in a served notebook: the learner sees a short notice, the terminal the traceback."""
    import nbformat

    from .harness import Server

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("print('before the error')"),
        nbformat.v4.new_code_cell("raise ValueError('secret-token-42')"),
    ]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = tmp_path / "failing.ipynb"
    nbformat.write(nb, path)
    server = Server(str(path))
    try:
        page = browser.new_page()
        page.goto(server.url)
        page.wait_for_selector("text=There was an error when executing cell", timeout=60_000)
        assert "before the error" in page.inner_text("body")
        assert "secret-token-42" not in page.content()
        assert "Traceback" not in page.content()
        page.close()
    finally:
        server.stop()
    log = server.read_log()
    assert "ValueError" in log and "secret-token-42" in log


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port``, read from /proc/net/tcp (IPv4)."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr_hex, port_hex = local.split(":")
        if int(port_hex, 16) == port and state == "0A":
            found.add(".".join(str(int(addr_hex[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_serve_binds_loopback_only(open_lab):
    lab = open_lab(None)
    assert _listening_addresses(lab.server.port) == {"127.0.0.1"}
