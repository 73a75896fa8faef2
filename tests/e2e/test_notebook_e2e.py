"""The labs inside Notebook 7, in Chromium: the same notebooks, gestures and checks as in
JupyterLab (``test_jupyterlab_e2e.py``), against ``jupyter notebook``'s own page."""

from __future__ import annotations

import pytest

from .jupyter_harness import jupyter_server_fixture, open_notebook_fixture  # noqa: F401 (fixtures)
from .test_jupyterlab_e2e import test_collab_press_train, test_conv_drag_a_kernel_cell  # noqa: F401

pytestmark = pytest.mark.e2e
APP = "notebook"
