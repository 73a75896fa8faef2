"""Kernels forked from a warm template (issue 22), through jupyter_client's kernel provisioning API.

``ForkProvisioner`` is jupyter_client's ``LocalProvisioner`` (ports, connection file, signals to the
process group, kill, wait: all its own code) with one change: ``launch_kernel`` asks the template
(``template.py``, one per server, started with the first kernel) to fork a child that becomes the
kernel, instead of starting a new Python that imports torch and fastai again. A learner's kernel
is then ready in well under a second and shares the template's memory copy-on-write.

It is registered as the entry point ``lab8-fork`` (group ``jupyter_client.kernel_provisioners``) and
chosen with ``--KernelProvisionerFactory.default_provisioner_name=lab8-fork`` (``serve --fork``,
``serve --class-size N``, the hub config). If the template cannot start, or a fork fails, the kernel
is launched as usual and the terminal says so once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from importlib.metadata import entry_points

from jupyter_client.provisioning import LocalProvisioner

log = logging.getLogger("lab8widgets")

PROVISIONER = "lab8-fork"  # its entry point's name
PROVISIONER_GROUP = "jupyter_client.kernel_provisioners"
FORK_SETTING = f"--KernelProvisionerFactory.default_provisioner_name={PROVISIONER}"
TEMPLATE_START_TIMEOUT = 300  # seconds; the template imports torch and fastai (~3 s on a quiet box)


def registered() -> bool:
    """Whether jupyter_client can find the ``lab8-fork`` provisioner (the package is installed with
    its entry points; an editable install made before they existed needs reinstalling)."""
    return bool(entry_points(group=PROVISIONER_GROUP, name=PROVISIONER))


_said: set[str] = set()


def say_once(message: str) -> None:
    """Print ``message`` to the terminal the first time only."""
    if message not in _said:
        _said.add(message)
        print(f"lab8widgets: {message}", file=sys.stderr, flush=True)


class Template:
    """The server's side of the template process: start it, ask it to fork, hear its children exit."""

    _shared: Template | None = None
    _lock = threading.Lock()

    def __init__(self):
        reply_r, reply_w = os.pipe()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lab8widgets.server.template", str(reply_w)],
            stdin=subprocess.PIPE,
            pass_fds=(reply_w,),
            start_new_session=True,  # a learner's Ctrl-C in serve's terminal is serve's alone
        )
        os.close(reply_w)
        self.replies = os.fdopen(reply_r, "rb")
        self.ready: Future = Future()
        self.waiting: list[Future] = []  # fork replies come in request order
        self.exit_codes: dict[int, int] = {}
        self.info: dict = {}
        self.send_lock = threading.Lock()
        threading.Thread(target=self._read, name="lab8-template", daemon=True).start()

    @classmethod
    def shared(cls) -> Template:
        """The server's one template, started on first use."""
        with cls._lock:
            if cls._shared is None or cls._shared.proc.poll() is not None:
                cls._shared = cls()
            return cls._shared

    def _read(self) -> None:
        for line in self.replies:
            msg = json.loads(line)
            if msg.get("ready"):
                self.info = msg
                self.ready.set_result(msg)
            elif "exited" in msg:
                self.exit_codes[msg["exited"]] = msg["code"]
            elif self.waiting:
                fut = self.waiting.pop(0)
                if "pid" in msg:
                    fut.set_result(msg["pid"])
                else:
                    fut.set_exception(RuntimeError(msg.get("error", "fork failed")))
        # the template is gone: nothing more will be forked
        err = RuntimeError(f"the kernel template exited (code {self.proc.wait()})")
        if not self.ready.done():
            self.ready.set_exception(err)
        while self.waiting:
            self.waiting.pop(0).set_exception(err)

    async def fork(self, argv: list[str], env: dict, cwd: str) -> int:
        """Fork a kernel running ``argv`` in ``cwd`` with ``env``; its pid."""
        await asyncio.wait_for(asyncio.wrap_future(self.ready), TEMPLATE_START_TIMEOUT)
        fut: Future = Future()
        line = json.dumps({"argv": argv, "env": env, "cwd": cwd}) + "\n"
        with self.send_lock:
            self.waiting.append(fut)
            try:
                self.proc.stdin.write(line.encode())
                self.proc.stdin.flush()
            except OSError as e:
                self.waiting.remove(fut)
                raise RuntimeError(f"the kernel template is gone: {e}") from e
        return await asyncio.wait_for(asyncio.wrap_future(fut), 60)

    def close(self) -> None:
        """Stop the template (its children, the kernels, get SIGTERM from it)."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class ForkedProcess:
    """What ``LocalProvisioner`` needs of a ``Popen`` for a kernel that is not our child: it is the
    template's, which reaps it and reports its exit status."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, template: Template):
        self.pid = pid
        self.template = template
        self.returncode: int | None = None
        try:
            self.pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self.pidfd = None  # before Linux 5.3: signal 0 says whether it still runs

    def _running(self) -> bool:
        if self.pidfd is not None:
            import select

            return not select.select([self.pidfd], [], [], 0)[0]
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return self.pid not in self.template.exit_codes

    def poll(self) -> int | None:
        if self.returncode is None and not self._running():
            # the template reports the status once it has reaped the child (within ~0.5 s)
            self.returncode = self.template.exit_codes.pop(self.pid, -9)
            if self.pidfd is not None:
                os.close(self.pidfd)
                self.pidfd = None
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        import signal

        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        import signal

        self.send_signal(signal.SIGTERM)


class ForkProvisioner(LocalProvisioner):
    """``LocalProvisioner`` whose kernels are forked from the warm template (see the module doc)."""

    forked = False  # whether this provisioner's current kernel came from the template

    async def launch_kernel(self, cmd: list[str], **kwargs):
        from .template import can_fork

        if not can_fork(cmd):
            say_once(f"kernel command {cmd[:3]} is not ipykernel's launcher: launching kernels")
            return await self._launch(cmd, **kwargs)
        env = dict(kwargs.get("env") or os.environ)
        if not kwargs.get("independent"):  # as jupyter_client's launcher: exit when serve does
            env["JPY_PARENT_PID"] = str(os.getpid())
        cwd = str(kwargs.get("cwd") or os.getcwd())
        try:
            template = Template.shared()
            pid = await template.fork(list(cmd), env, cwd)
        except Exception as e:  # any failure: launch as usual, and say so once
            say_once(f"forking kernels failed ({e}); launching kernels instead")
            return await self._launch(cmd, **kwargs)
        if not template.info.get("announced"):
            template.info["announced"] = True
            say_once(
                f"kernels are forked from a warm template (pid {template.info.get('pid')}, "
                f"imports took {template.info.get('import_s')} s)"
            )
        self.process = ForkedProcess(pid, template)
        self.pid = self.pgid = pid  # the child started a session of its own
        self.cwd = cwd
        self.forked = True
        return self.connection_info

    async def _launch(self, cmd: list[str], **kwargs):
        self.forked = False
        return await super().launch_kernel(cmd, **kwargs)

    async def get_provisioner_info(self) -> dict:
        info = await super().get_provisioner_info()
        info["forked"] = self.forked
        return info
