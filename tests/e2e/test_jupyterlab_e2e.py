"""The labs inside JupyterLab 4, in Chromium: open each lab's notebook, run it with the menu, make
one real gesture, then check the page *and* the Python state in the page's own kernel.

JupyterLab loads every installed front-end extension (Notebook 7's too), so this is also where a
widget that fails to load ("Failed to load model class") or a module-federation error shows up:
any console error fails the test.
"""

from __future__ import annotations

import pytest

from .jupyter_harness import (  # noqa: F401 (fixtures)
    jupyter_server_fixture,
    open_notebook_fixture,
    run_all,
)

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


ECHO = '''
import time

import anywidget


class Echo(anywidget.AnyWidget):
    """Echoes custom messages, after sleeping ``content["sleep"]`` seconds when asked."""

    _esm = """
    export default {
      render({ model, el }) {
        el.innerHTML = '<div class="probe-ready">ready</div>';
        globalThis.__echo = (content) => new Promise((resolve) => {
          const on = (msg) => { if (msg && msg.id === content.id) { model.off("msg:custom", on); resolve(); } };
          model.on("msg:custom", on);
          model.send(content);
        });
      },
    };
    """

    def __init__(self):
        super().__init__()
        self.on_msg(lambda _w, content, _b: (time.sleep(content.get("sleep", 0)), self.send(content)))


Echo()
'''
WATCH_STATUS = """() => {
  globalThis.__status = [];
  const el = document.querySelector('.jp-Notebook-ExecutionIndicator');
  new MutationObserver(() => globalThis.__status.push(el.dataset.status))
    .observe(el, { attributes: true, attributeFilter: ['data-status'] });
}"""


def test_widget_messages_do_not_flicker_the_kernel_status(jupyter_server, lab_browser):
    """With ``lab8widgets.serverext`` (enabled on install) a quick widget message leaves
    JupyterLab's kernel status idle (no redraw per message: the round-trip cost in
    benchmarks/roundtrip_jupyterlab.py), while a slow handler still shows the kernel busy."""
    import json
    import urllib.request

    from lab8widgets.testing import write_notebook

    status = f"{jupyter_server.url}lab8widgets/status?token={jupyter_server.token}"
    with urllib.request.urlopen(status, timeout=10) as r:
        assert json.loads(r.read())["nodelay"] is True
    write_notebook(jupyter_server.root / "echo.ipynb", ECHO)
    context = lab_browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        # ?reset: a workspace of its own (the module's earlier tests left their notebooks open)
        url = f"{jupyter_server.url}lab/tree/echo.ipynb?reset&token={jupyter_server.token}"
        page.goto(url, wait_until="domcontentloaded")
        run_all(page, jupyter_server, "echo.ipynb", ready=".probe-ready")
        page.wait_for_function(
            "() => document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status"
            " === 'idle'",
            timeout=30_000,
        )
        page.evaluate(WATCH_STATUS)
        page.evaluate("async () => { for (let i = 0; i < 20; i++) await __echo({ id: i }); }")
        page.wait_for_timeout(500)  # past the hold: a held busy would have gone out by now
        assert page.evaluate("() => globalThis.__status") == []
        page.evaluate("() => __echo({ id: 'slow', sleep: 1.5 })")
        assert "busy" in page.evaluate("() => globalThis.__status")
        page.wait_for_function(
            "() => document.querySelector('.jp-Notebook-ExecutionIndicator').dataset.status"
            " === 'idle'",
            timeout=10_000,
        )
    finally:
        context.close()
        jupyter_server.shutdown_kernels()
