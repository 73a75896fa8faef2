"""Execute every notebook in notebooks/ (the apps `serve` shows) so they cannot rot."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from lab8widgets.labs import LABS

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.notebooks


def test_one_notebook_per_registry_lab():
    """notebooks/ holds exactly the registry's notebooks (the wheel ships them for `serve`)."""
    assert sorted(p.name for p in NOTEBOOKS) == sorted(lab.notebook for lab in LABS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_a_widget(path, monkeypatch):
    # built-in data, as in a classroom without internet
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name}: commit notebooks with outputs cleared"
    NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any(WIDGET_VIEW in o.get("data", {}) for o in outputs), f"{path.name} displays no widget"
