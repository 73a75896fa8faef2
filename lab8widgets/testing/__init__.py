"""Test your own notebooks that use lab8widgets: a pytest plugin and a kernel-only mode.

Browser tests (fixtures from the ``pytest11`` plugin, installed with ``lab8widgets[testing]``)::

    def test_my_dashboard(lab_page):
        lab = lab_page("my_dashboard.ipynb")          # served like `lab8widgets serve`
        lab.drag_cell(".lab8-conv-kernel-0", 0, 1, steps=5)
        assert lab.kernel("lab.error") == ""

Kernel-only tests (no browser)::

    from lab8widgets.testing import run_notebook, simulate
    widgets = run_notebook("my_dashboard.ipynb")
    simulate(widgets["slider"], value=3)
    nb = execute_notebook("my_dashboard.ipynb")   # in a real kernel, as Voila runs it: its outputs

Names are imported on first use, so loading the plugin costs other test suites nothing.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "run_notebook": "notebook",
    "execute_notebook": "notebook",
    "write_notebook": "notebook",
    "simulate": "notebook",
    "send_custom": "notebook",
    "click": "notebook",
    "NotebookError": "notebook",
    "NotebookRun": "notebook",
    "LabPage": "page",
    "PageOpener": "page",
    "PageWatch": "page",
    "page_problems": "page",
    "launch_chromium": "server",
    "Server": "server",
    "Kernel": "server",
    "ChromiumNotFound": "server",
    "find_chromium": "server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
