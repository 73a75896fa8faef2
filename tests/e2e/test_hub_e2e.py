"""The shipped JupyterHub configuration, for real: the hub and its proxy (configurable-http-proxy)
on loopback, two learners log in with the class password, each opens ConvLab through Voila in
their own server and drags a kernel cell; each kernel holds only its own learner's change, neither
learner can see or reach the other's kernel, and each server runs the TCP_NODELAY websocket."""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from lab8widgets.hub import CONFIG
from lab8widgets.server import free_port
from lab8widgets.testing import Kernel, LabPage, PageWatch, page_problems

pytestmark = pytest.mark.e2e
LEARNERS = ("ada", "grace")
LAB = "voila/render/conv.ipynb"
# Voila as a server extension (unlike `serve`) points its page's MathJax at cdnjs; offline that
# one request fails (equations would not render; the labs show none). Any other request that
# leaves the machine still fails the test, so the resulting DNS error alone is forgiven.
MATHJAX = re.compile(re.escape("https://cdnjs.cloudflare.com/ajax/libs/mathjax/"))
MATHJAX_FAILED = re.compile(re.escape("Failed to load resource: net::ERR_NAME_NOT_RESOLVED"))


class Hub:
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="lab8-hub-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.password = secrets.token_hex(8)
        env = dict(os.environ)
        env.setdefault("LAB8WIDGETS_OFFLINE", "1")
        env.update(
            LAB8_HUB_PORT=str(self.port),
            LAB8_HUB_API_PORT=str(free_port()),
            LAB8_PROXY_API_PORT=str(free_port()),
            LAB8_HUB_PASSWORD=self.password,
            LAB8_HUB_USERS=",".join(LEARNERS),
        )
        self.log_path = self.tmp / "hub.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", CONFIG],
            cwd=self.tmp,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the proxy and learners' servers are its children
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited:\n{self.read_log()}")
            try:
                urllib.request.urlopen(self.url + "hub/health", timeout=2).close()
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyterhub did not start:\n{self.read_log()}")

    def read_log(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # the hub stops the learners' servers and its proxy
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
        self.log.close()
        for name in LEARNERS:
            shutil.rmtree(f"/tmp/lab8hub-{name}", ignore_errors=True)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def hub():
    pytest.importorskip("jupyterhub")
    if not shutil.which("configurable-http-proxy"):
        pytest.fail("configurable-http-proxy not found: npm install -g configurable-http-proxy")
    h = Hub()
    yield h
    h.stop()


def login_and_open(browser, hub: Hub, name: str) -> tuple:
    """Log ``name`` in, open ConvLab in their server; (context, LabPage, kernel id)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = PageWatch(page, forgive_console=[MATHJAX_FAILED], forgive_urls=[MATHJAX])
    page.goto(hub.url + "hub/login", wait_until="domcontentloaded")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", hub.password)
    page.click("[type=submit]")
    page.wait_for_url("**/user/**", timeout=180_000)  # the spawn page hands over to the server
    page.goto(f"{hub.url}user/{name}/{LAB}", wait_until="domcontentloaded", timeout=180_000)
    page.wait_for_selector(".lab8-lab", state="visible", timeout=180_000)
    kid = page.evaluate(
        "() => JSON.parse(document.getElementById('jupyter-config-data').textContent).kernelId"
    )
    files = glob.glob(f"/tmp/lab8hub-{name}/.local/share/jupyter/runtime/kernel-{kid}.json")
    assert files, f"no connection file for {name}'s kernel {kid}"
    return context, LabPage(page, hub, Kernel(files[0]), watch), kid


def test_two_learners_each_with_their_own_kernel(hub, lab_browser):
    opened = {name: login_and_open(lab_browser, hub, name) for name in LEARNERS}
    try:
        (ctx_a, lab_a, kid_a), (ctx_b, lab_b, kid_b) = opened.values()
        assert kid_a != kid_b
        # ada drags a kernel cell up to 0.5, grace the same cell down to -2.0
        lab_a.drag_cell(".lab8-conv-kernel-0", 0, 1, steps=15)
        lab_b.drag_cell(".lab8-conv-kernel-0", 0, 1, steps=-10)
        lab_a.wait_kernel("round(lab.model.conv1.weight[0, 0, 0, 1].item(), 4)", 0.5)
        lab_b.wait_kernel("round(lab.model.conv1.weight[0, 0, 0, 1].item(), 4)", -2.0)
        for lab in (lab_a, lab_b):
            want = lab.kernel("float(lab.activations['conv1'][0].astype('float64').sum())")
            lab.page.wait_for_function(
                "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want)"
                " < 1e-3 * Math.max(1, Math.abs(want))",
                arg=[".lab8-conv-conv1-0 .lab8-grid", want],
                timeout=15_000,
            )
        # each server lists only its own learner's kernel, and refuses the other learner
        for (name, ctx, kid), other in (
            (("ada", ctx_a, kid_a), kid_b),
            (("grace", ctx_b, kid_b), kid_a),
        ):
            r = ctx.request.get(f"{hub.url}user/{name}/api/kernels")
            assert r.ok, r.status
            ids = {k["id"] for k in r.json()}
            assert kid in ids and other not in ids
            status = ctx.request.get(f"{hub.url}user/{name}/lab8widgets/status").json()
            assert status == {
                "kernel_websocket_connection_class": (
                    "lab8widgets.server.NoDelayKernelWebsocketConnection"
                ),
                "nodelay": True,
            }
        r = ctx_b.request.get(f"{hub.url}user/ada/api/kernels", max_redirects=0)
        assert r.status in (302, 403), r.status  # grace has no access to ada's server
        if r.status == 302:
            assert "/user/ada/" not in r.headers.get("location", "").split("?")[0]
        assert json.dumps(sorted(LEARNERS))  # both logged in through the same hub
        problems = page_problems([lab_a, lab_b])
        assert not problems, "the pages did what a lab must not:\n" + "\n".join(problems)
    finally:
        for _ctx, lab, _kid in opened.values():
            lab.close()
