"""Start JupyterLab, Notebook 7 or ``lab8widgets serve`` with any settings, open a lab's notebook in
Chromium, run it, and talk to the very kernel the page uses.

Shared by the JupyterLab / Notebook / JupyterHub e2e tests and the benchmarks in ``benchmarks/``
(``roundtrip_jupyterlab.py``, ``classroom.py``), so both measure the same setup. The Voila harness
(``harness.py``) stays as it is; this module reuses its Chromium settings and kernel client.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab8widgets.server import free_port, notebooks_dir

from .harness import CHROMIUM, CHROMIUM_ARGS, Kernel, page_kernel_file

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "IGNORED_CONSOLE",
    "JupyterServer",
    "Kernel",
    "console_guard",
    "drag_kernel_cell",
    "run_all",
]

# Browser noise that says nothing about the labs: a missing favicon, and JupyterLab asking the
# (unreachable) internet for news or extension metadata on first start.
IGNORED_CONSOLE = [
    re.compile(p)
    for p in (
        r"favicon\.ico",
        r"Download the React DevTools",
    )
]

# Errors of the front ends' own code, with no widget involved, that a test cannot act on: Notebook
# 7.6's keyboard-shortcuts plugin reads the schema of a settings plugin that is not loaded yet while
# the page starts (it happens with every federated extension disabled and nothing run).
KNOWN_APP_ERRORS = [("reading 'schema'", "/static/notebook/notebook_core.")]


def _get_json(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


class JupyterServer:
    """``jupyter lab`` / ``jupyter notebook`` (or ``lab8widgets serve``) on a free loopback port.

    The root is a private copy of ``notebooks/`` (JupyterLab writes checkpoints and may autosave);
    kernels' connection files land in a private runtime dir, so ``kernel(path)`` can connect a
    client to the kernel that a page opened through ``/api/sessions``.
    """

    def __init__(
        self,
        app: str = "lab",
        args: list[str] | None = None,
        env: dict | None = None,
        root: Path | None = None,
        files: list[Path] | None = None,
    ):
        self.app = app
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.tmp = Path(tempfile.mkdtemp(prefix=f"lab8-{app}-"))
        self.root = root or self.tmp / "notebooks"
        if root is None:
            shutil.copytree(notebooks_dir(), self.root)
        for f in files or []:
            shutil.copy(f, self.root / Path(f).name)
        self.runtime = self.tmp / "runtime"
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = self.tmp / "server.log"
        full_env = dict(os.environ)
        full_env.setdefault("LAB8WIDGETS_OFFLINE", "1")
        full_env["JUPYTER_RUNTIME_DIR"] = str(self.runtime)
        full_env.update(env or {})
        module = {"lab": "jupyterlab", "notebook": "notebook"}[app]
        cmd = [
            sys.executable,
            "-m",
            module,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            # nothing off this machine: no news, no extension catalogue, no update check
            "--ServerApp.allow_root=True",  # CI runs as root
            "--LabApp.extension_manager=readonly",
            "--LabApp.news_url=",
            f"--LabServerApp.workspaces_dir={self.tmp / 'workspaces'}",
            f"--LabServerApp.user_settings_dir={self.tmp / 'settings'}",
            *(args or []),
        ]
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env=full_env, cwd=self.tmp
        )
        self._wait_up()

    def api(self, path: str):
        sep = "&" if "?" in path else "?"
        return _get_json(f"{self.url}api/{path}{sep}token={self.token}")

    def page_url(self, notebook: str) -> str:
        route = "lab/tree" if self.app == "lab" else "notebooks"
        return f"{self.url}{route}/{notebook}?token={self.token}"

    def _wait_up(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.app} exited with {self.proc.returncode}:\n{self.read_log()}"
                )
            try:
                self.api("status")
                return
            except (OSError, urllib.error.HTTPError):
                time.sleep(0.3)
        raise RuntimeError(f"{self.app} did not start in {timeout}s:\n{self.read_log()}")

    def kernel_id(self, notebook: str, timeout: float = 60) -> str:
        """The id of the kernel a page opened for ``notebook`` (from ``/api/sessions``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.api("sessions"):
                if s.get("path") == notebook and s.get("kernel"):
                    return s["kernel"]["id"]
            time.sleep(0.2)
        raise RuntimeError(f"no session for {notebook} in {timeout}s:\n{self.read_log()[-3000:]}")

    def kernel(self, notebook: str, timeout: float = 60) -> Kernel:
        """A client of the kernel behind ``notebook``'s page: evaluate Python in the lab's namespace."""
        kid = self.kernel_id(notebook, timeout)
        path = self.runtime / f"kernel-{kid}.json"
        deadline = time.monotonic() + timeout
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        for attempt in range(3):  # on a loaded machine the first heartbeat can come late
            try:
                return Kernel(str(path))
            except RuntimeError:
                if attempt == 2:
                    raise
                time.sleep(1)
        raise AssertionError("unreachable")

    def shutdown_kernels(self) -> None:
        """Shut every kernel down (a test leaves none running: each is ~0.7 GB)."""
        for k in self.api("kernels"):
            req = urllib.request.Request(
                f"{self.url}api/kernels/{k['id']}?token={self.token}", method="DELETE"
            )
            try:
                urllib.request.urlopen(req, timeout=30).close()
            except OSError:
                pass

    def read_log(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def console_guard(page, errors: list[str], local_only: bool = True) -> None:
    """Record console errors, page errors and requests that leave the machine into ``errors``."""

    def on_console(msg):
        if msg.type == "error" and not any(p.search(msg.text) for p in IGNORED_CONSOLE):
            errors.append(msg.text)

    def on_request(req):
        if local_only and not req.url.startswith(
            ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:")
        ):
            errors.append(f"request off this machine: {req.url}")

    page.on("console", on_console)

    def on_pageerror(exc):
        text = f"{exc}\n{exc.stack or ''}"
        if not any(msg in text and where in text for msg, where in KNOWN_APP_ERRORS):
            errors.append(f"pageerror: {text}"[:1500])

    page.on("pageerror", on_pageerror)
    page.on("request", on_request)


def run_all(
    page,
    server: JupyterServer | None = None,
    notebook: str = "",
    timeout: float = 120,
    ready: str = ".lab8-lab",
):
    """Run every cell with the front end's own menu (Run > Run All Cells), as a learner would.

    JupyterLab and Notebook 7 share the Lumino menu bar. The click waits for the page's kernel to
    be idle (through the server's API when given), and is made again if no cell started running
    (on a loaded machine the menu can act before the notebook panel is connected).
    """
    deadline = time.monotonic() + timeout
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    if server is not None:
        kid = server.kernel_id(notebook, timeout)
        while server.api(f"kernels/{kid}").get("execution_state") != "idle":
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"kernel of {notebook} never idle:\n{server.read_log()[-3000:]}"
                )
            time.sleep(0.2)
    for _ in range(3):
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        try:  # a running or finished code cell shows [*] or [n] in its prompt
            page.wait_for_function(
                "() => [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')]"
                ".some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))",
                timeout=15_000,
            )
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; try the menu again
            continue
    left = max(1.0, deadline - time.monotonic())
    page.wait_for_selector(ready, state="visible", timeout=left * 1000)


def cell_center(page, scope: str, row: int, col: int, cell: int) -> tuple[float, float]:
    canvas = page.locator(f"{scope} canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    return box["x"] + 1 + (col + 0.5) * cell, box["y"] + 1 + (row + 0.5) * cell


def drag_kernel_cell(
    page, kernel, row: int = 0, col: int = 1, dy: int = 60, name: str = "kernel-0"
):
    """Drag one cell of ConvLab's kernel ``name`` up by ``dy`` px (0.1 per 4 px; down when < 0)."""
    stage, index = name.rsplit("-", 1)  # "kernel-0" -> the chain's ("kernel", 0) heatmap
    cell = kernel.eval(f"lab.chain.props(({stage!r}, {int(index)}))['cell']")
    x, y = cell_center(page, f".lab8-conv-{name}", row, col, cell)
    page.mouse.move(x, y)
    page.mouse.down()
    step = 4 if dy > 0 else -4  # up raises the value, down lowers it
    for d in range(step, dy + step, step):
        page.mouse.move(x, y - d)
        page.wait_for_timeout(20)
    page.mouse.up()


def wait_kernel(kernel: Kernel, expr: str, ok, timeout: float = 30.0, every: float = 0.1):
    """Poll ``expr`` in ``kernel`` until ``ok(value)`` (or equals ``ok`` when not callable)."""
    check = ok if callable(ok) else (lambda v: v == ok)
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = kernel.eval(expr)
        if check(got):
            return got
        time.sleep(every)
    raise AssertionError(f"{expr} = {got!r} did not reach the expected value in {timeout}s")


# --- pytest fixtures (a test module imports them and sets APP = "lab" or "notebook") ---


@pytest.fixture(scope="module", name="jupyter_server")
def jupyter_server_fixture(request):
    app = getattr(request.module, "APP", "lab")
    pytest.importorskip("jupyterlab" if app == "lab" else "notebook")
    s = JupyterServer(app)
    yield s
    s.stop()


@pytest.fixture(scope="module", name="jupyter_browser")
def jupyter_browser_fixture():
    pw_sync = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (see .ci/run)")
    with pw_sync.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(name="open_notebook")
def open_notebook_fixture(jupyter_server, jupyter_browser):
    """Open ``<lab>.ipynb`` in a fresh 1280x800 page, run it, return (page, kernel client).

    Any browser console error fails the test; the kernels are shut down afterwards.
    """
    opened = []
    errors: list[str] = []

    def _open(notebook: str, width: int = 1280, height: int = 800):
        context = jupyter_browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        console_guard(page, errors)
        page.goto(jupyter_server.page_url(notebook), wait_until="domcontentloaded")
        run_all(page, jupyter_server, notebook)
        kernel = jupyter_server.kernel(notebook)
        opened.append((context, kernel))
        return page, kernel

    yield _open
    for context, kernel in opened:
        kernel.close()
        context.close()
    jupyter_server.shutdown_kernels()
    if errors:
        pytest.fail("browser console errors:\n" + "\n".join(errors))


# --- Voila pages under `serve` (preheated kernels) ---


def voila_page_kernel_file(page, server, timeout: float = 60) -> str:
    """The connection file of the kernel a Voila page uses (see ``page_kernel_file``)."""
    return page_kernel_file(page, server, timeout)
