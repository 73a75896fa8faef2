"""Start a real Voila server (ours or stock) and talk to the kernel it started.

Shared by the pytest plugin, our e2e tests and the benchmarks so all measure the same setup.
"""

from __future__ import annotations

import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from lab8widgets.server import free_port, notebooks_dir

DEFAULT_CHROMIUM = "/usr/bin/chromium"  # Debian's `apt-get install chromium`
CHROMIUM = os.environ.get("LAB8WIDGETS_CHROMIUM", DEFAULT_CHROMIUM)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_chromium(playwright, path: str | None = None, **kwargs):
    """``playwright.chromium.launch`` of the system's Chromium (``find_chromium(path)``), headless
    with the settings every test and benchmark here uses (nothing off the machine, no GPU). Works
    with Playwright's sync and async APIs (await the result of the latter)."""
    return playwright.chromium.launch(
        executable_path=find_chromium(path), headless=True, args=CHROMIUM_ARGS, **kwargs
    )


class Server:
    """A Voila process on a free loopback port: ``lab8widgets serve`` or, with stock=True, plain ``voila``."""

    def __init__(
        self,
        target: str | None,
        stock: bool = False,
        env: dict | None = None,
        args: list[str] | None = None,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.tmp = tempfile.mkdtemp(prefix="lab8-e2e-")
        self.log_path = Path(self.tmp) / "server.log"
        full_env = dict(os.environ)
        full_env.setdefault("LAB8WIDGETS_OFFLINE", "1")
        full_env.update(env or {})
        if any(a == "--fork" or a.startswith("--class-size") for a in args or []):
            found = fork_entry_point(self.tmp)  # not reinstalled since the entry point came
            if found:
                paths = [found, *filter(None, [full_env.get("PYTHONPATH")])]
                full_env["PYTHONPATH"] = os.pathsep.join(paths)
        conn = f"--Voila.connection_dir_root={self.tmp}"
        if stock:
            nb = (
                target
                if target and target.endswith(".ipynb")
                else str(notebooks_dir() / f"{target or 'index'}.ipynb")
            )
            cmd = [
                sys.executable,
                "-m",
                "voila",
                nb,
                "--no-browser",
                "--Voila.ip=127.0.0.1",
                f"--port={self.port}",
                "--Voila.port_retries=0",
                conn,
            ]
        else:
            cmd = [
                sys.executable,
                "-m",
                "lab8widgets.cli",
                "serve",
                *([target] if target else []),
                "--no-browser",
                f"--port={self.port}",
                conn,
            ]
        cmd += list(args or [])
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, stdout=self.log, stderr=subprocess.STDOUT, env=full_env, cwd=self.tmp
        )
        self._wait_up()

    def _wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                with urllib.request.urlopen(self.url + "voila/static/", timeout=2):
                    return
            except urllib.error.HTTPError:
                return  # answering HTTP at all means it is up
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"server did not start in {timeout}s:\n{self.read_log()}")

    def read_log(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def kernel_alive(self, kernel_id: str) -> bool:
        """Whether the server still lists ``kernel_id`` (its REST API answers 404 once it is gone)."""
        try:
            with urllib.request.urlopen(f"{self.url}api/kernels/{kernel_id}", timeout=5):
                return True
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return False
            raise

    def kernel_files(self) -> list[str]:
        return sorted(
            glob.glob(os.path.join(self.tmp, "voila_*", "kernel-*.json")), key=os.path.getmtime
        )

    def stop(self, timeout: float = 10) -> None:
        """Terminate the server (it shuts its kernels down), killing it after ``timeout`` s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def kernel_id(connection_file: str) -> str:
    """The kernel id in a connection file's name (``kernel-<id>.json``)."""
    return Path(connection_file).stem.removeprefix("kernel-")


class Kernel:
    """A client of the kernel Voila started for a page: evaluate expressions in the lab's namespace."""

    def __init__(self, connection_file: str, timeout: float = 60):
        """Connect, retrying until ``timeout``: a kernel's connection file is written before it
        answers its heartbeat, and on a loaded machine the first answer can come late."""
        from jupyter_client import BlockingKernelClient

        deadline = time.monotonic() + timeout
        while True:
            self.client = BlockingKernelClient(connection_file=connection_file)
            self.client.load_connection_file()
            self.client.start_channels()
            try:
                self.client.wait_for_ready(timeout=max(1.0, min(30, deadline - time.monotonic())))
                return
            except RuntimeError:
                self.client.stop_channels()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def eval(self, expr: str, timeout: float = 60):
        """The value of ``expr`` in the kernel, through its repr (so return plain Python data)."""
        msg_id = self.client.execute("", silent=True, user_expressions={"v": expr})
        res = self._reply(msg_id, timeout)["content"]["user_expressions"]["v"]
        if res["status"] != "ok":
            raise RuntimeError(
                f"kernel could not evaluate {expr!r}: {res.get('ename')}: {res.get('evalue')}"
            )
        text = res["data"]["text/plain"]
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    def run(self, code: str, timeout: float = 60) -> None:
        """Execute statements in the kernel (to change the model as a notebook user would)."""
        msg_id = self.client.execute(code, silent=True)
        reply = self._reply(msg_id, timeout)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"kernel failed on {code!r}: {reply['content'].get('evalue')}")

    def _reply(self, msg_id: str, timeout: float) -> dict:
        """The shell reply to ``msg_id`` (skipping replies to anything sent before it)."""
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=timeout)
        return reply

    def close(self) -> None:
        self.client.stop_channels()


