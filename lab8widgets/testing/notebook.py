"""Kernel-only notebook tests, no browser: run a notebook, then poke its widgets or read its outputs.

``run_notebook(path)`` executes the code cells in a fresh in-process IPython shell (so the widgets it
builds are live objects the test can hold; a kernel in another process could only send back their
reprs) and returns them by name. ``simulate(widget, **state)`` and ``click(button)`` send what the
browser would, the way our unit tests do. ``execute_notebook(path)`` runs it in a real Jupyter
kernel with nbclient, as Voila would, and returns the notebook with its outputs. Both raise
``NotebookError`` naming the cell that failed. ``write_notebook(path, *cells)`` writes one.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class NotebookError(RuntimeError):
    """A cell raised: names the notebook, the cell (1-based, counting code cells) and the error."""

    def __init__(
        self,
        path: Path,
        index: int,
        source: str,
        error: BaseException,
        what: str | None = None,
        traceback: str = "",
    ):
        self.path, self.index, self.source, self.error = path, index, source, error
        what = what or f"raised {type(error).__name__}: {error}"
        lines = source.strip().splitlines()
        shown = "\n".join("    " + line for line in lines[:8]) + (
            "\n    ..." if len(lines) > 8 else ""
        )
        tb = f"\n{traceback.strip()[-3000:]}" if traceback.strip() else ""
        super().__init__(f"{path.name}: code cell {index} {what}\n{shown}{tb}")


class NotebookRun(dict):
    """The notebook's widgets by variable name; ``.namespace`` holds every variable it defined."""

    def __init__(self, widgets: dict, namespace: dict, path: Path, output: str):
        super().__init__(widgets)
        self.namespace = namespace
        self.path = path
        self.output = output  # what the cells printed (their displays included)


def write_notebook(path: str | Path, *cells: str) -> Path:
    """Write a notebook of these code cells for a Python 3 kernel at ``path`` (what a test or a
    benchmark then serves or runs); returns the path."""
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.strip()) for c in cells])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = Path(path)
    nbformat.write(nb, path)
    return path


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


def execute_notebook(
    path: str | Path,
    env: dict | None = None,
    timeout: float = 300,
    kernel_name: str = "python3",
    cwd: str | Path | None = None,
):
    """Execute ``path`` in a fresh ``kernel_name`` kernel with nbclient (in ``cwd``, by default
    the notebook's folder, as Jupyter and Voila run it) and return the executed notebook (an
    ``nbformat`` node whose code cells hold their outputs). ``env`` adds environment variables
    for the kernel; a cell that raises, or runs past ``timeout`` seconds, raises
    ``NotebookError`` naming it. The file itself is not changed."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    nb = nbformat.read(path, as_version=4)
    running: list = [None]  # the cell being executed, for the error

    def on_cell_start(cell, cell_index):
        running[0] = cell

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(Path(cwd or path.parent).resolve())}},
        on_cell_start=on_cell_start,
    )
    kernel_env = {**os.environ, **{k: str(v) for k, v in env.items()}} if env else None
    try:
        client.execute(**({"env": kernel_env} if kernel_env else {}))
    except (CellExecutionError, CellTimeoutError) as e:
        cell = running[0]
        if cell is None:
            raise
        code = [c for c in nb.cells if c.cell_type == "code"]
        index = next(i for i, c in enumerate(code, 1) if c is cell)
        if isinstance(e, CellTimeoutError):
            what, tb = f"ran past the {timeout:g} s timeout", ""
        else:
            what, tb = f"raised {e.ename}: {e.evalue}", ANSI.sub("", e.traceback or "")
        raise NotebookError(path, index, cell.source, e, what=what, traceback=tb) from e
    return nb


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
