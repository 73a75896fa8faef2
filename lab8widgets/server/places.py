"""Where the labs are: the notebooks, the offline Voila template, and which front-end extensions a
lab page loads."""

from __future__ import annotations

import os
from pathlib import Path

from .. import labs

# Voila's lab template without its CDN links (works offline), in a Jupyter data dir of our own
TEMPLATE = "lab8"
TEMPLATES_ROOT = Path(__file__).resolve().parents[1] / "templates"


def notebooks_dir() -> Path:
    """The lab notebooks: inside the installed wheel, else the source checkout's ``notebooks/``."""
    here = Path(__file__).resolve().parents[1]  # the package, not server/
    for candidate in (here / "_notebooks", here.parent / "notebooks"):
        if (candidate / "index.ipynb").exists():
            return candidate
    raise FileNotFoundError(
        f"lab notebooks not found in {here / '_notebooks'} or {here.parent / 'notebooks'}"
    )


def resolve_lab(target: str | None) -> tuple[Path, Path | None]:
    """Map ``serve``'s argument to (root_dir, notebook); notebook None means the whole lab folder."""
    if target is None:
        return notebooks_dir(), None
    if target.endswith(".ipynb"):
        nb = Path(target).expanduser().resolve()
        if not nb.is_file():
            raise FileNotFoundError(f"notebook not found: {nb}")
        return nb.parent, nb
    lab = labs.get(target)  # KeyError for an unknown name
    root = notebooks_dir()
    return root, root / lab.notebook


def is_shipped(root: Path, notebook: Path | None) -> bool:
    """True when ``serve`` shows the project's own notebooks (a lab by name, or the lab folder)."""
    try:
        ours = notebooks_dir()
    except FileNotFoundError:
        return False
    return root.resolve() == ours and (notebook is None or notebook.resolve().parent == ours)


def use_templates() -> None:
    """Let Voila find the project's template (Jupyter looks in ``$JUPYTER_PATH`` first)."""
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(TEMPLATES_ROOT) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(TEMPLATES_ROOT), *paths])


# The federated JupyterLab extensions the shipped labs render with. Voila 0.5 loads every installed
# one, and with Notebook 7 beside it `@jupyter-notebook/lab-extension` fails in Voila's page (a
# module-federation error on every page); an allowlist keeps the page to what the labs need.
LAB_EXTENSIONS = (
    "@jupyter-widgets/jupyterlab-manager",
    "@voila-dashboards/widgets-manager8",
    "@voila-dashboards/widgets-manager7",
    "anywidget",
    "bqplot",
    "bqscales",
    "jupyterlab_pygments",
)


# Application plugins of the notebook front ends: no widget in them, and they break Voila's page.
# A learner's own notebook may need any widget extension, so it only loses these.
APP_EXTENSIONS = ("@jupyter-notebook/lab-extension",)


def extension_argv(root: Path, notebook: Path | None) -> list[str]:
    """Voila settings that keep a page to the front-end extensions it can use."""
    if is_shipped(root, notebook):
        return [f"--VoilaConfiguration.extension_allowlist={name}" for name in LAB_EXTENSIONS]
    return [f"--VoilaConfiguration.extension_denylist={name}" for name in APP_EXTENSIONS]
