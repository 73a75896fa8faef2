"""What every lab shares: checked keyword arguments, an error banner, a busy state and a
background runner with a working Stop, so each lab only wires its own model to its own views."""

from __future__ import annotations

import atexit
import html
import logging
import os
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

import ipywidgets as W
import traitlets

from ..lesson import parts_for
from ..views.sections import SectionRouter

log = logging.getLogger("lab8widgets")

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "lab8.css"


class LabInputError(ValueError):
    """Bad input from the learner or the Python API; its text is shown in the widget as is."""


def reject_unknown(owner: str, kwargs: dict[str, Any], allowed: Iterable[str] = ()) -> None:
    """Raise a TypeError naming unknown keyword arguments (lonboard-style), so typos don't pass silently."""
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        expected = ", ".join(sorted(allowed)) or "none"
        raise TypeError(
            f"{owner}() got unexpected keyword argument(s) {names}; expected: {expected}"
        )


_LIVE_TASKS: weakref.WeakSet[BackgroundTask] = weakref.WeakSet()
EXIT_JOIN_SECONDS = 30.0


@atexit.register
def stop_tasks_at_exit() -> None:
    """Stop every running task and wait for it before the interpreter tears down.

    A task is a daemon thread so it never keeps a kernel alive, but a daemon thread still inside
    torch when the interpreter finalises aborts the process ("terminate called without an active
    exception", exit code 134): a script that ends while ``lab.time_paths()`` or ``lab.fit(wait=False)``
    runs must exit cleanly instead. atexit runs after Python's own join of non-daemon threads."""
    tasks = [t for t in list(_LIVE_TASKS) if t.running]
    for task in tasks:
        task.stop()
    deadline = time.monotonic() + EXIT_JOIN_SECONDS
    for task in tasks:
        task.join(max(0.0, deadline - time.monotonic()))


class BackgroundTask:
    """Long work in a thread, so the kernel keeps answering the page (Stop, sliders) while it runs.

    ``fn(task)`` checks ``task.stopped`` between short steps and calls ``task.report(fraction, text)``.
    Tasks still running when the interpreter exits are stopped and joined (``stop_tasks_at_exit``).
    """

    def __init__(self, lab: LabBase, fn: Callable[[BackgroundTask], Any], on_done=None):
        self.lab = lab
        self.fn = fn
        self.on_done = on_done
        self._stop = threading.Event()
        self.result: Any = None
        self.exception: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="lab8widgets-task")
        _LIVE_TASKS.add(self)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()

    def report(self, fraction: float, text: str = "") -> None:
        self.lab.progress = float(min(max(fraction, 0.0), 1.0))
        if text:
            self.lab.status = text

    def join(self, timeout: float | None = None) -> bool:
        self.thread.join(timeout)
        return not self.thread.is_alive()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def _run(self) -> None:
        try:
            self.result = self.fn(self)
        except LabInputError as e:
            self.exception = e
            self.lab.error = str(e)
        except Exception as e:
            # a bug or a library error: show a message, keep the traceback in the log
            self.exception = e
            log.error("background task failed:\n%s", traceback.format_exc())
            self.lab.error = f"{type(e).__name__}: {e}"
        finally:
            self.lab.busy = False
            if self.on_done is not None:
                try:
                    self.on_done(self)
                except Exception:
                    log.error("on_done failed:\n%s", traceback.format_exc())


