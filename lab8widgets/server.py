"""``lab8widgets serve``: Voila with the project's settings.

What differs from stock Voila 0.5:

- the kernel websocket sets TCP_NODELAY (stock Voila waits on Nagle's algorithm against delayed
  ACKs, ~45 ms per widget round trip on a 2-core machine; ~3 ms without), and holds back a widget
  message's ``busy`` status so a page does not redraw its kernel status per message (see
  ``NoDelayKernelWebsocketConnection``; it matters most in JupyterLab, via ``serverext``);
- kernels are freed: the page's own shutdown request works (stock Voila refuses it with
  ``403 '_xsrf' argument missing``, because its page never gets the ``_xsrf`` cookie), a kernel that
  no page has been connected to for ``DISCONNECTED_GRACE`` seconds is shut down (a crashed or killed
  browser sends no shutdown), and a kernel idle for ``--cull-idle`` seconds is shut down even if an
  abandoned tab still holds it;
- the terminal stays quiet: kernels talk over Unix sockets in a private folder (no plain-text TCP,
  so no warning about it), our own notebooks are not reported as "not trusted", and tornado's
  complaint about jupyter_server's websocket ping settings (a units mismatch) is dropped;
- when no lab is named the index notebook is served at ``/`` with every lab beside it;
- Voila waits up to ``IOPUB_TIMEOUT`` s (not nbclient's 4 s) for a cell's last output, which a
  loaded machine delays (the page would otherwise lose its widget and never show it).

JupyterLab users get the same websocket from the server extension ``lab8widgets.serverext``
(enabled on install), or with
``jupyter lab --ServerApp.kernel_websocket_connection_class=lab8widgets.server.NoDelayKernelWebsocketConnection``.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.ioloop import IOLoop, PeriodicCallback
from traitlets import Float

from . import labs

log = logging.getLogger("lab8widgets")

NODELAY_CLASS = "lab8widgets.server.NoDelayKernelWebsocketConnection"
# Voila's lab template without its CDN links (works offline), in a Jupyter data dir of our own
TEMPLATE = "lab8"
TEMPLATES_ROOT = Path(__file__).resolve().parent / "templates"

KERNEL_MANAGER_CLASS = "lab8widgets.server.Lab8KernelManager"
CULL_IDLE = 1800  # seconds without any kernel message before a kernel is shut down (--cull-idle)
CULL_INTERVAL = 10  # seconds between checks
DISCONNECTED_GRACE = 45  # seconds a kernel may live with no page connected (Voila renders first)
# Seconds Voila waits for a cell's last output after the kernel says the cell is done. nbclient's
# 4 s default drops the cell's outputs when it passes: with five learners arriving at once on 2
# cores (five kernels importing torch), four of five pages got no widget at all and waited forever.
IOPUB_TIMEOUT = 60
# `serve` tells the labs' kernels where the index is, so each lab can link back to it
INDEX_ENV = "LAB8WIDGETS_INDEX"


class NoDelayKernelWebsocketConnection(ZMQChannelsWebsocketConnection):
    """The stock kernel websocket connection with Nagle's algorithm off on its socket, and a widget
    message's ``busy`` status held back for ``comm_busy_delay`` seconds.

    A kernel brackets every message it handles with ``status: busy`` and ``status: idle`` on iopub.
    JupyterLab and Notebook 7 redraw on every status change (kernel indicator, toolbar, the busy
    favicon and title): ~10 ms of page work per widget message on a 2-core machine, and with it the
    CPU the server and kernel need, so a widget round trip took ~25 ms in JupyterLab against ~4 ms
    in a Voila page. A widget message's handler usually returns in a few milliseconds, so its
    ``busy`` is held back here and dropped when its ``idle`` comes first: the page's status stays
    ``idle`` and nothing redraws. A handler still running after ``comm_busy_delay`` seconds shows as
    busy (its held ``busy`` goes out then). ``idle`` always goes out (ipywidgets counts it to send
    its next update), as do all other messages, in their order.
    """

    comm_busy_delay = Float(
        0.3,
        config=True,
        help="Seconds a widget (comm) message's busy status is held back; dropped if the kernel is "
        "idle again sooner, so the page does not redraw its kernel status per message (0: off).",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._held_busy: dict[str, object] = {}  # parent msg_id -> the timeout that releases it

    def connect(self):
        try:
            self.websocket_handler.set_nodelay(True)
        except Exception as e:  # never refuse a connection over a socket option
            log.warning("could not set TCP_NODELAY on the kernel websocket: %s", e)
        return super().connect()

    def handle_outgoing_message(self, stream, outgoing_msg) -> None:
        if self.comm_busy_delay > 0 and self._hold_comm_status(stream, outgoing_msg):
            return
        super().handle_outgoing_message(stream, outgoing_msg)

    def _hold_comm_status(self, stream, msg_list) -> bool:
        """True when this message is a comm message's ``busy``, now held (not sent yet)."""
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", None)
        if channel != "iopub":
            return False
        held = self._held_busy
        try:
            _, parts = self.session.feed_identities(msg_list, copy=True)
            if b"status" not in parts[1]:  # [signature, header, parent, metadata, content, ...]
                return False
            if self.session.unpack(parts[1]).get("msg_type") != "status":
                return False
            parent = self.session.unpack(parts[2])
            state = self.session.unpack(parts[4]).get("execution_state")
        except Exception:  # not ours to judge: the stock path handles (and logs) it
            return False
        parent_id = parent.get("msg_id")
        if state == "idle" and parent_id in held:
            IOLoop.current().remove_timeout(held.pop(parent_id))
            return False  # the busy never went out: this idle changes nothing on the page
        if state != "busy" or parent.get("msg_type") != "comm_msg" or not parent_id:
            return False

        def release():
            if held.pop(parent_id, None) is not None and self.channels:
                super(NoDelayKernelWebsocketConnection, self).handle_outgoing_message(
                    stream, msg_list
                )

        held[parent_id] = IOLoop.current().call_later(self.comm_busy_delay, release)
        return True

    def disconnect(self):
        for timeout in self._held_busy.values():
            IOLoop.current().remove_timeout(timeout)
        self._held_busy.clear()
        return super().disconnect()


