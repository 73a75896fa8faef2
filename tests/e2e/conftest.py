"""E2e fixtures: Voila (ours or stock) on a free loopback port, Debian Chromium through Playwright.

``open_lab("conv")`` serves ``lab8widgets serve conv`` (one server per test module and lab), opens a
fresh 1280×800 page, waits for the lab to render and returns a ``LabPage`` whose ``kernel(expr)``
evaluates Python in the page's own kernel, so tests assert the page *and* the Python state.
Any browser console error fails the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .harness import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Kernel, Server
from .jupyter_harness import voila_page_kernel_file

IGNORED_CONSOLE = [re.compile(p) for p in (r"favicon\.ico", r"Download the React DevTools")]
# Stock Voila's lab template links Font Awesome from a CDN; offline that request fails. `serve` uses
# the project's template without those links, so this is forgiven for stock servers only, and a
# served lab that asks for anything off this machine fails its test.
IGNORED_URLS = [re.compile(r"cdn\.jsdelivr\.net/npm/@fortawesome/")]


class LabPage:
    def __init__(self, page, server: Server, kernel: Kernel, errors: list[str]):
        self.page = page
        self.server = server
        self.url = page.url
        self._kernel = kernel
        self.console_errors = errors

    def kernel(self, expr: str, timeout: float = 60):
        return self._kernel.eval(expr, timeout=timeout)

    def run(self, code: str, timeout: float = 60) -> None:
        self._kernel.run(code, timeout=timeout)

    def screenshot(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=False)


@pytest.fixture(scope="module")
def browser():
    # CI must not go green with every browser test skipped: a missing browser stack is a failure
    try:
        import playwright.sync_api as pw_sync
    except ImportError as e:
        pytest.fail(f"Playwright is not installed ({e}): pip install -e '.[test]'")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (see .ci/run)")
    with pw_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def _servers():
    servers: dict[tuple, Server] = {}
    yield servers
    for s in servers.values():
        s.stop()


@pytest.fixture
def open_lab(browser, _servers, request):
    opened: list[tuple] = []

    def _open(
        lab: str | None = "index",
        stock: bool = False,
        path: str = "",
        ready: str = ".lab8-lab",
        timeout: float = 90_000,
    ) -> LabPage:
        key = (lab, stock)
        if key not in _servers:
            _servers[key] = Server(None if lab is None else lab, stock=stock)
        server = _servers[key]
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[str] = []

        def on_console(msg):
            url = (msg.location or {}).get("url", "")
            if stock and any(p.search(url) for p in IGNORED_URLS):
                return
            if msg.type == "error" and not any(p.search(msg.text) for p in IGNORED_CONSOLE):
                errors.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))

        def on_request(req):
            if not stock and not req.url.startswith(
                ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")
            ):
                errors.append(
                    f"request off this machine (a served lab must work offline): {req.url}"
                )

        page.on("request", on_request)
        page.goto(server.url + path, wait_until="domcontentloaded", timeout=timeout)
        page.wait_for_selector(ready, state="visible", timeout=timeout)
        kernel = Kernel(voila_page_kernel_file(page, server))  # preheated: not the newest kernel
        lp = LabPage(page, server, kernel, errors)
        opened.append((lp, context, kernel))
        return lp

    yield _open
    failed = []
    for lp, context, kernel in opened:
        call = getattr(request.node, "rep_call", None)
        if call is not None and call.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            lp.screenshot(ARTIFACTS / f"{request.node.name}.png")
        failed.extend(lp.console_errors)
        kernel.close()
        context.close()
    if failed:
        pytest.fail("browser console errors:\n" + "\n".join(failed))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
