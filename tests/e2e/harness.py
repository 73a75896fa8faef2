"""Paths only this repository's e2e tests use. The harness itself (servers, Chromium, pages,
gestures, kernel evaluation) is the plugin, ``lab8widgets.testing``; import it from there."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Screenshots go to a build folder so `python -m pytest` leaves the tree clean;
# `python -m tests.e2e.screens` points this at docs/ to refresh the README's pictures.
SCREENSHOTS = Path(os.environ.get("LAB8WIDGETS_SCREENSHOTS", ROOT / "build" / "screenshots"))
