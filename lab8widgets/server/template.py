"""The warm template that learners' kernels are forked from (issue 22).

Run by ``serve`` as ``python -m lab8widgets.server.template REPLY_FD``. It imports what a lab's
kernel needs (torch, fastai, ipykernel, ipywidgets, bqplot and every lab in ``labs.LABS``) once,
starts no thread pool and opens no socket or zmq context, freezes its heap (``gc.freeze()``, so the
collector never writes to those pages and they stay shared copy-on-write), and then waits.

For each request (one JSON line on stdin: the kernel's ``argv``, ``env`` and ``cwd``) it forks. The
child starts a session of its own (so signals reach its process group, as for a launched kernel),
takes the request's working folder and environment, reseeds its random generators, applies the
environment's torch thread settings, and becomes an ordinary ipykernel on its own connection file,
exactly as ``python -m ipykernel_launcher -f FILE`` would. The template replies with the child's
pid, reaps children that exit and reports their exit status (JSON lines on ``REPLY_FD``); when
``serve`` goes away (stdin closes) it terminates its children and exits.

A child writes to the template's stdout and stderr, which are ``serve``'s: a forked kernel's
terminal output lands where a launched kernel's does.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import sys
import time

from .logs import skip_unlogged_records

LAUNCHER = ["-m", "ipykernel_launcher"]  # what a kernel spec's argv must say for us to fork it


def warm_up() -> dict:
    """Import everything a lab kernel imports; returns what it took (seconds, thread count)."""
    t0 = time.perf_counter()
    import bqplot  # noqa: F401
    import fastai.basics  # noqa: F401
    import ipykernel.ipkernel  # noqa: F401
    import ipykernel.kernelapp  # noqa: F401
    import ipywidgets  # noqa: F401
    import torch  # noqa: F401

    from .. import labs

    for lab in labs.LABS:
        lab.load()
    return {"import_s": round(time.perf_counter() - t0, 2), "threads": thread_count()}


def thread_count() -> int:
    """Threads of this process (a template must have one: a fork copies only the calling thread)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def can_fork(argv: list[str]) -> bool:
    """Whether a kernel command is the ipykernel launcher this template can become."""
    return len(argv) >= 3 and list(argv[1:3]) == LAUNCHER


def serve_requests(requests, reply_fd: int) -> dict:
    """Fork a child per request; returns (in the child only) the request it must run."""
    children: set[int] = set()

    def reply(**msg) -> None:
        os.write(reply_fd, (json.dumps(msg) + "\n").encode())

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            reply(exited=pid, code=os.waitstatus_to_exitcode(status))

    buffered = b""
    while True:
        ready, _, _ = select.select([requests], [], [], 0.5)
        reap()
        if not ready:
            continue
        chunk = os.read(requests.fileno(), 65536)
        if not chunk:  # serve went away: so do its kernels
            for pid in children:
                try:
                    os.killpg(pid, signal.SIGTERM)
                except OSError:
                    pass
            sys.exit(0)
        buffered += chunk
        while b"\n" in buffered:
            line, buffered = buffered.split(b"\n", 1)
            req = json.loads(line)
            if not can_fork(req.get("argv", [])):
                reply(error=f"not an ipykernel launcher command: {req.get('argv')}")
                continue
            pid = os.fork()
            if pid == 0:
                os.close(reply_fd)
                return req
            children.add(pid)
            reply(pid=pid)


def become_kernel(req: dict) -> None:
    """In the child: a session of its own, the request's folder and environment, then ipykernel."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the template's stdin is serve's request pipe
    os.close(null)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.chdir(req.get("cwd") or os.getcwd())
    os.environ.clear()
    os.environ.update(req.get("env") or {})
    reseed()
    thread_settings(os.environ)
    args = list(req["argv"][3:])
    parent = os.environ.get("JPY_PARENT_PID", "")
    if parent.isdigit():  # ipykernel read it at import, in the template: give it the kernel's
        args.append(f"--IPKernelApp.parent_handle={parent}")
    from .outstream import OUTSTREAM_CLASS

    if not any("outstream_class" in a for a in args):
        args.append(f"--IPKernelApp.outstream_class={OUTSTREAM_CLASS}")
    sys.argv = [req["argv"][0], *args]
    from ipykernel import kernelapp

    app = kernelapp.IPKernelApp.instance()
    app.initialize(args)
    skip_unlogged_records(app.log, app.log_level)
    import_time_hooks()
    app.start()


def import_time_hooks() -> None:
    """What the template's imports would have done inside a kernel: ipywidgets registers its comm
    targets (``jupyter.widget`` and ``jupyter.widget.control``) at import when it finds a running
    IPython, which the template has not. Without them the page's widget manager cannot ask for
    every widget's state in one message (``request_states``) and falls back to one request per
    widget, and a widget opened from the front end finds no target."""
    import ipywidgets

    ipywidgets.register_comm_target()


def reseed() -> None:
    """Fresh random state per kernel (every child would otherwise draw the template's numbers:
    the same dropout masks and initial weights for every learner)."""
    import random

    import numpy as np
    import torch

    random.seed()
    np.random.seed()
    torch.seed()


def thread_settings(env) -> None:
    """The thread counts a kernel launched with ``env`` would start with. The template imported
    torch under ``serve``'s environment, and numpy and scipy with one BLAS thread (their OpenBLAS
    pools start threads at import, and a fork copies only the calling thread): each library reads
    its variables here as it would have at start."""
    import torch
    from threadpoolctl import threadpool_limits

    omp = _count(env, "OMP_NUM_THREADS")
    if omp:
        torch.set_num_threads(omp)
    blas = _count(env, "OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
    threadpool_limits(limits=blas or len(os.sched_getaffinity(0)), user_api="blas")


def _count(env, *names: str) -> int:
    """The first of ``names`` set to a positive whole number in ``env`` (0 when none is)."""
    for name in names:
        value = env.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 0


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    reply_fd = int(argv[0])
    if sys.path and (sys.path[0] == "" or os.path.abspath(sys.path[0]) == os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does; IPython puts the kernel's folder back
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # no BLAS pool in the template (see thread_settings)
    info = warm_up()
    gc.collect()
    gc.freeze()  # from here the collector leaves the template's objects (and their pages) alone
    os.write(reply_fd, (json.dumps({"ready": True, **info, "pid": os.getpid()}) + "\n").encode())
    req = serve_requests(sys.stdin.buffer, reply_fd)
    become_kernel(req)  # only a child gets here; it exits as any kernel process does


if __name__ == "__main__":
    main()
