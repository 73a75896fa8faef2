"""The e2e harness now lives in the package (``lab8widgets.testing``); this re-export keeps the
benchmarks' and tests' imports working, plus the paths only this repository uses."""

from __future__ import annotations

import os
import time
from pathlib import Path

from lab8widgets.testing.server import (  # noqa: F401
    CHROMIUM,
    CHROMIUM_ARGS,
    Kernel,
    Server,
    kernel_id,
    page_kernel_file,
    wait_for_new_kernel,
)

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to a build folder so `python -m pytest` leaves the tree clean;
# `python -m tests.e2e.screens` points this at docs/ to refresh the README's pictures.
SCREENSHOTS = Path(os.environ.get("LAB8WIDGETS_SCREENSHOTS", ROOT / "build" / "screenshots"))
ARTIFACTS = ROOT / "build" / "e2e-artifacts"  # a failed test's last screen


def wait_kernel(lab, expr: str, ok, timeout: float = 60.0, every: float = 0.2):
    """Poll ``expr`` in the kernel until ``ok(value)``; return the value."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = lab.kernel(expr)
        if ok(got):
            return got
        time.sleep(every)
    raise AssertionError(f"{expr} = {got!r} did not satisfy the condition in {timeout}s")
