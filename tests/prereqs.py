"""What the README's test command needs on the machine, checked: ``python -m tests.prereqs``.

Each prerequisite names the command that installs it, exactly as the README's test block and
``.ci/run`` write it (``tests/unit/test_readme.py`` keeps the three in step). Prints one line per
prerequisite and exits 1 when one is missing.

Why Node's proxy and not the Python ``configurable-http-proxy`` from PyPI: version 0.4.0 does not
pass the websocket subprotocol the backend selected back to the browser, so a Jupyter server behind
it answers ``v1.kernel.websocket.jupyter.org`` and the page never learns it, and the lab's widgets
never arrive through the hub (tried with JupyterHub 6.1 in ``tests/e2e/test_hub_e2e.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.reference_data import REQUIRE_ENV, required, shared_data_dir


@dataclass(frozen=True)
class Prereq:
    name: str
    install: str  # the command, as the README's test block writes it
    check: Callable[[], str | None]  # None when met, else what is wrong


def _chromium() -> str | None:
    path = os.environ.get("LAB8WIDGETS_CHROMIUM", "/usr/bin/chromium")
    return None if Path(path).is_file() else f"no Chromium at {path}"


def _proxy() -> str | None:
    found = shutil.which("configurable-http-proxy")
    if found is None:
        return "configurable-http-proxy is not on PATH"
    head = Path(found).resolve().read_bytes()[:200]
    if b"node" not in head:
        return f"{found} is not Node's configurable-http-proxy (the Python one drops subprotocols)"
    return None


def _extras() -> str | None:
    need = ("pytest", "playwright", "nbclient", "jupyterlab", "notebook", "jupyterhub", "ruff")
    missing = [m for m in need if importlib.util.find_spec(m) is None]
    return f"not installed: {', '.join(missing)}" if missing else None


PREREQS = (
    Prereq("Chromium for the browser tests", "apt-get install -y chromium", _chromium),
    Prereq(
        "JupyterHub's proxy for the hub test",
        "npm install -g configurable-http-proxy",
        _proxy,
    ),
    Prereq("the test extras", 'pip install -e ".[test]"', _extras),
)


def reference_data_line() -> str:
    where = shared_data_dir() / "ml-latest-small"
    if (where / "ratings.csv").is_file():
        return f"ok       reference data at {where}"
    if required():
        return f"MISSING  reference data at {where} ({REQUIRE_ENV}=1: its tests will fail)"
    return f"absent   reference data at {where}: its tests skip ({REQUIRE_ENV}=1 makes them fail)"


def main() -> int:
    missing = 0
    for p in PREREQS:
        problem = p.check()
        missing += problem is not None
        print(
            f"ok       {p.name}"
            if problem is None
            else f"MISSING  {p.name}: {problem}; run: {p.install}"
        )
    line = reference_data_line()
    print(line)
    missing += line.startswith("MISSING")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
