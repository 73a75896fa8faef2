"""PageWatch allows exactly the documented front-end version warnings, and fails any other."""

from __future__ import annotations

from types import SimpleNamespace

from lab8widgets.testing import PageWatch
from lab8widgets.testing.page import ALLOWED_VERSION_WARNINGS

# what Chromium's console showed on `serve conv` (Voila 0.5.13, ipywidgets 8.1.9)
SEEN = [
    f"Unsatisfied version 4.2.5 from _JUPYTERLAB.CORE_OUTPUT of shared singleton module "
    f"@jupyterlab/{m} (required ^4.6.2)"
    for m in ("console", "logconsole", "mainmenu", "notebook", "rendermime", "settingregistry",
              "translation")
] + [
    "Unsatisfied version 7.2.5 from _JUPYTERLAB.CORE_OUTPUT of shared singleton module "
    "@jupyterlab/services (required ^7.6.2)",
    "No satisfying version (^4.6.2) of shared module @jupyterlab/outputarea found in shared scope "
    "default.\nAvailable versions: 4.2.5 from _JUPYTERLAB.CORE_OUTPUT",
    "Unsatisfied version 4.2.5 from _JUPYTERLAB.CORE_OUTPUT of shared singleton module "
    "@jupyterlab/rendermime (required ^4.5.10)",
    "Unsatisfied version 7.2.5 from _JUPYTERLAB.CORE_OUTPUT of shared singleton module "
    "@jupyterlab/services (required ^7.5.10)",
    "Unsatisfied version 4.2.5 from _JUPYTERLAB.CORE_OUTPUT of shared singleton module "
    "@jupyterlab/statedb (required ^4.5.10)",
    "Unsatisfied version 6.2.5 from _JUPYTERLAB.CORE_OUTPUT of shared singleton module "
    "@jupyterlab/coreutils (required ^6.5.10)",
]  # fmt: skip


class FakePage:
    def __init__(self):
        self.handlers = {}

    def on(self, event, fn):
        self.handlers[event] = fn

    def console(self, kind: str, text: str):
        self.handlers["console"](SimpleNamespace(type=kind, text=text, location={}))


def test_the_known_skew_is_allowed_and_nothing_else():
    assert set(SEEN) == ALLOWED_VERSION_WARNINGS
    page = FakePage()
    watch = PageWatch(page)
    for text in SEEN:
        page.console("warning", text)
    page.console("warning", "some other warning")  # warnings in general stay allowed
    assert watch.console_errors == []
    other = SEEN[0].replace("@jupyterlab/console", "@jupyterlab/cells")
    newer = SEEN[0].replace("^4.6.2", "^4.7.0")
    for text in (other, newer):
        page.console("warning", text)
    assert watch.console_errors == [f"version skew: {other}", f"version skew: {newer}"]
