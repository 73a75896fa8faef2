"""A forked kernel's stdout/stderr (``PromptOutStream``): a flush with nothing written since the last
one costs no hand-off to the IOPub thread (ipykernel flushes both streams after every message: four
hand-offs per drag step), and whatever was written still goes out, in order, on flush."""

from __future__ import annotations

import time

import pytest
import zmq
from ipykernel.iostream import IOPubThread
from jupyter_client.session import Session

from lab8widgets.server.outstream import PromptOutStream


@pytest.fixture
def stream():
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = ctx.socket(zmq.SUB)
    sub.connect(f"tcp://127.0.0.1:{port}")
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    thread = IOPubThread(pub)
    thread.start()
    session = Session(key=b"k")
    out = PromptOutStream(session, thread, "stdout", watchfd=False)
    time.sleep(0.2)  # the subscription reaches the PUB socket
    handed: list[object] = []
    schedule = thread.schedule
    thread.schedule = lambda f: (handed.append(f), schedule(f))[1]
    yield out, handed, sub, session
    thread.stop()
    out.close()
    thread.close()
    sub.close(linger=0)
    ctx.term()


def received(sub, session) -> list[str]:
    texts = []
    while sub.poll(500):
        _, parts = session.feed_identities(sub.recv_multipart())
        msg = session.deserialize(parts)
        if msg["msg_type"] == "stream":
            texts.append(msg["content"]["text"])
    return texts


def test_a_flush_with_nothing_written_hands_nothing_to_the_iopub_thread(stream):
    out, handed, sub, session = stream
    out.flush()
    out.flush()
    assert handed == []
    assert received(sub, session) == []


def test_what_was_written_goes_out_on_flush_in_order(stream):
    out, handed, sub, session = stream
    out.write("drag ")
    out.write("step\n")
    out.flush()  # waits for the IOPub thread: the text is out when it returns
    assert len(handed) >= 2
    assert received(sub, session) == ["drag step\n"]
    handed.clear()
    out.flush()  # sent already: nothing pending
    assert handed == []
    out.write("again")
    out.flush()
    assert received(sub, session) == ["again"]