def wait_for_new_kernel(server: Server, before: list[str], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = [f for f in server.kernel_files() if f not in before]
        if new:
            return new[-1]
        time.sleep(0.1)
    raise RuntimeError(f"no kernel started in {timeout}s:\n{server.read_log()}")


class ChromiumNotFound(RuntimeError):
    """No Chromium where the plugin looked (the message says what to install or set)."""


def find_chromium(path: str | None = None) -> str:
    """The Chromium to drive: ``path`` (``--lab8-chromium``), else ``$LAB8WIDGETS_CHROMIUM``,
    else Debian's /usr/bin/chromium, else one on PATH; a clear error naming what to install."""
    given = path or os.environ.get("LAB8WIDGETS_CHROMIUM")
    if given:
        if Path(given).is_file() and os.access(given, os.X_OK):
            return given
        raise ChromiumNotFound(
            f"Chromium not found at {given} (from --lab8-chromium or LAB8WIDGETS_CHROMIUM): "
            "point it at a Chromium or Chrome executable"
        )
    if Path(DEFAULT_CHROMIUM).is_file():
        return DEFAULT_CHROMIUM
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise ChromiumNotFound(
        f"Chromium not found at {DEFAULT_CHROMIUM} nor on PATH. Install it "
        "(Debian/Ubuntu: `sudo apt-get install -y chromium`; macOS: `brew install --cask chromium`) "
        "or pass its path with `pytest --lab8-chromium PATH` or LAB8WIDGETS_CHROMIUM=PATH."
    )


ANSI = re.compile(r"\x1b\[[0-9;]*m")
CELL_ERROR = re.compile(r"There was an error when executing cell \[?(\d+)?\]?")


def notebook_error(server: Server, page_text: str) -> str | None:
    """What failed when Voila shows its "error when executing cell" notice: the cell number from
    the page and the traceback from the server's log (the page shows no traceback by design)."""
    m = CELL_ERROR.search(page_text)
    if not m:
        return None
    log = ANSI.sub("", server.read_log())
    start = log.rfind("Traceback (most recent call last)")
    tb = log[start:] if start >= 0 else log[-3000:]
    if start >= 0:  # up to the server's next log line ("[Lab8Voila] ...", "[W 12:00 ...")
        tb = re.split(r"\n\[\w", tb, maxsplit=1)[0]
    tb = tb.strip()
    cell = f"cell [{m.group(1)}]" if m.group(1) else "a cell"
    return f"the notebook failed to execute ({cell}):\n{tb[-4000:]}"


def page_kernel_file(page, server: Server, timeout: float = 60) -> str:
    """The connection file of the kernel a Voila page uses (its page config's ``kernelId``).

    With preheated kernels (``serve``'s default) the page's kernel started before the page was
    opened, and the kernel that starts after it is the pool's refill, so "the newest kernel file"
    is the wrong one.
    """
    kid = page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = glob.glob(os.path.join(server.tmp, "voila_*", f"kernel-{kid}.json"))
        if found:
            return found[0]
        time.sleep(0.1)
    raise RuntimeError(f"no connection file for the page's kernel {kid}:\n{server.read_log()}")


def fork_entry_point(folder: str | os.PathLike) -> str | None:
    """Make the ``lab8-fork`` kernel provisioner findable without reinstalling lab8widgets.

    jupyter_client finds provisioners by entry point, which pip writes at install time; a checkout
    installed (editable) before the entry point existed lacks it. This writes the same entry point
    in a ``.dist-info`` folder under ``folder`` and returns ``folder`` to put on ``sys.path`` or
    ``PYTHONPATH``; None when the installed package already registers it.
    """
    from lab8widgets.server.fork import PROVISIONER, PROVISIONER_GROUP, registered

    if registered():
        return None
    info = Path(folder) / "lab8widgets_fork_provisioner-0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: lab8widgets-fork-provisioner\nVersion: 0.0\n"
    )
    (info / "entry_points.txt").write_text(
        f"[{PROVISIONER_GROUP}]\n{PROVISIONER} = lab8widgets.server.fork:ForkProvisioner\n"
    )
    return str(folder)
