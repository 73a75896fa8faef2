"""``lab8widgets serve``: Voila with the project's settings.

Two things differ from stock Voila: the kernel websocket sets TCP_NODELAY (stock Voila waits on
Nagle's algorithm against delayed ACKs, ~45 ms per widget round trip on a 2-core machine; ~3 ms
without), and when no lab is named the index notebook is served at ``/`` with every lab beside it.

JupyterLab users can opt in to the same websocket with
``jupyter lab --ServerApp.kernel_websocket_connection_class=lab8widgets.server.NoDelayKernelWebsocketConnection``.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
from pathlib import Path

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from .labs import LABS as _REGISTRY

log = logging.getLogger("lab8widgets")

NODELAY_CLASS = "lab8widgets.server.NoDelayKernelWebsocketConnection"
# Voila's lab template without its CDN links (works offline), in a Jupyter data dir of our own
TEMPLATE = "lab8"
TEMPLATES_ROOT = Path(__file__).resolve().parent / "templates"

LABS: dict[str, str] = {lab.name: lab.description for lab in _REGISTRY}


class NoDelayKernelWebsocketConnection(ZMQChannelsWebsocketConnection):
    """The stock kernel websocket connection with Nagle's algorithm off on its socket."""

    def connect(self):
        try:
            self.websocket_handler.set_nodelay(True)
        except Exception as e:  # never refuse a connection over a socket option
            log.warning("could not set TCP_NODELAY on the kernel websocket: %s", e)
        return super().connect()


def notebooks_dir() -> Path:
    """The lab notebooks: inside the installed wheel, else the source checkout's ``notebooks/``."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_notebooks", here.parent / "notebooks"):
        if (candidate / "index.ipynb").exists():
            return candidate
    raise FileNotFoundError(
        f"lab notebooks not found in {here / '_notebooks'} or {here.parent / 'notebooks'}"
    )


def resolve_lab(target: str | None) -> tuple[Path, Path | None]:
    """Map ``serve``'s argument to (root_dir, notebook); notebook None means the whole lab folder."""
    if target is None:
        return notebooks_dir(), None
    if target.endswith(".ipynb"):
        nb = Path(target).expanduser().resolve()
        if not nb.is_file():
            raise FileNotFoundError(f"notebook not found: {nb}")
        return nb.parent, nb
    if target in LABS:
        root = notebooks_dir()
        return root, root / f"{target}.ipynb"
    raise KeyError(target)


def port_free(ip: str, port: int) -> bool:
    """True when ``ip:port`` can be bound now (checked before Voila starts, so the error is clear)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def voila_argv(
    root: Path,
    notebook: Path | None,
    port: int,
    ip: str = "127.0.0.1",
    open_browser: bool = False,
    nodelay: bool = True,
    extra: list[str] | None = None,
    preheat: bool = True,
) -> list[str]:
    """The command-line settings ``serve`` gives Voila (also used by tests and benchmarks)."""
    argv = [
        str(notebook) if notebook is not None else str(root),
        f"--Voila.ip={ip}",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--Voila.root_dir={root}",
        "--VoilaConfiguration.strip_sources=True",
        "--VoilaConfiguration.show_tracebacks=False",
        f"--template={TEMPLATE}",
    ]
    if not open_browser:
        argv.append("--no-browser")
    if nodelay:
        argv.append(f"--Voila.kernel_websocket_connection_class={NODELAY_CLASS}")
    argv += extension_argv(root, notebook) + preheat_argv(root, notebook, preheat)
    return argv + list(extra or [])


def use_templates() -> None:
    """Let Voila find the project's template (Jupyter looks in ``$JUPYTER_PATH`` first)."""
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(TEMPLATES_ROOT) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(TEMPLATES_ROOT), *paths])


def make_app_class():
    """Voila with ``/`` redirecting to the index notebook when a whole folder is served."""
    from jupyter_server.utils import url_path_join
    from tornado.web import RedirectHandler
    from voila.app import Voila

    class Lab8Voila(Voila):
        name = "lab8widgets-voila"

        def init_handlers(self):
            handlers = super().init_handlers()
            if self.notebook_path:
                return handlers
            index = url_path_join(self.server_url, "voila/render/index.ipynb")
            root = url_path_join(self.server_url, "")
            return [(root.rstrip("/") + "/?$", RedirectHandler, {"url": index})] + handlers

    return Lab8Voila


def serve(
    target: str | None = None,
    port: int = 8866,
    ip: str = "127.0.0.1",
    open_browser: bool = True,
    extra: list[str] | None = None,
    preheat: bool = True,
) -> None:
    """Run the Voila server until interrupted (blocking)."""
    root, notebook = resolve_lab(target)
    use_templates()
    app_class = make_app_class()
    app_class.launch_instance(
        argv=voila_argv(
            root, notebook, port, ip=ip, open_browser=open_browser, extra=extra, preheat=preheat
        )
    )


# --- Where the labs run (issue 12): which front-end extensions a page loads, preheated kernels ---

# The federated JupyterLab extensions the shipped labs render with. Voila 0.5 loads every installed
# one, and with Notebook 7 beside it `@jupyter-notebook/lab-extension` fails in Voila's page (a
# module-federation error on every page); an allowlist keeps the page to what the labs need.
LAB_EXTENSIONS = (
    "@jupyter-widgets/jupyterlab-manager",
    "@voila-dashboards/widgets-manager8",
    "@voila-dashboards/widgets-manager7",
    "anywidget",
    "bqplot",
    "bqscales",
    "jupyterlab_pygments",
)
# Application plugins of the notebook front ends: no widget in them, and they break Voila's page.
# A learner's own notebook may need any widget extension, so it only loses these.
APP_EXTENSIONS = ("@jupyter-notebook/lab-extension",)
FILL_DELAY = 8  # seconds before a used preheated kernel is replaced


def is_shipped(root: Path, notebook: Path | None) -> bool:
    """True when ``serve`` shows the project's own notebooks (a lab by name, or the lab folder)."""
    try:
        ours = notebooks_dir()
    except FileNotFoundError:
        return False
    return root.resolve() == ours and (notebook is None or notebook.resolve().parent == ours)


def extension_argv(root: Path, notebook: Path | None) -> list[str]:
    """Voila settings that keep a page to the front-end extensions it can use."""
    if is_shipped(root, notebook):
        return [f"--VoilaConfiguration.extension_allowlist={name}" for name in LAB_EXTENSIONS]
    return [f"--VoilaConfiguration.extension_denylist={name}" for name in APP_EXTENSIONS]


def preheat_argv(root: Path, notebook: Path | None, preheat: bool) -> list[str]:
    """Keep a kernel per lab notebook running the notebook before anyone asks (Voila's preheat).

    A learner's first widget then waits on a page render, not on a kernel start and torch import.
    On for the shipped labs (``--no-preheat`` turns it off); a learner's own notebook is never run
    ahead of a request. Voila refills the pool ``FILL_DELAY`` seconds after each use;
    ``--VoilaConfiguration.default_pool_size=N`` keeps N kernels ready per notebook.
    """
    if not preheat or not is_shipped(root, notebook):
        return []
    # the refill waits until the page that took the kernel has loaded (on 2 cores a kernel start
    # importing torch slows the page it follows by seconds)
    return [
        "--VoilaConfiguration.preheat_kernel=True",
        f"--VoilaKernelManager.fill_delay={FILL_DELAY}",
    ]
