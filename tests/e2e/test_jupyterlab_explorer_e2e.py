"""The EmbeddingExplorer inside JupyterLab 4, in Chromium: its own module, so its own server and a
fresh workspace (JupyterLab reopens a workspace's earlier notebooks beside a new one).

A large LinkedScatter draws its selection on a canvas stacked on the bqplot figure (anywidget and
lab8.css): this checks that the dots sit where bqplot put the points inside JupyterLab's own widget
DOM, as the Voila e2e test checks under ``lab8widgets serve``.
"""

from __future__ import annotations

import pytest

from .jupyter_harness import (  # noqa: F401 (fixtures)
    jupyter_server_fixture,
    open_notebook_fixture,
)

pytestmark = pytest.mark.e2e
APP = "lab"


def test_explorer_selection_layer_lines_up_in_jupyterlab(open_notebook):
    """The selection of a large view is drawn on a canvas stacked on the bqplot figure (lab8.css,
    anywidget): in JupyterLab's own widget DOM too, its dots sit where bqplot put the points."""
    lab = open_notebook("explorer.ipynb")
    page = lab.page
    lab.wait_kernel("explorer.busy", False, timeout=180)
    lab.run("explorer.pca.restyle_max = 0")  # drawn as a large view is, whatever the data's size
    keys = lab.kernel("explorer.pca.all_keys")
    pick = keys[:: max(1, len(keys) // 25)][:25]
    lab.run(f"explorer.selected = {pick!r}")
    page.locator(".lab8-pca").scroll_into_view_if_needed()
    page.wait_for_function(
        "(n) => (document.querySelector('.lab8-pca .lab8-scatter-overlay') || {dataset: {}})"
        ".dataset.drawn === String(n)",
        arg=len(pick),
        timeout=20_000,
    )
    covered = page.evaluate(
        """(at) => {
          const view = document.querySelector('.lab8-pca');
          const canvas = view.querySelector('.lab8-scatter-overlay canvas');
          const dots = Array.from(view.querySelectorAll('.object_grp')).slice(-at.n);
          const r = canvas.getBoundingClientRect(), k = canvas.width / r.width;
          const ctx = canvas.getContext('2d');
          return at.on.map((i) => { const m = dots[i].getScreenCTM();
            return ctx.getImageData(Math.round((m.e - r.left) * k), Math.round((m.f - r.top) * k), 1, 1).data[3]; });
        }""",
        {"n": len(keys), "on": [keys.index(k) for k in pick]},
    )
    assert covered == [255] * len(pick)
