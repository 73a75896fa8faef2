"""Start JupyterLab or Notebook 7 with any settings, open a lab's notebook in Chromium, run it, and
talk to the very kernel the page uses.

Shared by the JupyterLab / Notebook e2e tests and ``benchmarks/roundtrip_jupyterlab.py``, so both
measure the same setup. Everything else comes from the plugin (``lab8widgets.testing``): the
browser (``lab_browser``), the page's guards (``PageWatch``), the kernel client and the gestures
(``open_notebook`` hands back a ``LabPage``, as ``open_lab`` does for Voila).
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
from lab8widgets.testing.page import LabPage, PageWatch, page_problems
from lab8widgets.testing.server import Kernel

__all__ = ["JupyterServer", "open_notebook_fixture", "run_all"]

# Errors of the front ends' own code, with no widget involved, that a test cannot act on: Notebook
# 7.6's keyboard-shortcuts plugin reads the schema of a settings plugin that is not loaded yet while
# the page starts (it happens with every federated extension disabled and nothing run).
KNOWN_APP_ERRORS = [re.compile(r"reading 'schema'[\s\S]*/static/notebook/notebook_core\.")]


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
        return Kernel(str(path), timeout=max(1.0, deadline - time.monotonic()))

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


# --- pytest fixtures (a test module imports them and sets APP = "lab" or "notebook") ---


@pytest.fixture(scope="module", name="jupyter_server")
def jupyter_server_fixture(request):
    app = getattr(request.module, "APP", "lab")
    pytest.importorskip("jupyterlab" if app == "lab" else "notebook")
    s = JupyterServer(app)
    yield s
    s.stop()


@pytest.fixture(name="open_notebook")
def open_notebook_fixture(jupyter_server, lab_browser):
    """Open ``<lab>.ipynb`` in a fresh 1280x800 page, run it, return a ``LabPage`` (its
    ``kernel(expr)`` reads the page's own kernel; gestures as under Voila).

    Console errors, traceback text on the page and requests off the machine fail the test, as for
    a served lab; the kernels are shut down afterwards.
    """
    opened = []

    def _open(notebook: str, width: int = 1280, height: int = 800) -> LabPage:
        context = lab_browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        watch = PageWatch(page, forgive_pageerrors=KNOWN_APP_ERRORS)
        page.goto(jupyter_server.page_url(notebook), wait_until="domcontentloaded")
        run_all(page, jupyter_server, notebook)
        lab = LabPage(page, jupyter_server, jupyter_server.kernel(notebook), watch)
        opened.append(lab)
        return lab

    yield _open
    problems = page_problems(opened)
    for lab in opened:
        lab.close()
    jupyter_server.shutdown_kernels()
    if problems:
        pytest.fail("the page did what a lab must not:\n" + "\n".join(problems))
