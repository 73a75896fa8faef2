"""Execute every notebook in notebooks/ (the apps `serve` shows) so they cannot rot: each in a real
kernel through the plugin's ``execute_notebook`` (nbclient, as Voila runs it)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from lab8widgets.labs import LABS
from lab8widgets.testing import execute_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.notebooks


def test_one_notebook_per_registry_lab():
    """notebooks/ holds exactly the registry's notebooks (the wheel ships them for `serve`)."""
    assert sorted(p.name for p in NOTEBOOKS) == sorted(lab.notebook for lab in LABS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_a_widget(path):
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name}: commit notebooks with outputs cleared"
    # built-in data, as in a classroom without internet; a failing cell raises NotebookError
    # naming the cell and its error
    nb = execute_notebook(path, env={"LAB8WIDGETS_OFFLINE": "1"}, timeout=300)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(WIDGET_VIEW in o.get("data", {}) for o in outputs), f"{path.name} displays no widget"
