"""The kernel websocket of ``serve`` and of ``lab8widgets.serverext``: TCP_NODELAY, and a widget
message's ``busy`` status held back (see ``NoDelayKernelWebsocketConnection``)."""

from __future__ import annotations

import logging

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from tornado.ioloop import IOLoop
from traitlets import Float

log = logging.getLogger("lab8widgets")

# the public name (users' configs and the README spell it so); the class lives in this module
NODELAY_CLASS = "lab8widgets.server.NoDelayKernelWebsocketConnection"


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