class Lab8KernelManager(AsyncMappingKernelManager):
    """Voila's kernel manager plus a culler that frees kernels no page holds any more.

    jupyter_server's own culler (``cull_idle_timeout``) still handles idle kernels; this one always
    runs, and also shuts down a kernel that has had no websocket connection for
    ``disconnected_grace`` seconds, measured from the later of its last message and the first check
    that saw it unwatched (so a page that reconnects after a blip keeps its kernel). Voila's
    preheated-kernel manager wraps this class and keeps its pooled kernels out of the culling.
    """

    disconnected_grace = Float(
        DISCONNECTED_GRACE,
        config=True,
        help="Seconds a kernel may run with no page connected before it is shut down (0: never).",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._unwatched_since: dict[str, float] = {}

    def initialize_culler(self):
        """Start the periodic check even when idle culling is off (``--cull-idle 0``)."""
        if self._initialized_culler or self._culler_callback is not None:
            return
        if self.cull_idle_timeout <= 0 and self.disconnected_grace <= 0:
            self._initialized_culler = True
            return
        self._culler_callback = PeriodicCallback(self.cull_kernels, 1000 * self.cull_interval)
        self._culler_callback.start()
        self._initialized_culler = True

    async def cull_kernel_if_idle(self, kernel_id):
        kernel = self._kernels.get(kernel_id)
        if kernel is None or getattr(kernel, "execution_state", None) == "starting":
            return  # a kernel still starting (slow on a loaded machine) is not idle
        if self.disconnected_grace > 0 and getattr(kernel, "execution_state", None) != "busy":
            if self._kernel_connections.get(kernel_id, 0) > 0:
                self._unwatched_since.pop(kernel_id, None)
            else:
                now = time.time()
                since = self._unwatched_since.setdefault(kernel_id, now)
                last = getattr(kernel, "last_activity", None)
                quiet = now - max(since, last.timestamp() if last is not None else since)
                if quiet > self.disconnected_grace:
                    self.log.info(
                        "Shutting down kernel %s: no page connected for %d s", kernel_id, quiet
                    )
                    self._unwatched_since.pop(kernel_id, None)
                    await self.shutdown_kernel(kernel_id)
                    return
        if self.cull_idle_timeout > 0:
            await super().cull_kernel_if_idle(kernel_id)

    async def shutdown_kernel(self, kernel_id, *args, **kwargs):
        self._unwatched_since.pop(kernel_id, None)
        return await super().shutdown_kernel(kernel_id, *args, **kwargs)


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
    lab = labs.get(target)  # KeyError for an unknown name
    root = notebooks_dir()
    return root, root / lab.notebook


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


def is_loopback(ip: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, "localhost")."""
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


def exposure_warning(ip: str) -> str | None:
    """What ``serve`` prints before binding an address other machines can reach (None on loopback)."""
    if is_loopback(ip):
        return None
    return (
        f"lab8widgets: WARNING: serving on {ip}: anyone who can reach this port can open the labs "
        "and run code in their kernels, with no password. For a class on a network, give each "
        "learner a server of their own behind a login with JupyterHub "
        "(https://jupyterhub.readthedocs.io; see the README); use --ip 127.0.0.1 (the default) "
        "to serve this machine only."
    )


def _ipc_fits(root: str) -> bool:
    """Whether Unix-socket paths under Voila's folder in ``root`` stay under ~104 bytes (macOS)."""
    return len(os.path.join(root, "voila_xxxxxxxx", f"kernel-{'x' * 36}-ipc-5")) < 100


def kernel_settings(connection_dir_root: str | None = None) -> list[str]:
    """How kernels talk to the server: over Unix sockets in Voila's private (0700) folder on POSIX.

    IPC keeps kernel traffic off the network stack altogether, which is also why ipykernel has no
    plain-text-TCP warning to print. When the temp folder's path is too long for a socket path
    (macOS), Voila's folder goes in /tmp; a folder given with ``--Voila.connection_dir_root`` that
    is too long falls back to TCP on loopback (and its warning).
    """
    if os.name != "posix":
        return ["--KernelManager.transport=tcp"]
    if connection_dir_root is not None:
        fits = _ipc_fits(connection_dir_root)
        return [f"--KernelManager.transport={'ipc' if fits else 'tcp'}"]
    if _ipc_fits(tempfile.gettempdir()):
        return ["--KernelManager.transport=ipc"]
    if os.access("/tmp", os.W_OK):
        return ["--KernelManager.transport=ipc", "--Voila.connection_dir_root=/tmp"]
    return ["--KernelManager.transport=tcp"]


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
    cull_idle: float = CULL_IDLE,
    extra: list[str] | None = None,
    preheat: bool = True,
    pool: int = 1,
) -> list[str]:
    """The command-line settings ``serve`` gives Voila (also used by tests and benchmarks)."""
    extra = list(extra or [])
    root_arg = [a.split("=", 1)[1] for a in extra if a.startswith("--Voila.connection_dir_root=")]
    argv = [
        str(notebook) if notebook is not None else str(root),
        f"--Voila.ip={ip}",
        f"--port={port}",
        "--Voila.port_retries=0",
        f"--Voila.root_dir={root}",
        "--VoilaConfiguration.strip_sources=True",
        "--VoilaConfiguration.show_tracebacks=False",
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT}",
        f"--template={TEMPLATE}",
        f"--VoilaConfiguration.multi_kernel_manager_class={KERNEL_MANAGER_CLASS}",
        f"--MappingKernelManager.cull_idle_timeout={int(cull_idle)}",
        f"--MappingKernelManager.cull_interval={CULL_INTERVAL}",
        "--MappingKernelManager.cull_connected=True",
        *kernel_settings(root_arg[-1] if root_arg else None),
    ]
    if not open_browser:
        argv.append("--no-browser")
    if nodelay:
        argv.append(f"--Voila.kernel_websocket_connection_class={NODELAY_CLASS}")
    # a setting given in ``extra`` replaces ours (traitlets refuses one given twice)
    given = {a.split("=", 1)[0] for a in extra if a.startswith("--")}
    argv += extension_argv(root, notebook) + preheat_argv(root, notebook, preheat, pool)
    argv += chunks_argv(root, notebook)
    return [a for a in argv if a.split("=", 1)[0] not in given] + extra


