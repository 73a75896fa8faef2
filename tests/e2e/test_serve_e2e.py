"""The foundation in a real browser: the index is served at /, the heatmap component answers a real
click with the Python state changing, and no traceback or source reaches the page."""

from __future__ import annotations

import time

import pytest

from lab8widgets.labs import LABS
from lab8widgets.testing import Kernel, PageWatch, Server
from lab8widgets.testing.server import kernel_id, page_kernel_file

from .harness import SCREENSHOTS

pytestmark = pytest.mark.e2e
DOCS = SCREENSHOTS  # build/screenshots; `python -m tests.e2e.screens` writes docs/


def test_index_served_at_root_and_click_reaches_python(open_lab):
    lab = open_lab(None)  # `lab8widgets serve` with no lab: the index at /
    page = lab.page
    assert page.url.endswith("/voila/render/index.ipynb")
    page.wait_for_selector(".lab8-index-digit canvas")
    assert "Lesson 8 labs" in page.inner_text(".lab8-header")
    assert "CC BY-SA 3.0" in page.inner_text(".lab8-source")
    links = page.eval_on_selector_all("a.lab8-link", "els => els.map(e => e.getAttribute('href'))")
    assert links == [lab.notebook for lab in LABS if lab.name != "index"]  # the registry's order
    # one heading and one "click a pixel" on the page (the notebook adds none of its own)
    assert page.locator("h1, h2, h3, h4, h5, h6").count() == 1
    assert page.inner_text("body").lower().count("click a pixel") == 1
    assert page.locator("a.lab8-back").count() == 0  # no "← all labs" on the index itself
    # strip_sources: the code cell's text is not on the page
    assert "LabIndex()" not in page.content()

    row, col = 14, 13
    lab.click_cell(".lab8-index-digit", row, col)
    page.wait_for_function(
        "() => document.querySelector('.lab8-index-digit .lab8-grid').dataset.selected === '[14,13]'"
    )
    expected = lab.kernel("float(lab.grid.values[14, 13])")
    assert lab.kernel("lab.clicked[:2]") == (row, col)
    assert lab.kernel("lab.clicked[2]") == pytest.approx(expected)
    page.wait_for_function(
        "() => document.querySelector('.lab8-pixel').innerText.includes('pixel[14, 13]')"
    )
    assert f"{expected:.3f}" in page.inner_text(".lab8-pixel")
    lab.screenshot(DOCS / "index.png")


def test_kernel_change_reaches_page(open_lab):
    """Python is the source of truth: changing the grid in the kernel repaints the canvas."""
    lab = open_lab(None)
    page = lab.page
    page.wait_for_selector(".lab8-index-digit .lab8-grid")
    before = page.get_attribute(".lab8-index-digit .lab8-grid", "data-sum")
    lab.run("import numpy as np; lab.grid.values = np.ones((28, 28))")
    page.wait_for_function(
        "() => document.querySelector('.lab8-index-digit .lab8-grid').dataset.sum === '784.0000'"
    )
    assert before != "784.0000"


def test_error_banner_not_traceback(open_lab):
    """Bad input in a callback shows a banner; no traceback text reaches the page."""
    lab = open_lab(None)
    page = lab.page
    lab.run("lab.fail('Kernel values must be finite numbers')")
    assert "finite numbers" in lab.wait_banner()
    assert "Traceback" not in page.content()


def test_traceback_is_logged_not_shown(browser, tmp_path):
    """A failing cell in a served notebook: the learner sees a short notice, the terminal the traceback."""
    from lab8widgets.testing import write_notebook

    path = write_notebook(
        tmp_path / "failing.ipynb",
        "print('before the error')",
        "raise ValueError('secret-token-42')",
    )
    with Server(str(path)) as server:
        page = browser.new_page()
        page.goto(server.url, timeout=120_000)
        page.wait_for_selector("text=There was an error when executing cell", timeout=60_000)
        assert "before the error" in page.inner_text("body")
        assert "secret-token-42" not in page.content()
        assert "Traceback" not in page.content()
        page.close()
    log = server.read_log()
    assert "ValueError" in log and "secret-token-42" in log


def _listening_addresses(port: int) -> set[str]:
    """Local addresses listening on ``port``, read from /proc/net/tcp (IPv4)."""
    found = set()
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr_hex, port_hex = local.split(":")
        if int(port_hex, 16) == port and state == "0A":
            found.add(".".join(str(int(addr_hex[i : i + 2], 16)) for i in (6, 4, 2, 0)))
    return found


