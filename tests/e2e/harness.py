"""A thin re-export of the plugin (``lab8widgets.testing``) for the modules that still import it
from here (``test_explorer_e2e.py``, ``benchmarks/conv_latency.py`` and
``benchmarks/explorer_latency.py``), plus the paths only this repository uses. New code imports
from ``lab8widgets.testing``; nothing of the harness is written here."""

from __future__ import annotations

import os
from pathlib import Path

from lab8widgets.testing.server import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    Kernel,
    Server,
    page_kernel_file,
)

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to a build folder so `python -m pytest` leaves the tree clean;
# `python -m tests.e2e.screens` points this at docs/ to refresh the README's pictures.
SCREENSHOTS = Path(os.environ.get("LAB8WIDGETS_SCREENSHOTS", ROOT / "build" / "screenshots"))


def wait_kernel(lab, expr: str, ok, timeout: float = 60.0, every: float = 0.2):
    """``lab.wait_kernel(expr, until=ok, ...)`` under its old name and argument order."""
    return lab.wait_kernel(expr, until=ok, timeout=timeout, every=every)
