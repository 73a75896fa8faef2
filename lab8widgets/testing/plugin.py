"""The pytest plugin (entry point ``pytest11: lab8widgets``): fixtures that serve a notebook with
``lab8widgets serve``'s settings and drive it in a real, headless Chromium.

- ``lab_server("my.ipynb")``: a server of the test's own, stopped after the test;
- ``lab_page("my.ipynb")``: a ``LabPage`` (gestures, banner, ``kernel("expr")``); its server is
  shared by the module's tests (each page has a kernel of its own);
- ``lab_browser``: the module's Chromium (``--lab8-chromium`` / ``LAB8WIDGETS_CHROMIUM``).

Console errors, tracebacks on the page and requests off the machine fail the test, unless it is
marked ``lab8_allow_console_errors``, ``lab8_allow_tracebacks`` or ``lab8_allow_external_requests``.
Nothing heavy is imported until a fixture is used, so the plugin costs other test suites nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MARKERS = {
    "lab8_allow_console_errors": "browser console errors do not fail this test",
    "lab8_allow_tracebacks": "traceback text on the page does not fail this test",
    "lab8_allow_external_requests": "requests that leave the machine do not fail this test",
}


def pytest_addoption(parser):
    group = parser.getgroup("lab8widgets", "lab8widgets notebook tests")
    group.addoption(
        "--lab8-chromium",
        default=None,
        metavar="PATH",
        help="Chromium for lab_page (default: $LAB8WIDGETS_CHROMIUM, else /usr/bin/chromium)",
    )
    parser.addini(
        "lab8_artifacts",
        "folder (relative to rootdir) for a failed browser test's last screen",
        default="build/lab8-artifacts",
    )


def pytest_configure(config):
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


@pytest.fixture(scope="session")
def lab8_chromium(pytestconfig) -> str:
    """The Chromium executable; fails (never skips) with what to install when there is none."""
    from .server import ChromiumNotFound, find_chromium

    try:
        return find_chromium(pytestconfig.getoption("--lab8-chromium"))
    except ChromiumNotFound as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def lab_browser(lab8_chromium):
    """A headless Chromium through Playwright, one per test module (so Playwright's event loop
    never outlives the module into tests that look for a running loop)."""
    try:
        import playwright.sync_api as pw_sync
    except ImportError as e:
        pytest.fail(
            f"Playwright is not installed ({e}): pip install 'lab8widgets[testing]' "
            "(the browser itself comes from your system: no `playwright install` needed)",
            pytrace=False,
        )
    from .server import launch_chromium

    with pw_sync.sync_playwright() as pw:
        b = launch_chromium(pw, lab8_chromium)
        yield b
        b.close()


def _base(request) -> Path:
    return Path(str(request.node.path)).parent


@pytest.fixture
def lab_server(request):
    """A factory: ``lab_server("my.ipynb", args=[...], env={...})`` starts ``lab8widgets serve``
    (a relative path is looked up beside the test file, then in the current folder) on a free
    loopback port; every server it started stops after the test."""
    from .page import resolve_target
    from .server import Server

    started: list[Server] = []

    def _start(target=None, **kwargs) -> Server:
        server = Server(resolve_target(target, _base(request)), **kwargs)
        started.append(server)
        return server

    yield _start
    for s in started:
        s.stop()


@pytest.fixture(scope="module")
def lab8_servers():
    """Servers shared by a module's pages, keyed by (target, stock); stopped after the module."""
    servers: dict = {}
    yield servers
    for s in servers.values():
        s.stop()


def page_opener(request, browser, servers):
    """The machinery behind ``lab_page`` (our own ``open_lab`` uses it with its own browser):
    yields ``PageOpener.open`` and, after the test, closes the pages and fails the test on what
    they did wrong."""
    from .page import PageOpener

    node = request.node

    def allowed(name: str) -> bool:
        return node.get_closest_marker(name) is not None

    opener = PageOpener(browser, servers, base=_base(request))
    yield opener.open
    problems = opener.problems(
        console=not allowed("lab8_allow_console_errors"),
        tracebacks=not allowed("lab8_allow_tracebacks"),
        external=not allowed("lab8_allow_external_requests"),
    )
    call = getattr(node, "rep_call", None)
    artifacts = None
    if call is not None and call.failed:
        artifacts = Path(request.config.rootpath) / request.config.getini("lab8_artifacts")
    opener.close(artifacts, node.name)
    if problems:
        pytest.fail("the page did what a served lab must not:\n" + "\n".join(problems))


@pytest.fixture
def lab_page(request, lab_browser, lab8_servers):
    """A factory: ``lab_page("my.ipynb")`` (or a lab name, or ``server=lab_server(...)``) opens the
    served notebook in a 1280×800 page once ``ready`` (default ``.lab8-lab``) shows and returns a
    ``LabPage``."""
    yield from page_opener(request, lab_browser, lab8_servers)
