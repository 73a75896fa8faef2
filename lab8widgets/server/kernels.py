"""The kernel manager of ``serve``: Voila's, plus a culler that frees kernels no page holds any more
(a closed page, a killed browser, a tab left idle)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from tornado.ioloop import PeriodicCallback
from traitlets import Float, Integer

KERNEL_MANAGER_CLASS = "lab8widgets.server.Lab8KernelManager"
CULL_IDLE = 1800  # seconds without any kernel message before a kernel is shut down (--cull-idle)
CULL_INTERVAL = 10  # seconds between checks
DISCONNECTED_GRACE = 45  # seconds a kernel may live with no page connected (Voila renders first)
REFILL_QUIET = 1.0  # seconds without a message from any learner's kernel before a refill starts
REFILL_MAX_WAIT = 30  # seconds a refill waits for that quiet at most (a class may never pause)
PREHEAT_RENDER_TIMEOUT = 120  # seconds a preheating notebook may hold the turn of the next one
PREHEAT_ENV = "VOILA_PREHEAT"  # set to "True" by Voila in a preheated kernel's environment


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

    refill_quiet = Float(
        REFILL_QUIET,
        config=True,
        help="A preheated kernel (a refill of the pool) starts only once no learner's kernel has "
        "sent a message for this many seconds, so its notebook does not run while learners drag "
        "(0: start at once).",
    )

    refill_max_wait = Float(
        REFILL_MAX_WAIT,
        config=True,
        help="Seconds a refill waits at most for that quiet before it starts anyway.",
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._preheat_turn: asyncio.Lock | None = None
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

    async def start_kernel(self, *args, **kwargs):
        """Start a kernel; a preheated one (Voila's pool, initial fill or refill) only in its turn.

        Voila refills every kernel its pool lost at once, ``fill_delay`` seconds after a class took
        them, and each runs its lab's notebook in the kernel and renders it in this server's event
        loop, which also carries every learner's widget messages. So preheated kernels start one at
        a time (the next once the last one's notebook has run), and each waits until the learners'
        kernels have been quiet for ``refill_quiet`` s (at most ``refill_max_wait`` s).
        """
        if (kwargs.get("env") or {}).get(PREHEAT_ENV) != "True":
            return await super().start_kernel(*args, **kwargs)
        if self._preheat_turn is None:
            self._preheat_turn = asyncio.Lock()
        await self._preheat_turn.acquire()
        try:
            await self.wait_for_quiet()
            kernel_id = await super().start_kernel(*args, **kwargs)
        except BaseException:
            self._preheat_turn.release()
            raise
        asyncio.ensure_future(self._end_turn_when_rendered(kernel_id))
        return kernel_id

    def pooled(self) -> dict[str, list[dict]]:
        """Per preheated notebook, the started kernels waiting in Voila's pool (no learner has
        them yet): Voila's ``{"kernel_id", "task", "renderer"}`` for each. Voila's preheat manager
        subclasses this class and keeps its pool in ``self._pools`` (a list of tasks per notebook,
        each done once its kernel started); without preheat there is none."""
        return {
            notebook: [
                task.result()
                for task in pool
                if task.done() and not task.cancelled() and task.exception() is None
            ]
            for notebook, pool in getattr(self, "_pools", {}).items()
        }

    def pooled_kernel_ids(self) -> set[str]:
        """Kernels waiting in Voila's preheat pool (no learner has them yet)."""
        return {item.get("kernel_id") for items in self.pooled().values() for item in items}

    def learners_busy(self) -> bool:
        """Whether a learner's kernel (one not in the pool) sent a message in the last
        ``refill_quiet`` seconds."""
        pooled = self.pooled_kernel_ids()
        now = time.time()
        for kernel_id in self.list_kernel_ids():
            if kernel_id in pooled:
                continue
            try:
                last = getattr(self.get_kernel(kernel_id), "last_activity", None)
            except KeyError:  # shut down meanwhile
                continue
            if last is not None and now - last.timestamp() < self.refill_quiet:
                return True
        return False

    async def wait_for_quiet(self) -> None:
        """Wait until the learners' kernels are quiet (``learners_busy``), ``refill_max_wait`` s
        at most."""
        deadline = time.monotonic() + self.refill_max_wait
        while self.refill_quiet > 0 and time.monotonic() < deadline and self.learners_busy():
            await asyncio.sleep(0.25)

    async def _end_turn_when_rendered(self, kernel_id: str) -> None:
        """Give the next preheated kernel its turn once this one's notebook has run (or a learner
        took it, or ``PREHEAT_RENDER_TIMEOUT`` passed)."""
        deadline = time.monotonic() + PREHEAT_RENDER_TIMEOUT
        try:
            render = None
            for _ in range(40):  # Voila makes the render task right after the start returns
                render = self.preheat_render(kernel_id)
                if render is not None:
                    break
                await asyncio.sleep(0.05)
            if render is not None:
                remaining = max(deadline - time.monotonic(), 0)
                await asyncio.wait([render], timeout=remaining)
        finally:
            self._preheat_turn.release()

    def preheat_render(self, kernel_id: str) -> asyncio.Task | None:
        """Voila's task running ``kernel_id``'s notebook while it waits in the pool (None once a
        learner took it, or before Voila made it)."""
        for items in self.pooled().values():
            for item in items:
                if item.get("kernel_id") == kernel_id:
                    return item.get("task")
        return None

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
        as Voila's preheat runs it."""
        pooled = self.pooled()
        counts = {}
        for notebook, pool in getattr(self, "_pools", {}).items():
            ready = sum(
                item.get("task") is None or item["task"].done() for item in pooled[notebook]
            )
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