def use_templates() -> None:
    """Let Voila find the project's template (Jupyter looks in ``$JUPYTER_PATH`` first)."""
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(TEMPLATES_ROOT) not in paths:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(TEMPLATES_ROOT), *paths])


class QuietFilter(logging.Filter):
    """Drops the log lines ``serve`` makes pointless: "not trusted" for the shipped notebooks (trust is
    a per-user signature database; ours carry no outputs to trust), and tornado's warning about
    jupyter_server's ping settings (jupyter_server gives milliseconds where tornado 6.5 reads
    seconds; jupyter_server runs its own keep-alive, so nothing is lost)."""

    def __init__(self, own_notebooks: set[str]):
        super().__init__()
        self.own = own_notebooks

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg if isinstance(record.msg, str) else ""
        if msg.startswith("Notebook %s is not trusted") and record.args:
            return Path(str(record.args[0])).name not in self.own
        return not msg.startswith("The websocket_ping_timeout")


def quiet_logs(app_log: logging.Logger, root_dir: str) -> None:
    """Install ``QuietFilter``; "not trusted" stays for notebooks other than the shipped ones."""
    try:
        ours = Path(root_dir).resolve() == notebooks_dir()
    except FileNotFoundError:
        ours = False
    own = {lab.notebook for lab in labs.LABS} if ours else set()
    for logger in (app_log, logging.getLogger("tornado.general")):
        if not any(isinstance(f, QuietFilter) for f in logger.filters):
            logger.addFilter(QuietFilter(own))


