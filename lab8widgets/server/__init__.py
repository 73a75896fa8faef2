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

One concern a module: ``websocket`` (the kernel websocket), ``kernels`` (the kernel manager and
its culler), ``preheat`` (the preheated-kernel pool), ``chunks`` (the chunk bundle), ``logs``
(the log filter), ``places`` (notebooks, template, front-end extensions), ``network`` (addresses,
ports, Unix sockets), ``app`` (the Voila application and ``serve``), ``fork`` (the ``lab8-fork``
kernel provisioner: kernels forked from a warm template) and ``template`` (that template
process). The names below are the public API (the CLI, the hub config, jupyter-config and the
tests import them from here).
"""

from __future__ import annotations

from .app import INDEX_ENV, IOPUB_TIMEOUT, class_threads, make_app_class, serve, voila_argv
from .chunks import CHUNKS_MANIFEST, CHUNKS_URL, chunk_files, chunks_argv, chunks_bundle
from .kernels import (
    CULL_IDLE,
    CULL_INTERVAL,
    DISCONNECTED_GRACE,
    KERNEL_MANAGER_CLASS,
    Lab8KernelManager,
)
from .logs import QuietFilter, quiet_logs
from .network import exposure_warning, free_port, is_loopback, kernel_settings, port_free
from .places import (
    APP_EXTENSIONS,
    LAB_EXTENSIONS,
    TEMPLATE,
    TEMPLATES_ROOT,
    extension_argv,
    is_shipped,
    notebooks_dir,
    resolve_lab,
    use_templates,
)
from .preheat import FILL_DELAY, preheat_argv
from .websocket import NODELAY_CLASS, NoDelayKernelWebsocketConnection

__all__ = [
    "APP_EXTENSIONS",
    "CHUNKS_MANIFEST",
    "CHUNKS_URL",
    "CULL_IDLE",
    "CULL_INTERVAL",
    "DISCONNECTED_GRACE",
    "FILL_DELAY",
    "INDEX_ENV",
    "IOPUB_TIMEOUT",
    "KERNEL_MANAGER_CLASS",
    "LAB_EXTENSIONS",
    "NODELAY_CLASS",
    "TEMPLATE",
    "TEMPLATES_ROOT",
    "Lab8KernelManager",
    "NoDelayKernelWebsocketConnection",
    "QuietFilter",
    "chunk_files",
    "class_threads",
    "chunks_argv",
    "chunks_bundle",
    "exposure_warning",
    "extension_argv",
    "free_port",
    "is_loopback",
    "is_shipped",
    "kernel_settings",
    "make_app_class",
    "notebooks_dir",
    "port_free",
    "preheat_argv",
    "quiet_logs",
    "resolve_lab",
    "serve",
    "use_templates",
    "voila_argv",
]