def test_serve_binds_loopback_only(open_lab):
    lab = open_lab(None)
    assert _listening_addresses(lab.server.port) == {"127.0.0.1"}


# The log lines a learner's terminal must not show (issue 13, items 1 and 9).
NOISE = (
    "403 POST",
    "403 GET",
    "_xsrf",
    "is not trusted",
    "without encryption",
    "websocket_ping_timeout",
    "ping timeout",
)


def _wait_gone(server: Server, kid: str, limit: float) -> float:
    """Seconds until the server no longer lists kernel ``kid``; fails after ``limit``."""
    t0 = time.monotonic()
    while server.kernel_alive(kid):
        if time.monotonic() - t0 > limit:
            pytest.fail(f"kernel {kid} still running {limit:.0f} s after its page went away")
        time.sleep(0.25)
    return time.monotonic() - t0


def test_leaving_or_closing_a_page_frees_its_kernel(browser):
    """Index → lab → back to the index: each page left shuts its kernel down at once (the page's
    own shutdown request works, no 403 in the console or the log); a page closed without a word
    (a killed browser sends nothing) loses its kernel once no page has been connected for the
    grace period (45 s by default; 12 s here, longer than a shutdown may take); and the terminal shows none of Voila's noise."""
    args = ["--Lab8KernelManager.disconnected_grace=12", "--MappingKernelManager.cull_interval=1"]
    with Server(None, args=args) as server:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        watch = PageWatch(page)

        def open_via(action, before):
            action()
            page.wait_for_selector(".lab8-lab", state="visible", timeout=90_000)
            return kernel_id(page_kernel_file(page, server))  # preheated: not the newest

        index = open_via(lambda: page.goto(server.url, timeout=120_000), [])
        conv = open_via(lambda: page.click("a.lab8-link[href='conv.ipynb']"), server.kernel_files())
        assert page.url.endswith("/voila/render/conv.ipynb")
        _wait_gone(server, index, 6)  # left the index: shut down by its page, not the culler

        # every lab served from the folder links back to the index
        back = page.locator("a.lab8-back")
        assert back.inner_text() == "← all labs"
        index2 = open_via(back.click, server.kernel_files())
        assert page.url.endswith("/voila/render/index.ipynb")
        _wait_gone(server, conv, 6)

        # closed with no beforeunload (as when a browser is killed): the culler frees it
        assert server.kernel_alive(index2)
        page.close(run_before_unload=False)
        context.close()
        _wait_gone(server, index2, 12 + 1 + 10)  # grace + check interval + slack for a busy machine
    assert not watch.console_errors, watch.console_errors
    assert not watch.external_requests, watch.external_requests
    log = server.read_log()
    assert "Kernel shutdown: " + index in log and "Kernel shutdown: " + conv in log
    noisy = [line for line in log.splitlines() if any(n in line for n in NOISE)]
    assert not noisy, "serve printed noise:\n" + "\n".join(noisy)


def test_idle_kernel_is_culled_even_with_its_page_open(browser):
    """`--cull-idle SECONDS`: a tab left open and unused frees its kernel after that long, and the
    page tells the learner to reload instead of silently ignoring them."""
    args = ["--cull-idle", "6", "--MappingKernelManager.cull_interval=1"]
    with Server(None, args=args) as server:
        page = browser.new_page()
        page.goto(server.url, wait_until="commit", timeout=90_000)  # Voila streams as it runs
        page.wait_for_selector("#jupyter-config-data", state="attached", timeout=90_000)
        conn = page_kernel_file(page, server)  # the page's own (the index is preheated)
        kid = kernel_id(conn)
        kernel = Kernel(conn, timeout=60)  # it answers its heartbeat a little after its file
        # keep the kernel busy from here (this client is not a page) until the page is up
        deadline = time.monotonic() + 90
        while not page.locator(".lab8-lab").is_visible():
            assert time.monotonic() < deadline, "the lab did not render"
            kernel.eval("1")
            time.sleep(0.5)
        kernel.close()
        _wait_gone(server, kid, 6 + 1 + 15)
        page.wait_for_selector(".lab8-stopped", timeout=30_000)  # the page checks every 10 s
        assert "Reload the page" in page.inner_text(".lab8-stopped")
        page.close()
    log = server.read_log()
    assert f"({kid}) with 1 connections due to" in log and "inactivity" in log
