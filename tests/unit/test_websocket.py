"""The kernel websocket of `serve` and `lab8widgets.serverext`: a widget message's ``busy`` status
is held back, so JupyterLab does not redraw its kernel status for every widget message (the
round-trip cost measured by ``benchmarks/roundtrip_jupyterlab.py``), and nothing else changes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from jupyter_client.session import Session
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from lab8widgets.server import NoDelayKernelWebsocketConnection

IOPUB = SimpleNamespace(channel="iopub", closed=lambda: False)


@pytest.fixture
def conn(monkeypatch):
    """A connection whose stock path records what it would write to the page."""
    sent: list[tuple[str, str]] = []

    def stock(self, stream, msg_list):
        msg = self.session.deserialize(self.session.feed_identities(msg_list)[1])
        sent.append((msg["msg_type"], msg["content"].get("execution_state", "")))

    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "handle_outgoing_message", stock)
    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "disconnect", lambda self: None)
    c = NoDelayKernelWebsocketConnection(session=Session(key=b"secret"))
    c.comm_busy_delay = 0.05
    c.channels = {"iopub": IOPUB}
    c.sent = sent
    return c


def kernel_says(conn, msg_type: str, parent: dict, **content) -> None:
    """Feed one iopub message from the kernel, as its ZMQ stream would."""
    msg = conn.session.msg(msg_type, content=content, parent=parent)
    conn.handle_outgoing_message(IOPUB, conn.session.serialize(msg))


def request(conn, msg_type: str) -> dict:
    return conn.session.msg(msg_type, content={})


def test_a_quick_widget_message_never_shows_busy(conn):
    async def go():
        comm = request(conn, "comm_msg")
        kernel_says(conn, "status", comm, execution_state="busy")
        assert conn.sent == []  # held
        kernel_says(conn, "comm_msg", comm, data={"i": 1})
        kernel_says(conn, "status", comm, execution_state="idle")
        await asyncio.sleep(0.1)  # past the hold: the dropped busy does not come back

    asyncio.run(go())
    assert conn.sent == [("comm_msg", ""), ("status", "idle")]


def test_a_slow_widget_message_shows_busy_after_the_hold(conn):
    async def go():
        comm = request(conn, "comm_msg")
        kernel_says(conn, "status", comm, execution_state="busy")
        await asyncio.sleep(0.1)
        assert conn.sent == [("status", "busy")]
        kernel_says(conn, "status", comm, execution_state="idle")

    asyncio.run(go())
    assert conn.sent == [("status", "busy"), ("status", "idle")]


def test_cells_and_other_channels_are_untouched(conn):
    async def go():
        cell = request(conn, "execute_request")
        kernel_says(conn, "status", cell, execution_state="busy")
        kernel_says(conn, "stream", cell, name="stdout", text="hi")
        kernel_says(conn, "status", cell, execution_state="idle")
        comm = request(conn, "comm_msg")  # a reply on the shell channel is not a status
        msg = conn.session.msg("status", content={"execution_state": "busy"}, parent=comm)
        conn.handle_outgoing_message(SimpleNamespace(channel="shell"), conn.session.serialize(msg))

    asyncio.run(go())
    assert conn.sent == [("status", "busy"), ("stream", ""), ("status", "idle"), ("status", "busy")]


def test_the_hold_can_be_turned_off(conn):
    async def go():
        conn.comm_busy_delay = 0
        comm = request(conn, "comm_msg")
        kernel_says(conn, "status", comm, execution_state="busy")
        kernel_says(conn, "status", comm, execution_state="idle")

    asyncio.run(go())
    assert conn.sent == [("status", "busy"), ("status", "idle")]


def test_a_closed_page_gets_no_late_busy(conn):
    async def go():
        kernel_says(conn, "status", request(conn, "comm_msg"), execution_state="busy")
        conn.disconnect()
        await asyncio.sleep(0.1)

    asyncio.run(go())
    assert conn.sent == []
