"""A Jupyter server extension: the labs' low-latency kernel websocket in JupyterLab, Notebook 7 and
JupyterHub's single-user servers.

Stock jupyter_server writes each kernel message to the browser with Nagle's algorithm on, so a
widget round trip waits ~40 ms on the browser's delayed ACK. ``lab8widgets serve`` turns it off;
this extension does the same in any Jupyter server once enabled. ``pip install lab8widgets`` enables
it (``jupyter-config/jupyter_server_config.d/lab8widgets.json``, like Voila's own); by hand:

    jupyter server extension enable lab8widgets.serverext

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
