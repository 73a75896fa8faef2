"""The Voila application ``serve`` runs, and the settings it gives it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .chunks import CHUNKS_URL, chunk_files, chunks_argv, chunks_bundle, chunks_handler
from .fork import FORK_SETTING, registered
from .kernels import CULL_IDLE, CULL_INTERVAL, KERNEL_MANAGER_CLASS
from .logs import quiet_logs, skip_unlogged_records
from .network import exposure_warning, kernel_settings
from .places import TEMPLATE, extension_argv, resolve_lab, use_templates
from .preheat import preheat_argv
from .websocket import NODELAY_CLASS

# Seconds Voila waits for a cell's last output after the kernel says the cell is done. nbclient's
# 4 s default drops the cell's outputs when it passes: with five learners arriving at once on 2
# cores (five kernels importing torch), four of five pages got no widget at all and waited forever.
IOPUB_TIMEOUT = 60
# `serve` tells the labs' kernels where the index is, so each lab can link back to it
INDEX_ENV = "LAB8WIDGETS_INDEX"


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
    fork: bool = False,
    class_size: int = 0,
) -> list[str]:
    """The command-line settings ``serve`` gives Voila (also used by tests and benchmarks).

    ``fork``: learners' kernels are forked from a warm template (``fork.ForkProvisioner``);
    ``class_size`` N: N kernels kept ready (the preheat pool), counted in the terminal.
    """
    if class_size:
        preheat, pool = True, class_size
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
    if fork:
        argv.append(FORK_SETTING)
    if class_size:
        argv.append(f"--Lab8KernelManager.class_size={int(class_size)}")
    # a setting given in ``extra`` replaces ours (traitlets refuses one given twice)
    given = {a.split("=", 1)[0] for a in extra if a.startswith("--")}
    argv += extension_argv(root, notebook) + preheat_argv(root, notebook, preheat, pool)
    argv += chunks_argv(root, notebook)
    return [a for a in argv if a.split("=", 1)[0] not in given] + extra


def class_threads(kept: int, env) -> dict[str, str]:
    """What the kernels' environment gets when ``kept`` of them (a class) share the machine: one
    torch (OpenMP) thread each, unless ``env`` already says how many. A second thread in every
    learner's kernel only contends for the same cores: small torch ops that start it turn a step
    of a millisecond into tens on a busy 2-core machine. Launched and forked kernels read it alike
    (the template imports torch under it, and each child applies its own environment)."""
    if kept > 1 and not env.get("OMP_NUM_THREADS"):
        return {"OMP_NUM_THREADS": "1"}
    return {}


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
            skip_unlogged_records(self.log, self.log_level)

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
    fork: bool = False,
    class_size: int = 0,
) -> None:
    """Run the Voila server until interrupted (blocking)."""
    root, notebook = resolve_lab(target)
    warning = exposure_warning(ip)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    fork = bool(fork or class_size)  # a class is served from the template
    if fork and not registered():
        # jupyter_client would refuse every kernel start; launching still serves the class
        print(
            "lab8widgets: the fork provisioner (entry point 'lab8-fork') is not registered, so "
            "kernels are launched, not forked: reinstall lab8widgets (pip install -e .)",
            file=sys.stderr,
            flush=True,
        )
        fork = False
    use_templates()
    os.environ.update(class_threads(class_size or (pool if preheat else 1), os.environ))
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
            fork=fork,
            class_size=class_size,
        )
    )
