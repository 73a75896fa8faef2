"""The kernel manager of ``serve``: Voila's, plus a culler that frees kernels no page holds any more
(a closed page, a killed browser, a tab left idle)."""

from __future__ import annotations

import time
from pathlib import Path

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Integer

KERNEL_MANAGER_CLASS = "lab8widgets.server.Lab8KernelManager"
CULL_IDLE = 1800  # seconds without any kernel message before a kernel is shut down (--cull-idle)
CULL_INTERVAL = 10  # seconds between checks
DISCONNECTED_GRACE = 45  # seconds a kernel may live with no page connected (Voila renders first)


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

    class_size = Integer(
        0,
        config=True,
        help="Learners expected at once (serve --class-size): the terminal says how many of their "
        "preheated kernels are ready whenever that changes (0: quiet).",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._unwatched_since: dict[str, float] = {}
        self._pool_report: PeriodicCallback | None = None
        self._reported: dict[str, tuple[int, int]] = {}

    def initialize_culler(self):
        """Start the periodic check even when idle culling is off (``--cull-idle 0``)."""
        if self.class_size > 0 and self._pool_report is None:
            self._pool_report = PeriodicCallback(self.report_pool, 1000)
            self._pool_report.start()
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

    def pool_counts(self) -> dict[str, tuple[int, int]]:
        """Per preheated notebook: (ready, kept). Ready: started, and its notebook executed as far
        as Voila's preheat runs it. Voila's preheat manager subclasses this class and keeps its
        pool in ``self._pools`` (a list of tasks per notebook); without preheat there is none."""
        counts = {}
        for notebook, pool in getattr(self, "_pools", {}).items():
            ready = 0
            for task in pool:
                if task.done() and not task.cancelled() and task.exception() is None:
                    render = task.result().get("task")
                    ready += render is None or render.done()
            counts[notebook] = (ready, len(pool))
        return counts

    def report_pool(self) -> None:
        """Say in the terminal how many kernels wait ready, when that changes."""
        counts = self.pool_counts()
        for notebook, (ready, kept) in counts.items():
            if self._reported.get(notebook) != (ready, kept):
                self.log.info(
                    "lab8widgets: %d of %d kernels ready for %s",
                    ready,
                    max(self.class_size, kept),
                    Path(notebook).name,
                )
        self._reported = counts