def make_app_class():
    """Voila that sets the page's ``_xsrf`` cookie, logs quietly, and redirects ``/`` to the index
    notebook when a whole folder is served."""
    from jupyter_server.utils import url_path_join
    from tornado.web import RedirectHandler
    from voila.app import Voila
    from voila.tornado.handler import TornadoVoilaHandler

    class XsrfCookieVoilaHandler(TornadoVoilaHandler):
        """Voila's page handler, setting the ``_xsrf`` cookie before the page streams.

        The page's ``beforeunload`` beacon posts ``_xsrf`` read from that cookie to
        ``/voila/api/shutdown/<kernel>``; stock Voila 0.5 only reads the token once the headers are
        flushed, so the cookie never arrives and every shutdown is refused with a 403.
        """

        async def prepare(self, *args, **kwargs):
            await super().prepare(*args, **kwargs)
            self.xsrf_token  # noqa: B018  (reading it sets the cookie)

    class Lab8Voila(Voila):
        name = "lab8widgets-voila"

        def initialize(self, argv=None):
            super().initialize(argv)
            quiet_logs(self.log, self.root_dir)

        def init_handlers(self):
            handlers = [
                (h[0], XsrfCookieVoilaHandler, *h[2:])
                if len(h) > 1 and h[1] is TornadoVoilaHandler
                else h
                for h in super().init_handlers()
            ]
            if self.voila_configuration.resources.get("lab8_chunks"):
                bundle = chunks_bundle(chunk_files(self.static_paths, self.labextensions_path))
                url = url_path_join(self.server_url, CHUNKS_URL)
                handlers = [(url, chunks_handler(), {"body": bundle}), *handlers]
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
    cull_idle: float = CULL_IDLE,
    extra: list[str] | None = None,
    preheat: bool = True,
    pool: int = 1,
) -> None:
    """Run the Voila server until interrupted (blocking)."""
    root, notebook = resolve_lab(target)
    warning = exposure_warning(ip)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    use_templates()
    # the kernels inherit it: in the lab folder each lab links back to the index
    if notebook is None:
        os.environ[INDEX_ENV] = "index.ipynb"
    else:
        os.environ.pop(INDEX_ENV, None)
    app_class = make_app_class()
    app_class.launch_instance(
        argv=voila_argv(
            root,
            notebook,
            port,
            ip=ip,
            open_browser=open_browser,
            cull_idle=cull_idle,
            extra=extra,
            preheat=preheat,
            pool=pool,
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


def preheat_argv(root: Path, notebook: Path | None, preheat: bool, pool: int = 1) -> list[str]:
    """Keep a kernel per lab notebook running the notebook before anyone asks (Voila's preheat).

    A learner's first widget then waits on a page render, not on a kernel start and torch import.
    On for the shipped labs (``--no-preheat`` turns it off); a learner's own notebook is never run
    ahead of a request. Voila refills the pool ``FILL_DELAY`` seconds after each use; ``pool``
    kernels are kept ready per notebook (``serve --pool N``: a class arriving at once needs about
    its size, or every learner beyond the pool waits for a kernel to start).
    """
    if not preheat or not is_shipped(root, notebook):
        return []
    # the refill waits until the page that took the kernel has loaded (on 2 cores a kernel start
    # importing torch slows the page it follows by seconds)
    argv = [
        "--VoilaConfiguration.preheat_kernel=True",
        f"--VoilaConfiguration.default_pool_size={int(pool)}",
        f"--VoilaKernelManager.fill_delay={FILL_DELAY}",
    ]
    if notebook is None:
        # the whole folder: only the index (where learners land) is kept warm; a kernel per lab
        # would hold ~0.75 GB each and start eight torch imports at once on a small machine
        from .labs import LABS

        argv += [
            f"--VoilaKernelManager.preheat_denylist={lab.notebook}"
            for lab in LABS
            if lab.name != "index"
        ]
    return argv


# --- The first widget sooner: the chunks a lab page loads late, sent in one script ---

# Voila's front end fetches ~90 webpack chunks (its own and the widget extensions'), a request each,
# in waves: each wave only once the previous one has run. On 2 loaded cores Chromium's
# per-request overhead made these waits ~0.5 s of a ~1.8 s first widget. Sent as one script before
# voila.js, each chunk registers itself in its bundle's chunk list, and webpack finds it there
# instead of fetching it. A chunk the manifest lacks (another Voila) is fetched as usual.
CHUNKS_MANIFEST = TEMPLATES_ROOT / "voila" / "templates" / TEMPLATE / "chunks.json"
CHUNKS_URL = "lab8widgets/chunks.js"


def chunk_files(static_paths: list[str], labextensions_paths: list[str]) -> list[Path]:
    """The manifest's chunks found where Voila serves them from (``static/...`` in its static
    folders, ``labextensions/...`` in the labextension folders; the first folder holding one wins,
    as in Voila's own handlers)."""
    roots = {"static": static_paths, "labextensions": labextensions_paths}
    found = []
    for rel in json.loads(CHUNKS_MANIFEST.read_text())["chunks"]:
        kind, _, rest = rel.partition("/")
        for root in roots.get(kind, ()):
            path = Path(root) / rest
            if path.is_file():
                found.append(path)
                break
    return found


def chunks_bundle(files: list[Path]) -> bytes:
    """The chunks as one script (each chunk file is a self-contained statement)."""
    return b"".join(f.read_bytes() + b"\n;\n" for f in files)


def chunks_handler():
    """A handler sending the bundle built at start (it follows the installed Voila, so it is
    revalidated by its ETag rather than cached for long)."""
    from tornado.web import RequestHandler

    class ChunksHandler(RequestHandler):
        def initialize(self, body: bytes):
            self.body = body

        def get(self):
            self.set_header("Content-Type", "text/javascript; charset=UTF-8")
            self.set_header("Cache-Control", "no-cache")
            self.write(self.body)

    return ChunksHandler


def chunks_argv(root: Path, notebook: Path | None) -> list[str]:
    """Tell the template to load the chunk bundle (the shipped labs only: the manifest is theirs;
    a page elsewhere, e.g. JupyterHub's Voila, renders the same template without it)."""
    if not is_shipped(root, notebook):
        return []
    # key=value, not a JSON dict: traitlets 5 warns (DeprecationWarning) on a dict given as JSON
    return [f"--VoilaConfiguration.resources=lab8_chunks={CHUNKS_URL}"]
