"""Refresh the README's pictures in docs/: run the browser tests with screenshots going to docs/.

    python -m tests.e2e.screens            # every e2e test (the ones that take pictures write docs/)
    python -m tests.e2e.screens -k layout  # extra arguments go to pytest

``python -m pytest`` alone writes its screenshots to build/screenshots, so a test run never changes
the tracked files; commit docs/*.png after looking at them.
"""

from __future__ import annotations

import os
import subprocess
import sys

from .harness import ROOT


def main(argv: list[str]) -> int:
    env = dict(os.environ, LAB8WIDGETS_SCREENSHOTS=str(ROOT / "docs"))
    cmd = [sys.executable, "-m", "pytest", "tests/e2e", "-q", *argv]
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
