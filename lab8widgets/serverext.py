"""A Jupyter server extension: the labs' low-latency kernel websocket in JupyterLab, Notebook 7 and
JupyterHub's single-user servers.

Stock jupyter_server makes a widget round trip slow in two ways, and this extension (the same
websocket class as ``lab8widgets serve``, ``NoDelayKernelWebsocketConnection``) removes both:

- it writes each kernel message to the browser with Nagle's algorithm on, so a reply waits on the
  browser's delayed ACK (tens of ms): the extension sets TCP_NODELAY;
- the kernel brackets every widget message with ``busy``/``idle`` status messages, and JupyterLab
  redraws its kernel status, toolbar, favicon and title on each (~10-20 ms of page work per
  message on 2 cores, which also starves the server and kernel of CPU): the extension holds a
  widget message's ``busy`` back for 0.3 s and drops it when the kernel is idle again sooner, so
  the page's status never flickers (a slower handler still shows busy, 0.3 s late).

Measured together (``benchmarks/roundtrip_jupyterlab.py``), a round trip in JupyterLab falls from
~60 ms to ~5 ms, the same as under ``serve``. ``pip install lab8widgets`` enables it
(``jupyter-config/jupyter_server_config.d/lab8widgets.json``, like Voila's own); by hand:

    jupyter server extension enable lab8widgets.serverext

``--NoDelayKernelWebsocketConnection.comm_busy_delay=0`` keeps every busy status (TCP_NODELAY only).
A server configured with another ``kernel_websocket_connection_class`` keeps it (and logs that).
``GET <base_url>/lab8widgets/status`` (authenticated) says which class the server uses.
"""

from __future__ import annotations

import json

from jupyter_server.base.handlers import APIHandler
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from jupyter_server.utils import url_path_join
from tornado import web

from .server import NODELAY_CLASS, NoDelayKernelWebsocketConnection


class StatusHandler(APIHandler):
    """Which kernel websocket class this server runs (tests and a curious teacher read it)."""

    @web.authenticated
    def get(self):
        cls = self.settings.get("kernel_websocket_connection_class")
        if cls is NoDelayKernelWebsocketConnection:  # its public name, not its module's
            name = NODELAY_CLASS
        else:
            name = f"{cls.__module__}.{cls.__qualname__}" if cls else None
        self.finish(
            json.dumps(
                {"kernel_websocket_connection_class": name, "nodelay": name == NODELAY_CLASS}
            )
        )


def _jupyter_server_extension_points():
    return [{"module": "lab8widgets.serverext"}]


def _load_jupyter_server_extension(serverapp) -> None:
    settings = serverapp.web_app.settings
    current = settings.get("kernel_websocket_connection_class")
    # a server that already chose a class of its own (gateway, another extension) keeps it
    if current in (None, ZMQChannelsWebsocketConnection):
        settings["kernel_websocket_connection_class"] = NoDelayKernelWebsocketConnection
        serverapp.kernel_websocket_connection_class = NoDelayKernelWebsocketConnection
        serverapp.log.info("lab8widgets: kernel websockets with TCP_NODELAY (%s)", NODELAY_CLASS)
    elif current is not NoDelayKernelWebsocketConnection:
        serverapp.log.info(
            "lab8widgets: keeping the configured kernel websocket class %s", current.__qualname__
        )
    route = url_path_join(serverapp.base_url, "lab8widgets", "status")
    serverapp.web_app.add_handlers(".*$", [(route, StatusHandler)])


# the names jupyter_server < 2 looked for (Notebook 6 servers)
load_jupyter_server_extension = _load_jupyter_server_extension
