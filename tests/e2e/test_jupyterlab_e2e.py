"""The labs inside JupyterLab 4, in Chromium: open each lab's notebook, run it with the menu, make
one real gesture, then check the page *and* the Python state in the page's own kernel.

JupyterLab loads every installed front-end extension (Notebook 7's too), so this is also where a
widget that fails to load ("Failed to load model class") or a module-federation error shows up:
any console error fails the test.
"""

from __future__ import annotations

import pytest

from .jupyter_harness import jupyter_server_fixture, open_notebook_fixture  # noqa: F401 (fixtures)

pytestmark = pytest.mark.e2e
APP = "lab"  # the fixtures read it: "lab" or "notebook"


def test_conv_drag_a_kernel_cell(open_notebook):
    lab = open_notebook("conv.ipynb")
    page = lab.page
    page.wait_for_selector(".lab8-conv-conv1-0 .lab8-grid", timeout=60_000)
    assert lab.kernel("lab.model.conv1.weight[0, 0, 0].tolist()") == [-1, -1, -1]
    before = int(page.get_attribute(".lab8-conv-conv1-0 .lab8-grid", "data-version"))
    # make the lab's cell the active one first: the notebook scrolls an activated cell into view, and
    # doing that mid-drag would move the canvas under the pointer
    page.click(".jp-CodeCell .jp-InputPrompt")
    page.wait_for_timeout(300)
    lab.drag_cell(".lab8-conv-kernel-0", 0, 1, steps=15)  # 15 steps of 0.1: -1 -> 0.5
    lab.wait_kernel("round(lab.model.conv1.weight[0, 0, 0, 1].item(), 4)", 0.5)
    # the page shows what the model now computes: conv1's first channel sums to the kernel's value
    want = lab.kernel("float(lab.activations['conv1'][0].astype('float64').sum())")
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want)"
        " < 1e-3 * Math.max(1, Math.abs(want))",
        arg=[".lab8-conv-conv1-0 .lab8-grid", want],
        timeout=15_000,
    )
    assert int(page.get_attribute(".lab8-conv-conv1-0 .lab8-grid", "data-version")) > before
    assert lab.kernel("lab.error") == ""


def test_collab_press_train(open_notebook):
    lab = open_notebook("collab.ipynb")
    page = lab.page
    assert "synthetic" in lab.kernel("lab.source")  # offline: the labelled synthetic ratings
    page.locator(".lab8-train").scroll_into_view_if_needed()
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs)", 1, timeout=30)
    lab.wait_kernel("lab.busy", False, timeout=120)
    run = lab.kernel("{k: lab.runs[0][k] for k in ('status', 'epochs', 'epochs_done')}")
    assert run["status"] == "done" and run["epochs_done"] == run["epochs"]
    assert [h["epoch"] for h in lab.kernel("lab.history")] == list(range(1, run["epochs"] + 1))
    mse = lab.kernel("lab.runs[0]['valid_mse']")
    page.wait_for_function(
        "(txt) => (document.querySelector('.lab8-runs') || {}).innerText?.includes(txt)",
        arg=f"{mse:.4f}",
        timeout=15_000,
    )
