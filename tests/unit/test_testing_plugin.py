"""lab8widgets.testing: the plugin's registration, markers and clear failures, and the kernel-only
mode (run_notebook / simulate), without a browser."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

from lab8widgets.testing import (
    ChromiumNotFound,
    NotebookError,
    PageOpener,
    PageWatch,
    click,
    execute_notebook,
    find_chromium,
    run_notebook,
    simulate,
)
from lab8widgets.testing import server as testing_server

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_ARGS = ("-p", "no:lab8widgets", "-p", "lab8widgets.testing.plugin")
pytest_plugins = ["pytester"]


def write_notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a title")] + [
        nbformat.v4.new_code_cell(s) for s in sources
    ]
    nbformat.write(nb, path)
    return path


# --- packaging ------------------------------------------------------------------------------------
def test_plugin_is_registered_through_pytest11_with_a_testing_extra():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["entry-points"]["pytest11"] == {"lab8widgets": "lab8widgets.testing.plugin"}
    extras = meta["optional-dependencies"]
    names = {d.split(">")[0].split("=")[0] for d in extras["testing"]}
    assert {"pytest", "playwright", "nbclient", "nbformat"} <= names
    assert "lab8widgets[testing]" in extras["test"]


def test_harness_holds_no_copy_of_the_plugin():
    """tests/e2e/harness.py keeps only the repository's paths: servers, pages and waits come from
    lab8widgets.testing, so there is one harness."""
    import inspect

    sys.path.insert(0, str(ROOT))
    try:
        from tests.e2e import harness
    finally:
        sys.path.remove(str(ROOT))
    own = [
        n
        for n, v in vars(harness).items()
        if (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == harness.__name__
    ]
    assert own == [] and not hasattr(harness, "Server")
    assert harness.SCREENSHOTS.name == "screenshots" or "LAB8WIDGETS_SCREENSHOTS" in os.environ


# --- Chromium -------------------------------------------------------------------------------------
def test_missing_chromium_at_a_given_path_names_it(monkeypatch):
    monkeypatch.delenv("LAB8WIDGETS_CHROMIUM", raising=False)
    with pytest.raises(ChromiumNotFound, match="/nowhere/chromium"):
        find_chromium("/nowhere/chromium")
    monkeypatch.setenv("LAB8WIDGETS_CHROMIUM", "/also/nowhere")
    with pytest.raises(ChromiumNotFound, match="LAB8WIDGETS_CHROMIUM"):
        find_chromium()


def test_no_chromium_anywhere_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("LAB8WIDGETS_CHROMIUM", raising=False)
    monkeypatch.setattr(testing_server, "DEFAULT_CHROMIUM", str(tmp_path / "chromium"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ChromiumNotFound, match="apt-get install -y chromium") as e:
        find_chromium()
    assert "--lab8-chromium" in str(e.value)


def test_lab_page_fails_at_once_without_chromium(pytester):
    pytester.makepyfile("def test_page(lab_page):\n    lab_page('x.ipynb')\n")
    result = pytester.runpytest(*PLUGIN_ARGS, "--lab8-chromium", "/nowhere/chromium")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Chromium not found at /nowhere/chromium*"])
    assert result.duration < 60  # a clear error, not a timeout


# --- markers --------------------------------------------------------------------------------------
def test_markers_are_registered(pytester):
    result = pytester.runpytest(*PLUGIN_ARGS, "--markers")
    for name in (
        "lab8_allow_console_errors",
        "lab8_allow_tracebacks",
        "lab8_allow_external_requests",
    ):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}:*"])


class FakePage:
    def __init__(self, console=(), external=(), tracebacks=()):
        self.console_errors = list(console)
        self.external_requests = list(external)
        self._tb = list(tracebacks)

    def tracebacks(self):
        return self._tb


def test_problems_report_each_kind_unless_allowed():
    opener = PageOpener(browser=None, servers={})
    page = FakePage(["Uncaught TypeError"], ["https://cdn.example/x.js"], ["Traceback (most"])
    opener.opened.append((page, None, None))
    everything = "\n".join(opener.problems())
    assert "Uncaught TypeError" in everything and "cdn.example" in everything
    assert "Traceback" in everything
    assert opener.problems(console=False, tracebacks=False, external=False) == []
    only_tb = opener.problems(console=False, external=False)
    assert len(only_tb) == 1 and "Traceback" in only_tb[0]


class Emitter:
    """A stand-in for a Playwright page: handlers by event, fired by the test."""

    def __init__(self):
        self.handlers = {}

    def on(self, event, fn):
        self.handlers[event] = fn

    def console(self, text, url="", kind="error"):
        msg = type("Msg", (), {"type": kind, "text": text, "location": {"url": url}})()
        self.handlers["console"](msg)

    def pageerror(self, message, stack=""):
        self.handlers["pageerror"](type("Err", (Exception,), {"stack": stack})(message))

    def request(self, url):
        self.handlers["request"](type("Req", (), {"url": url})())


def test_page_watch_keeps_what_fails_and_forgives_what_it_is_told():
    page = Emitter()
    watch = PageWatch(
        page,
        forgive_console=[r"ERR_NAME_NOT_RESOLVED"],
        forgive_urls=[r"^https://cdn\.example/mathjax/"],
        forgive_pageerrors=[r"reading 'schema'[\s\S]*notebook_core\."],
    )
    page.console("Failed to load model class 'X'")
    page.console("a warning", kind="warning")
    page.console("GET /favicon.ico 404")  # browser noise, always forgiven
    page.console("net::ERR_NAME_NOT_RESOLVED")
    page.console("blocked", url="https://cdn.example/mathjax/tex.js")  # a forgiven URL's failure
    page.pageerror("Cannot read properties (reading 'schema')", "at f (/static/notebook_core.1.js)")
    page.pageerror("boom", "at g (/lab8widgets/grid.js:3)")
    for url in ("http://127.0.0.1:8866/x", "data:x", "https://cdn.example/mathjax/a.js"):
        page.request(url)
    page.request("https://fonts.example/f.woff")
    assert watch.console_errors == [
        "Failed to load model class 'X'",
        "pageerror: boom\nat g (/lab8widgets/grid.js:3)",
    ]
    assert watch.external_requests == ["https://fonts.example/f.woff"]
    stock = Emitter()
    anything = PageWatch(stock, local=False)
    stock.request("https://fonts.example/f.woff")
    assert anything.external_requests == []


def test_markers_relax_the_checks_per_test(pytester):
    """The fixture fails a test on what its pages did, each kind unless the test is marked."""
    pytester.makepyfile(
        """
        import pytest
        import lab8widgets.testing.page as page

        class Fake(page.PageOpener):
            def open(self, *a, **k):
                self.opened.append((FakePage(), None, None))

            def close(self, artifacts=None, name="test"):
                pass

        class FakePage:
            console_errors = ["console-boom"]
            external_requests = ["https://off.example/"]

            def tracebacks(self):
                return ["Traceback (most recent call last)"]

        @pytest.fixture
        def lab_browser():
            return None

        @pytest.fixture(autouse=True)
        def fake(monkeypatch):
            monkeypatch.setattr(page, "PageOpener", Fake)

        def test_default(lab_page):
            lab_page("x.ipynb")

        @pytest.mark.lab8_allow_console_errors
        @pytest.mark.lab8_allow_tracebacks
        @pytest.mark.lab8_allow_external_requests
        def test_all_allowed(lab_page):
            lab_page("x.ipynb")

        @pytest.mark.lab8_allow_console_errors
        def test_console_allowed(lab_page):
            lab_page("x.ipynb")
        """
    )
    result = pytester.runpytest(*PLUGIN_ARGS, "--strict-markers", "-rE")
    result.assert_outcomes(passed=3, errors=2)
    out = result.stdout.str()
    default = out.split("ERROR at teardown of test_default")[1].split("ERROR at teardown")[0]
    assert "console-boom" in default and "off.example" in default and "Traceback" in default
    console = out.split("ERROR at teardown of test_console_allowed")[1].split("short test")[0]
    assert "console-boom" not in console and "off.example" in console
    assert "test_all_allowed" not in out.split("short test summary")[1]


# --- notebooks ------------------------------------------------------------------------------------
def test_failing_cell_is_named_with_its_error(tmp_path):
    nb = write_notebook(tmp_path / "bad.ipynb", "x = 1", "y = x + 1\nraise ValueError('boom 42')")
    with pytest.raises(NotebookError) as e:
        run_notebook(nb)
    text = str(e.value)
    assert "bad.ipynb: code cell 2 raised ValueError: boom 42" in text
    assert "y = x + 1" in text and e.value.index == 2


def test_voila_cell_error_names_the_cell_and_the_logged_traceback():
    class FakeServer:
        def read_log(self):
            return (
                "noise\nTraceback (most recent call last):\n  ...\n"
                "\x1b[0;31mValueError\x1b[0m: secret 42\n[Lab8Voila] Connecting to kernel 0b67\n"
            )

    page = "There was an error when executing cell [2]. Please run Voilà with --show_tracebacks"
    why = testing_server.notebook_error(FakeServer(), page)
    assert "cell [2]" in why and why.endswith("ValueError: secret 42") and "\x1b" not in why
    assert testing_server.notebook_error(FakeServer(), "all fine") is None


def test_run_notebook_hands_back_live_widgets(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB8_EXAMPLE", raising=False)
    (tmp_path / "helper.py").write_text("START = 3\n")
    nb = write_notebook(
        tmp_path / "dash.ipynb",
        "import os, ipywidgets as W\nfrom helper import START\nseen = []",
        "slider = W.IntSlider(START)\nslider.observe(lambda c: seen.append(c['new']), 'value')\n"
        "button = W.Button(description='go')\nbutton.on_click(lambda b: seen.append('clicked'))\n"
        "flag = os.environ['LAB8_EXAMPLE']\n_hidden = W.Label('x')\nslider",
    )
    cwd = os.getcwd()
    widgets = run_notebook(nb, env={"LAB8_EXAMPLE": "on"})
    assert sorted(widgets) == ["button", "slider"]
    assert widgets.namespace["flag"] == "on" and widgets.namespace["START"] == 3
    assert os.getcwd() == cwd and "LAB8_EXAMPLE" not in os.environ
    simulate(widgets["slider"], value=7)
    click(widgets["button"])
    assert widgets["slider"].value == 7
    assert widgets.namespace["seen"] == [7, "clicked"]


def test_missing_notebook_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ipynb"):
        run_notebook(tmp_path / "nope.ipynb")


# --- notebooks in a real kernel (nbclient) ---------------------------------------------------------
def test_execute_notebook_runs_in_a_kernel_with_env_and_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("LAB8_EXAMPLE", raising=False)
    (tmp_path / "helper.py").write_text("START = 3\n")
    path = write_notebook(
        tmp_path / "dash.ipynb",
        "import os, ipywidgets as W\nfrom helper import START",
        "print(os.environ['LAB8_EXAMPLE'], os.getpid(), START)\nW.IntSlider(START)",
    )
    before = path.read_text()
    nb = execute_notebook(path, env={"LAB8_EXAMPLE": "on"}, timeout=120)
    outputs = nb.cells[2].outputs
    word, pid, start = outputs[0]["text"].split()
    assert (word, start) == ("on", "3") and int(pid) != os.getpid()  # a kernel of its own
    assert "application/vnd.jupyter.widget-view+json" in outputs[1]["data"]
    assert path.read_text() == before and "LAB8_EXAMPLE" not in os.environ


def test_execute_notebook_names_the_failing_cell_and_its_traceback(tmp_path):
    path = write_notebook(
        tmp_path / "bad.ipynb", "x = 1", "def f():\n    raise ValueError('boom 42')\nf()"
    )
    with pytest.raises(NotebookError) as e:
        execute_notebook(path, timeout=120)
    text = str(e.value)
    assert text.startswith("bad.ipynb: code cell 2 raised ValueError: boom 42")
    assert "raise ValueError('boom 42')" in text and "in f()" in text and "\x1b" not in text
    assert e.value.index == 2


def test_execute_notebook_times_out_naming_the_cell(tmp_path):
    path = write_notebook(tmp_path / "slow.ipynb", "import time", "time.sleep(60)")
    t0 = time.monotonic()
    with pytest.raises(NotebookError, match="slow.ipynb: code cell 2 ran past the 3 s timeout"):
        execute_notebook(path, timeout=3)
    assert time.monotonic() - t0 < 50


def test_brush_drags_across_the_plot_area_at_a_given_pace():
    from lab8widgets.testing import LabPage

    events: list = []

    class Mouse:
        def move(self, x, y):
            events.append(("move", round(x, 3), round(y, 3)))

        def down(self):
            events.append(("down",))

        def up(self):
            events.append(("up",))

    class Area:
        first = property(lambda self: self)

        def wait_for(self, state):
            events.append(("wait", state))

        def bounding_box(self):
            return {"x": 100.0, "y": 50.0, "width": 200.0, "height": 100.0}

    class Page:
        url = "http://127.0.0.1/"
        mouse = Mouse()

        def locator(self, sel):
            assert ".lab8-pca svg.svg-figure .plotarea_events" in sel
            return Area()

        def wait_for_timeout(self, ms):
            events.append(("pause", ms))

        def on(self, event, handler):  # PageWatch listens; nothing fires here
            pass

    lab = LabPage(Page(), server=None, kernel=None)
    box = lab.brush(".lab8-pca", 0.1, 0.2, 0.6, 0.8, moves=2, pause_ms=15)
    assert box == {"x": 100.0, "y": 50.0, "width": 200.0, "height": 100.0}
    assert events == [
        ("wait", "visible"),
        ("move", 120.0, 70.0),
        ("down",),
        ("move", 170.0, 100.0),
        ("pause", 15),
        ("move", 220.0, 130.0),
        ("pause", 15),
        ("up",),
    ]


def test_write_notebook_writes_code_cells_for_a_python_kernel(tmp_path):
    from lab8widgets.testing import run_notebook
    from lab8widgets.testing import write_notebook as write_code_notebook

    path = write_code_notebook(tmp_path / "two.ipynb", "a = 1\n", "b = a + 1")
    nb = nbformat.read(path, as_version=4)
    assert [c.cell_type for c in nb.cells] == ["code", "code"]
    assert [c.source for c in nb.cells] == ["a = 1", "b = a + 1"]
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert run_notebook(path).namespace["b"] == 2
