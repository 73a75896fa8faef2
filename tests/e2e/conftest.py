"""E2e fixtures on top of the lab8widgets pytest plugin (``lab8widgets.testing.plugin``).

``open_lab("conv")`` serves ``lab8widgets serve conv`` (one server per test module and lab), opens a
fresh 1280×800 page, waits for the lab to render and returns a ``LabPage`` whose ``kernel(expr)``
evaluates Python in the page's own kernel, so tests assert the page *and* the Python state.
Console errors, tracebacks on the page and requests off the machine fail the test (the plugin's
checks); ``open_lab(lab, stock=True)`` serves plain ``voila`` instead.
"""

from __future__ import annotations

import pytest

from lab8widgets.testing.plugin import page_opener


@pytest.fixture(scope="module")
def browser(lab_browser):
    """The plugin's Chromium under the name our tests use (a module may wrap it, see
    test_explorer_e2e)."""
    return lab_browser


@pytest.fixture
def open_lab(request, browser, lab8_servers):
    """``open_lab(lab="index", stock=False, path="", ready=".lab8-lab", timeout=90_000)``: the
    plugin's ``lab_page`` on ``browser``."""
    yield from page_opener(request, browser, lab8_servers)