class LabBase(W.VBox):
    """A lab: title and data source on top, an error banner, a progress row with Stop, then the body.

    Subclasses put their views in ``self.body.children`` and use ``with self.guard():`` around
    front-end callbacks, so bad input becomes a message and the last good state stays on screen.
    """

    title = traitlets.Unicode("")
    source = traitlets.Unicode("")
    error = traitlets.Unicode("")
    busy = traitlets.Bool(False)
    progress = traitlets.Float(0.0)
    status = traitlets.Unicode("")

    def __init__(self, title: str = "", **kwargs: Any):
        reject_unknown(type(self).__name__, kwargs)
        super().__init__()
        self.add_class("lab8-lab")
        self._task: BackgroundTask | None = None
        self.header = W.HTML(layout=W.Layout(flex="1 1 auto", min_width="0"))
        self.header.add_class("lab8-header")
        # The banner's row is always there, so showing a message never moves or hides the views
        # (a drawing stroke or a drag in progress must keep landing on the same cells).
        self.banner = W.HTML(layout=W.Layout(min_height="32px", margin="0"))
        self.banner.add_class("lab8-error")
        self._progress_bar = W.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=W.Layout(width="160px")
        )
        self._progress_bar.add_class("lab8-progress")
        self._status_label = W.Label("")
        self._status_label.add_class("lab8-status")
        self.stop_button = W.Button(
            description="■ Stop", button_style="warning", layout=W.Layout(width="80px")
        )
        self.stop_button.add_class("lab8-stop")
        self.stop_button.on_click(lambda _b: self.stop())
        self.busy_row = W.HBox(
            [self._progress_bar, self.stop_button, self._status_label],
            # always laid out, only hidden: showing it never moves the controls under the pointer
            layout=W.Layout(
                visibility="hidden", align_items="center", gap="8px", min_height="32px"
            ),
        )
        # The busy row sits at the right of the title's line (static/lab8.css places it there, in
        # room the title leaves free); only the banner's row (reserved, one line) stays between
        # header and body: two reserved rows under the header made an empty band of ~80 px.
        # Its width is fixed, so a changing status text never moves anything.
        self.busy_row.add_class("lab8-busy")
        self.busy_row.layout.width = "360px"
        self._status_label.layout = W.Layout(flex="1 1 0", min_width="0")
        self.header_row = W.HBox(
            [self.header, self.busy_row],
            layout=W.Layout(flex_flow="row nowrap", align_items="flex-start", margin="0"),
        )
        self.header_row.add_class("lab8-header-row")
        self.body = W.VBox()
        self.body.add_class("lab8-body")
        self._style = W.HTML(f"<style>{_stylesheet()}</style>", layout=W.Layout(display="none"))
        # named sections (the lesson map links to them as #lab8-<name>); hidden, it only routes
        self.router = SectionRouter()
        self.children = [self._style, self.router, self.header_row, self.banner, self.body]
        self.title = title
        self._render_header()
        self._render_banner()

    # --- header, banner, busy row -------------------------------------------------------------
    @traitlets.observe("title", "source")
    def _on_header(self, _change=None) -> None:
        self._render_header()

    def _render_header(self) -> None:
        if not hasattr(self, "header"):
            return
        src = f'<div class="lab8-source" style="color:#555;font-size:12px">Data: {html.escape(self.source)}</div>'
        self.header.value = (
            self._index_link()
            + f'<h3 style="margin:4px 0">{html.escape(self.title)}</h3>'
            + (src if self.source else "")
            + self._lesson_line()
        )

    @property
    def lab_name(self) -> str:
        """This lab's name in the registry (``labs.py``), or "" for a class that is not registered."""
        from ..labs import LABS

        return next((lab.name for lab in LABS if lab.class_name == type(self).__name__), "")

    def _lesson_line(self) -> str:
        """The parts of Lesson 8 this lab shows, each a link to its section on this page."""
        parts = parts_for(self.lab_name)
        if not parts:
            return ""
        links = " · ".join(
            f'<a href="#lab8-{html.escape(p.section)}" style="color:#1565c0">'
            f"{html.escape(p.time)} {html.escape(p.title)}</a>"
            for p in parts
        )
        return f'<div class="lab8-lesson" style="font-size:12px;color:#555">In the lesson: {links}</div>'

    # --- sections: where the lesson map's links land --------------------------------------------
    @property
    def sections(self) -> tuple[str, ...]:
        """The names of this page's sections (``show_section`` opens one; ``#lab8-<name>`` links)."""
        return self.router.names

    def add_section(self, name: str, widget: W.Widget, opener: Callable[[], None] | None = None):
        """Name ``widget`` as section ``name``; ``opener`` shows it (selects its tab or view)."""
        self.router.add(name, widget, opener)

    def section_widget(self, name: str) -> W.Widget:
        """The widget where section ``name`` starts (KeyError naming the sections when unknown)."""
        return self.router.widget(name)

    def show_section(self, name: str) -> None:
        """Open section ``name`` (select the tab or view that holds it) and scroll the page to it."""
        self.router.show(name)

    def _index_link(self) -> str:
        """ "← all labs" when ``lab8widgets serve`` shows the lab folder (it sets LAB8WIDGETS_INDEX)."""
        url = os.environ.get("LAB8WIDGETS_INDEX", "")
        if not url or getattr(self, "is_index", False):
            return ""
        return (
            f'<a class="lab8-back" href="{html.escape(url)}" '
            'style="font-size:12px;color:#1565c0;text-decoration:underline">← all labs</a>'
        )

    @traitlets.observe("error")
    def _on_error(self, _change=None) -> None:
        self._render_banner()

    def _render_banner(self) -> None:
        if not hasattr(self, "banner"):
            return
        if self.error:
            self.banner.value = (
                '<div role="alert" style="background:#fdecea;color:#8a1c1c;'
                "border:1px solid #f5c2c0;padding:3px 10px;border-radius:4px;font-size:13px;"
                'line-height:22px">'
                f"⚠ {html.escape(self.error)}</div>"
            )
        else:
            self.banner.value = ""

    @traitlets.observe("busy", "progress", "status")
    def _on_busy(self, _change=None) -> None:
        self.busy_row.layout.visibility = "visible" if self.busy else "hidden"
        self._progress_bar.value = self.progress
        self._status_label.value = self.status
        self._status_label.tooltip = self.status  # the whole text on hover where the row cuts it

    # --- errors -------------------------------------------------------------------------------
    def fail(self, message: str) -> None:
        """Show ``message`` in the banner; the views keep their last good state."""
        self.error = message

    def clear_error(self) -> None:
        self.error = ""

    @contextmanager
    def guard(self, clear: bool = True):
        """Run a front-end callback: bad input becomes the banner text instead of a traceback.

        With ``clear`` the banner is cleared as the callback starts, so a success clears an old
        message while a message the callback itself shows (``fail``, a diverged run) stays."""
        if clear:
            self.error = ""
        try:
            yield
        except (LabInputError, ValueError, TypeError, KeyError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            self.error = str(msg)
        except Exception as e:
            log.error("lab callback failed:\n%s", traceback.format_exc())
            self.error = f"{type(e).__name__}: {e}"

    @contextmanager
    def api(self):
        """Run a Python API call: bad input shows the same banner text as a gesture, then raises.

        The banner clears as the call starts (a success clears an old message; a message the call
        itself shows, such as a diverged run's, stays)."""
        self.error = ""
        try:
            yield
        except (LabInputError, ValueError, TypeError, KeyError) as e:
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            self.error = str(msg)
            raise

    # --- following lab.model --------------------------------------------------------------------
    def follow_model(self, check: Callable[[], None]) -> None:
        """Call ``check()`` after every notebook cell, so a change made to ``lab.model`` in a cell is
        picked up (``check`` compares what it last drew with the model and redraws if needed)."""
        try:
            from IPython import get_ipython
        except ImportError:  # pragma: no cover - IPython ships with ipywidgets
            return
        ip = get_ipython()
        if ip is None or not hasattr(ip, "events"):
            return
        ref = weakref.WeakMethod(check) if hasattr(check, "__self__") else (lambda: check)

        def after_execute(*_args):
            fn = ref()
            if fn is None:
                ip.events.unregister("post_execute", after_execute)
                return
            with self.guard(clear=False):
                fn()

        ip.events.register("post_execute", after_execute)

    # --- background work ----------------------------------------------------------------------
    def run_task(self, fn: Callable[[BackgroundTask], Any], on_done=None) -> BackgroundTask:
        """Start ``fn`` in a thread; refuses to start a second one while the first runs."""
        if self._task is not None and self._task.running:
            raise LabInputError(
                "Still busy with the previous run: press Stop or wait for it to finish."
            )
        self.error = ""
        self.progress = 0.0
        self.busy = True
        task = BackgroundTask(self, fn, on_done)
        self._task = task
        task.thread.start()
        return task

    def stop(self) -> None:
        """Ask the running task to stop after its current step."""
        if self._task is not None:
            self._task.stop()
            self.status = "stopping…"

    def run_and_wait(
        self, fn: Callable[[BackgroundTask], Any], wait: bool = True
    ) -> BackgroundTask:
        """``run_task(fn)``; with ``wait``, block until it ends (Ctrl-C stops it first) and raise
        what it raised, so a blocking API call (``lab.fit``) reports errors as exceptions."""
        task = self.run_task(fn)
        if wait:
            try:
                self.wait()
            except KeyboardInterrupt:
                self.stop()
                self.wait()
                raise
            if task.exception is not None:
                raise task.exception
        return task

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background task ends (tests and scripts); True when it has."""
        if self._task is None:
            return True
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._task.running:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            self._task.join(0.05 if left is None else min(0.05, left))
        return True


def api_call(method: Callable) -> Callable:
    """Decorator for a lab's public methods: one error path with the gestures (see ``LabBase.api``)."""

    @wraps(method)
    def wrapper(self: LabBase, *args: Any, **kwargs: Any) -> Any:
        with self.api():
            return method(self, *args, **kwargs)

    return wrapper


_CSS_CACHE: list[str] = []


def _stylesheet() -> str:
    """The one stylesheet every lab shares (``static/lab8.css``), read once per process."""
    if not _CSS_CACHE:
        _CSS_CACHE.append(STYLESHEET.read_text(encoding="utf-8") if STYLESHEET.exists() else "")
    return _CSS_CACHE[0]
