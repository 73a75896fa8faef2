"""Kernel-only notebook tests, no browser: run a notebook in this process, then poke its widgets.

``run_notebook(path)`` executes the code cells in a fresh in-process IPython shell (so the widgets it
builds are live objects the test can hold; a kernel in another process could only send back their
reprs) and returns them by name. ``simulate(widget, **state)`` and ``click(button)`` send what the
browser would, the way our unit tests do.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path


class NotebookError(RuntimeError):
    """A cell raised: names the notebook, the cell (1-based, counting code cells) and the error."""

    def __init__(self, path: Path, index: int, source: str, error: BaseException):
        self.path, self.index, self.source, self.error = path, index, source, error
        lines = source.strip().splitlines()
        shown = "\n".join("    " + line for line in lines[:8]) + (
            "\n    ..." if len(lines) > 8 else ""
        )
        super().__init__(
            f"{path.name}: code cell {index} raised {type(error).__name__}: {error}\n{shown}"
        )


class NotebookRun(dict):
    """The notebook's widgets by variable name; ``.namespace`` holds every variable it defined."""

    def __init__(self, widgets: dict, namespace: dict, path: Path, output: str):
        super().__init__(widgets)
        self.namespace = namespace
        self.path = path
        self.output = output  # what the cells printed (their displays included)


def _is_widget(value) -> bool:
    from ipywidgets import Widget

    return isinstance(value, Widget)


def run_notebook(path: str | Path, env: dict | None = None) -> NotebookRun:
    """Execute ``path``'s code cells in order, from its folder (as Jupyter would), and return its
    widgets. ``env`` sets environment variables for the run (restored afterwards); a failing cell
    raises ``NotebookError`` saying which cell and what it raised."""
    import nbformat
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    nb = nbformat.read(path, as_version=4)
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell(config=config)  # not the singleton: each run starts empty
    saved_env = {k: os.environ.get(k) for k in (env or {})}
    cwd = os.getcwd()
    out = io.StringIO()
    sys.path.insert(0, str(path.parent))
    try:
        os.environ.update({k: str(v) for k, v in (env or {}).items()})
        os.chdir(path.parent)
        index = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            index += 1
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                result = shell.run_cell(cell.source, store_history=False)
            error = result.error_before_exec or result.error_in_exec
            if error is not None:
                raise NotebookError(path, index, cell.source, error) from error
    finally:
        os.chdir(cwd)
        with contextlib.suppress(ValueError):
            sys.path.remove(str(path.parent))
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    ns = {k: v for k, v in shell.user_ns.items() if not k.startswith("_")}
    ns = {k: v for k, v in ns.items() if k not in shell.user_ns_hidden}
    widgets = {k: v for k, v in ns.items() if _is_widget(v)}
    return NotebookRun(widgets, ns, path, out.getvalue())


def simulate(widget, **state) -> None:
    """What the browser sends when a learner changes a control: ``simulate(slider, value=3)``."""
    widget._handle_msg({"content": {"data": {"method": "update", "state": state}}, "buffers": []})


def send_custom(widget, content: dict) -> None:
    """A custom message from the front end (``model.send(content)`` in a widget's JavaScript)."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
    )


def click(button) -> None:
    """A click on an ipywidgets Button, as the browser reports it."""
    send_custom(button, {"event": "click"})
