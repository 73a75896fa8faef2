"""A served notebook open in Chromium: the gestures learners make, and the page's own kernel.

``PageOpener.open(target)`` serves ``target`` (a lab name or a path to a .ipynb) with the settings
of ``lab8widgets serve``, opens a fresh 1280×800 page, waits for it to render and returns a
``LabPage``. The opener collects what must fail a test: console errors, tracebacks on the page and
requests that leave the machine (a served lab must work offline).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from .server import Kernel, Server, notebook_error, page_kernel_file

IGNORED_CONSOLE = [re.compile(p) for p in (r"favicon\.ico", r"Download the React DevTools")]
# Stock Voila's lab template links Font Awesome from a CDN; offline that request fails. `serve` uses
# the project's template without those links, so this is forgiven for stock servers only, and a
# served lab that asks for anything off this machine fails its test.
IGNORED_URLS = [re.compile(r"cdn\.jsdelivr\.net/npm/@fortawesome/")]
# Front-end version skew we ship with, and why it is allowed (issue 24 item 6). Voila 0.5.13's page
# is JupyterLab 4.2.5 (services 7.2.5, coreutils 6.2.5); the widget extensions it loads were built
# against newer JupyterLab: jupyterlab_widgets 3.0.17 (what ipywidgets 8.1.9 requires) against 4.6.2,
# and Voila's own widgets-manager8 0.5.13 against 4.5.10. Webpack's module federation then warns
# once per shared module and uses the page's copy; every lab's e2e test passes on it. No release of
# Voila 0.5 ships a newer JupyterLab, and our own front end (js/, esbuild bundles) shares no module,
# so nothing in this repository can make them agree. Exactly these warnings are allowed; any other
# "Unsatisfied version" or "No satisfying version" warning fails a browser test.
_SKEW = {
    "4.2.5": {
        "^4.6.2": ("console", "logconsole", "mainmenu", "notebook", "rendermime",
                   "settingregistry", "translation"),
        "^4.5.10": ("rendermime", "statedb"),
    },
    "7.2.5": {"^7.6.2": ("services",), "^7.5.10": ("services",)},
    "6.2.5": {"^6.5.10": ("coreutils",)},
}  # fmt: skip
ALLOWED_VERSION_WARNINGS = frozenset(
    f"Unsatisfied version {have} from _JUPYTERLAB.CORE_OUTPUT of shared singleton module "
    f"@jupyterlab/{module} (required {need})"
    for have, needs in _SKEW.items()
    for need, modules in needs.items()
    for module in modules
) | {
    "No satisfying version (^4.6.2) of shared module @jupyterlab/outputarea found in shared scope "
    "default.\nAvailable versions: 4.2.5 from _JUPYTERLAB.CORE_OUTPUT"
}
VERSION_WARNING = re.compile(r"^(Unsatisfied version|No satisfying version)")
LOCAL = ("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")
TRACEBACK_MARKS = ("Traceback (most recent call last)", "There was an error when executing cell")

# centre of cell (row, col) of the HeatmapGrid under `sel` (the grid's root or an ancestor of it)
_CELL_XY = """([sel, r, c]) => {
  const root = document.querySelector(sel);
  if (!root) throw new Error('no element matches ' + sel);
  const g = root.matches('.lab8-grid') ? root : root.querySelector('.lab8-grid');
  if (!g) throw new Error('no HeatmapGrid (.lab8-grid) in ' + sel);
  const cv = g.querySelector('canvas');
  const b = cv.getBoundingClientRect();
  const cell = cv.clientWidth / +g.dataset.cols;
  return [b.left + cv.clientLeft + (c + 0.5) * cell, b.top + cv.clientTop + (r + 0.5) * cell];
}"""


class PageWatch:
    """What a page did that fails a test by default, recorded as it happens: console errors,
    uncaught page errors and front-end version warnings other than ``ALLOWED_VERSION_WARNINGS``
    (``console_errors``) and requests that leave the machine (``external_requests``). Used for served labs and for any other page a test opens (JupyterLab,
    Notebook 7, a hub); each caller names what it forgives:

    - ``forgive_console``: regexes; a console error whose text or source URL matches is not kept;
    - ``forgive_urls``: regexes; a request to a matching URL is not kept (nor the console error
      its failure logs);
    - ``forgive_pageerrors``: regexes matched against a page error's message and stack;
    - ``local=False``: requests off the machine are not kept at all (stock Voila's CDN links).
    """

    def __init__(
        self,
        page,
        *,
        local: bool = True,
        forgive_console=(),
        forgive_urls=(),
        forgive_pageerrors=(),
    ):
        self.console_errors: list[str] = []
        self.external_requests: list[str] = []
        self._console = [*IGNORED_CONSOLE, *map(_pattern, forgive_console)]
        self._urls = [*map(_pattern, forgive_urls)]
        self._pageerrors = [*map(_pattern, forgive_pageerrors)]
        self._local = local
        page.on("console", self._on_console)
        page.on("pageerror", self._on_pageerror)
        page.on("request", self._on_request)

    def _on_console(self, msg) -> None:
        if msg.type == "warning" and VERSION_WARNING.match(msg.text):
            if msg.text not in ALLOWED_VERSION_WARNINGS:
                self.console_errors.append(f"version skew: {msg.text}")
            return
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        if any(p.search(msg.text) or (url and p.search(url)) for p in self._console):
            return
        if url and any(p.search(url) for p in self._urls):
            return
        self.console_errors.append(msg.text)

    def _on_pageerror(self, exc) -> None:
        text = f"{exc}\n{getattr(exc, 'stack', '') or ''}".strip()
        if not any(p.search(text) for p in self._pageerrors):
            self.console_errors.append(f"pageerror: {text}"[:1500])

    def _on_request(self, req) -> None:
        if self._local and not req.url.startswith(LOCAL):
            if not any(p.search(req.url) for p in self._urls):
                self.external_requests.append(req.url)


def _pattern(p) -> re.Pattern:
    return p if isinstance(p, re.Pattern) else re.compile(p)


def resolve_target(target: str | Path | None, base: Path | None = None) -> str | None:
    """A lab name as is; a notebook path made absolute (relative to ``base`` when it is there)."""
    if target is None:
        return None
    text = str(target)
    if not text.endswith(".ipynb"):
        return text
    p = Path(text).expanduser()
    if not p.is_absolute() and base is not None and (base / p).is_file():
        p = base / p
    return str(p.resolve())


class LabPage:
    """One page of a served notebook, with the page's own kernel one call away."""

    def __init__(self, page, server, kernel: Kernel, watch: PageWatch | None = None):
        self.page = page
        self.server = server  # a Server, or whatever served the page (JupyterLab, a hub)
        self.url = page.url
        self._kernel = kernel
        watch = watch or PageWatch(page)
        self.console_errors = watch.console_errors
        self.external_requests = watch.external_requests

    # --- the kernel -------------------------------------------------------------------------------
    def kernel(self, expr: str, timeout: float = 60):
        """The value of ``expr`` in the page's kernel (plain Python data, through its repr)."""
        return self._kernel.eval(expr, timeout=timeout)

    def run(self, code: str, timeout: float = 60) -> None:
        """Execute statements in the page's kernel, as a notebook user would in a cell."""
        self._kernel.run(code, timeout=timeout)

    def close(self) -> None:
        """Disconnect from the kernel (which the server keeps or culls) and close the page's
        browser context."""
        self._kernel.close()
        self.page.context.close()

    def wait_kernel(
        self, expr: str, want=None, *, until=None, timeout: float = 30.0, every: float = 0.1
    ):
        """Poll ``expr`` every ``every`` seconds until it equals ``want`` (or ``until(value)`` is
        true): gestures reach Python asynchronously. Returns the value; AssertionError with the
        last value on timeout."""
        ok = until if until is not None else (lambda v: v == want)
        deadline = time.monotonic() + timeout
        got = None
        while True:
            got = self.kernel(expr)
            if ok(got):
                return got
            if time.monotonic() > deadline:
                expected = f"expected {want!r}" if until is None else "the condition never held"
                raise AssertionError(f"{expr} = {got!r} after {timeout:.0f} s, {expected}")
            time.sleep(every)

    # --- gestures ---------------------------------------------------------------------------------
    def cell_xy(self, grid: str, row: int, col: int) -> tuple[float, float]:
        """Page coordinates of a HeatmapGrid cell's centre (``grid``: a CSS selector for it)."""
        canvas = self.page.locator(f"{grid} canvas").first
        canvas.wait_for(state="visible")
        canvas.scroll_into_view_if_needed()  # a lab below the fold (a notebook's later cell)
        x, y = self.page.evaluate(_CELL_XY, [grid, row, col])
        return x, y

    def click_cell(self, grid: str, row: int, col: int) -> None:
        self.page.mouse.click(*self.cell_xy(grid, row, col))

    def drag_cell(self, grid: str, row: int, col: int, steps: int) -> None:
        """Drag an editable HeatmapGrid cell up by ``steps`` of its ``step`` (down if negative),
        moving the mouse 4 px per step as a learner would, in small moves."""
        x, y = self.cell_xy(grid, row, col)
        page = self.page
        page.mouse.move(x, y)
        page.mouse.down()
        sign = 1 if steps >= 0 else -1
        for k in range(1, abs(steps) + 1):
            page.mouse.move(x, y - sign * 4 * k)
            page.wait_for_timeout(20)
        page.mouse.up()

    def type_cell(self, grid: str, row: int, col: int, text: str) -> None:
        """Double-click a HeatmapGrid cell, type ``text`` and press Enter (Python checks it)."""
        x, y = self.cell_xy(grid, row, col)
        self.page.mouse.dblclick(x, y)
        box = self.page.locator(f"{grid} input.lab8-grid-input")
        box.fill(str(text))
        box.press("Enter")

    def enter(self, selector: str, text) -> None:
        """Type ``text`` into the input (or textarea) in ``selector`` and press Enter, as a
        learner commits a number box or a text field."""
        box = self.page.locator(selector)
        inner = box.locator("input, textarea")
        if inner.count():  # a widget's box: its one input
            box = inner
        box.fill(str(text))
        box.press("Enter")

    def refuses(self, selector: str, text, says: str, keeps: str, timeout: float = 10) -> None:
        """Enter ``text`` in the field ``selector`` and wait until the lab's banner says ``says``
        and the field shows ``keeps`` again (its last good value): bad input refused, nothing lost."""
        self.enter(selector, text)
        self.page.wait_for_selector(f".lab8-error:has-text({says!r})", timeout=timeout * 1000)
        self.page.wait_for_function(
            "([sel, v]) => document.querySelector(sel).value === v",
            arg=[f"{selector} input", keeps],
            timeout=timeout * 1000,
        )

    def click_button(self, label: str, within: str = "body") -> None:
        """Click the button (ipywidgets Button or ToggleButtons option) whose text is ``label``."""
        buttons = self.page.locator(within).get_by_role("button", name=label, exact=True)
        n = buttons.count()
        if n != 1:
            labels = self.page.locator(within).get_by_role("button").all_inner_texts()
            raise AssertionError(
                f"{n} buttons labelled {label!r} in {within} (pass within= to pick one); "
                f"the buttons there: {[t.strip() for t in labels]}"
            )
        buttons.click()

    def brush(
        self,
        figure: str,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        moves: int = 8,
        pause_ms: float = 0,
    ) -> dict:
        """Drag a rectangle on a bqplot figure (``figure``: a CSS selector for its container) from
        (x0, y0) to (x1, y1), given as fractions of the plot area (0, 0 is its top left), in
        ``moves`` mouse moves ``pause_ms`` apart (a hand's pace). Returns the plot area's box
        (page pixels: x, y, width, height), so a test can say where it brushed."""
        area = self.page.locator(
            f"{figure} svg.svg-figure .plotarea_events, {figure} svg.svg-figure rect.plotarea_background"
        ).first
        area.wait_for(state="visible")
        box = area.bounding_box()
        page = self.page

        def at(fx: float, fy: float) -> tuple[float, float]:
            return box["x"] + fx * box["width"], box["y"] + fy * box["height"]

        page.mouse.move(*at(x0, y0))
        page.mouse.down()
        for i in range(1, moves + 1):
            t = i / moves
            page.mouse.move(*at(x0 + t * (x1 - x0), y0 + t * (y1 - y0)))
            if pause_ms:
                page.wait_for_timeout(pause_ms)
        page.mouse.up()
        return box

    def banner(self, within: str = "body") -> str:
        """The text of the labs' error banners (``.lab8-error``) in ``within``; "" when none shows."""
        texts = self.page.locator(f"{within} .lab8-error").all_inner_texts()
        return "\n".join(t.strip() for t in texts if t.strip())

    def wait_banner(self, within: str = "body", timeout: float = 15_000, gone: bool = False) -> str:
        """Wait for a lab's banner to show (or, with ``gone=True``, to clear) and return its text."""
        alert = self.page.locator(f"{within} .lab8-error [role=alert]").first
        alert.wait_for(state="detached" if gone else "visible", timeout=timeout)
        return self.banner(within)

    def screenshot(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=False)

    def tracebacks(self) -> list[str]:
        """Traceback text the page shows (a learner must see a banner instead)."""
        try:
            text = self.page.inner_text("body", timeout=5_000)
        except Exception:  # a closed or navigating page has nothing to show
            return []
        return [m for m in TRACEBACK_MARKS if m in text]


class PageOpener:
    """Opens served notebooks in ``browser``, one server per target kept in ``servers``."""

    def __init__(
        self,
        browser,
        servers: dict,
        allow_external: bool = False,
        viewport: tuple[int, int] = (1280, 800),
        base: Path | None = None,
    ):
        self.base = base  # relative notebook paths: here first (the test's folder), else cwd
        self.browser = browser
        self.servers = servers
        self.allow_external = allow_external
        self.viewport = viewport
        self.opened: list[tuple[LabPage, object, Kernel]] = []

    def open(
        self,
        target: str | Path | None = "index",
        stock: bool = False,
        path: str = "",
        ready: str = ".lab8-lab",
        timeout: float = 90_000,
        server: Server | None = None,
    ) -> LabPage:
        """Serve ``target`` (a lab name, a .ipynb path, None for the index folder) and open it once
        ``ready`` (a CSS selector) shows; ``timeout`` in milliseconds, as Playwright counts."""
        if server is None:
            key = (resolve_target(target, self.base), stock)
            if key not in self.servers:
                self.servers[key] = Server(key[0], stock=stock)
            server = self.servers[key]
        context = self.browser.new_context(
            viewport={"width": self.viewport[0], "height": self.viewport[1]}
        )
        page = context.new_page()
        # stock Voila's template asks a CDN for Font Awesome: forgiven there, never under serve
        watch = PageWatch(page, local=not stock, forgive_urls=IGNORED_URLS if stock else ())
        try:
            page.goto(server.url + path, wait_until="domcontentloaded", timeout=timeout)
            self._wait_ready(page, server, ready, timeout)
            kernel = Kernel(page_kernel_file(page, server))  # preheated: not the newest kernel
        except BaseException:
            context.close()
            raise
        lp = LabPage(page, server, kernel, watch)
        self.opened.append((lp, context, kernel))
        return lp

    @staticmethod
    def _wait_ready(page, server: Server, ready: str, timeout: float) -> None:
        """Wait for ``ready`` to show; a failing cell or a dead server fails at once, saying why."""
        failed = page.get_by_text("There was an error when executing cell")
        try:
            page.locator(ready).or_(failed).first.wait_for(state="visible", timeout=timeout)
        except Exception as e:
            if type(e).__name__ != "TimeoutError":
                raise
            if server.proc.poll() is not None:
                raise RuntimeError(f"the server exited:\n{server.read_log()[-4000:]}") from e
            raise RuntimeError(
                f"{ready!r} did not show in {timeout / 1000:.0f} s; the server's log ends:\n"
                f"{server.read_log()[-3000:]}"
            ) from e
        why = notebook_error(server, page.inner_text("body"))
        if why:
            raise RuntimeError(why)

    def close(self, artifacts: Path | None = None, name: str = "test") -> None:
        for i, (lp, _context, _kernel) in enumerate(self.opened):
            if artifacts is not None:
                artifacts.mkdir(parents=True, exist_ok=True)
                lp.screenshot(artifacts / f"{name}{'-' + str(i) if i else ''}.png")
            lp.close()
        self.opened.clear()

    def problems(
        self, console: bool = True, tracebacks: bool = True, external: bool = True
    ) -> list[str]:
        """What the opened pages did that fails a test by default (each kind can be allowed)."""
        pages = [lp for lp, _, _ in self.opened]
        return page_problems(pages, console, tracebacks, external and not self.allow_external)


def page_problems(
    pages, console: bool = True, tracebacks: bool = True, external: bool = True
) -> list[str]:
    """What ``pages`` (``LabPage``s) did that must fail a test: console errors, traceback text
    on the page, requests off the machine (a served lab must work offline)."""
    out: list[str] = []
    for lp in pages:
        if console:
            out += [f"console error: {e}" for e in lp.console_errors]
        if tracebacks:
            out += [f"traceback on the page: {t!r}" for t in lp.tracebacks()]
        if external:
            out += [
                f"request off this machine (a served lab must work offline): {u}"
                for u in lp.external_requests
            ]
    return out
