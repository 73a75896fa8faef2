"""Kernels forked from a warm template (issue 22) behave like launched ones, and a class served from
them loses nothing when one learner's kernel dies.

The first tests drive a launched and a forked kernel side by side through jupyter_client (the same
assertions for both): output, interrupt, restart, shutdown, culling, torch and BLAS thread
settings, ``%pip`` and widget comms. The forked one is chosen the way ``serve`` chooses it, by the
provisioner's registered name (``lab8-fork``), here in the kernel spec's metadata. The last test
serves the labs with ``serve --class-size 2`` in Chromium, SIGKILLs one page's kernel and checks
the other page still answers, then closes a page and checks its kernel goes and the pool refills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from jupyter_client import KernelManager

from lab8widgets.server.fork import PROVISIONER
from lab8widgets.testing import Kernel, Server
from lab8widgets.testing.page import LabPage
from lab8widgets.testing.server import fork_entry_point, page_kernel_file

pytestmark = pytest.mark.e2e
MODES = ("launched", "forked")


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """The provisioner's entry point, findable in this process and its children (see
    ``fork_entry_point``: no reinstall needed)."""
    found = fork_entry_point(tmp_path_factory.mktemp("entry-point"))
    if found:
        sys.path.insert(0, found)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            filter(None, [found, os.environ.get("PYTHONPATH")])
        )
    yield
    if found:
        sys.path.remove(found)


def start(mode: str, env: dict | None = None) -> tuple[KernelManager, object]:
    km = KernelManager(kernel_name="python3", transport="ipc")
    if mode == "forked":
        km.kernel_spec.metadata["kernel_provisioner"] = {"provisioner_name": PROVISIONER}
    km.start_kernel(env={**os.environ, "LAB8WIDGETS_OFFLINE": "1", **(env or {})})
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=180)
    return km, kc


@pytest.fixture(scope="module")
def kernels(registered):
    started = {mode: start(mode) for mode in MODES}
    yield started
    for km, kc in started.values():
        kc.stop_channels()
        if km.is_alive():
            km.shutdown_kernel(now=True)


def run(kc, code: str, timeout: float = 60) -> tuple[dict, list[dict]]:
    """Execute ``code``; (the reply's content, the iopub messages it caused)."""
    seen = []
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=seen.append)
    return reply["content"], seen


def value(kc, expr: str):
    content, seen = run(kc, f"print(repr({expr}))")
    assert content["status"] == "ok", content
    text = "".join(m["content"]["text"] for m in seen if m["msg_type"] == "stream")
    return eval(text)  # noqa: S307  (our own repr of plain data)


@pytest.mark.parametrize("mode", MODES)
def test_the_kernel_is_forked_only_when_asked(kernels, mode):
    km, kc = kernels[mode]
    assert getattr(km.provisioner, "forked", False) is (mode == "forked")
    # a forked kernel's parent is the template, not this process
    assert (value(kc, "__import__('os').getppid()") == os.getpid()) is (mode == "launched")


@pytest.mark.parametrize("mode", MODES)
def test_stdout_and_stderr_reach_the_client(kernels, mode):
    """print() to sys.stdout and sys.stderr reaches the client as stream messages; what the
    process writes to its file descriptors goes where a launched kernel's goes (the server's
    terminal: for a forked kernel, the template's stdout and stderr, which are serve's)."""
    _, kc = kernels[mode]
    content, seen = run(kc, "import sys; print('out-1'); print('err-2', file=sys.stderr)")
    assert content["status"] == "ok"
    streams: dict[str, str] = {}
    for m in seen:
        if m["msg_type"] == "stream":
            name = m["content"]["name"]
            streams[name] = streams.get(name, "") + m["content"]["text"]
    assert streams == {"stdout": "out-1\n", "stderr": "err-2\n"}
    pid, ppid = value(kc, "(__import__('os').getpid(), __import__('os').getppid())")
    for fd in (1, 2):
        assert os.readlink(f"/proc/{pid}/fd/{fd}") == os.readlink(f"/proc/{ppid}/fd/{fd}")


def test_a_forked_kernels_streams_skip_empty_flushes(kernels):
    """The forked kernel's stdout and stderr are ``PromptOutStream`` (ipykernel's, whose flush
    skips the IOPub thread when nothing is pending); a print without a newline still arrives, and
    after the cell's flush nothing is pending."""
    _, kc = kernels["forked"]
    names = "(type(__import__('sys').stdout).__name__, type(__import__('sys').stderr).__name__)"
    assert value(kc, names) == ("PromptOutStream", "PromptOutStream")
    content, seen = run(kc, "import sys; sys.stdout.write('no newline'); sys.stdout.flush()")
    assert content["status"] == "ok"
    assert [m["content"]["text"] for m in seen if m["msg_type"] == "stream"] == ["no newline"]


def test_a_forked_kernel_builds_no_record_for_dropped_debug_lines(kernels):
    """ipykernel logs three debug lines per message at a logger traitlets keeps at DEBUG; the
    forked kernel's logger stands at its handler's level (warnings), so none is built, and what
    reaches the terminal is unchanged (the handler's level is the launched kernel's)."""
    app = "__import__('ipykernel.kernelapp').kernelapp.IPKernelApp.instance()"
    got = {
        mode: value(kc, f"({app}.log.isEnabledFor(10), {app}.log.isEnabledFor(30), "
                        f"[h.level for h in {app}.log.handlers])")
        for mode, (_km, kc) in kernels.items()
    }  # fmt: skip
    assert got["forked"][:2] == (False, True)
    assert got["launched"][:2] == (True, True)  # ipykernel's own default: built, then dropped
    assert got["forked"][2] == got["launched"][2]


THREADS = (
    "(__import__('torch').get_num_threads(), "
    "[p['num_threads'] for p in __import__('threadpoolctl').threadpool_info() "
    "if p['user_api'] == 'blas'])"
)


@pytest.mark.parametrize("mode", MODES)
def test_thread_settings_are_those_of_a_fresh_python(kernels, mode):
    """torch's intra-op threads and the BLAS pools as a new Python with the kernel's environment
    would have them (the template imported numpy with one BLAS thread)."""
    _, kc = kernels[mode]
    script = f"import numpy, scipy.linalg, fastai.basics; print(repr({THREADS}))"
    fresh = eval(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
    )  # noqa: S307
    got = value(kc, THREADS)
    assert got[0] == fresh[0]
    assert set(got[1]) == set(fresh[1]) and got[1]


def test_thread_variables_of_the_kernel_environment_apply(registered):
    km, kc = start("forked", env={"OMP_NUM_THREADS": "1"})
    try:
        assert km.provisioner.forked
        torch_threads, blas = value(kc, THREADS)
        assert torch_threads == 1 and set(blas) == {1}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("mode", MODES)
def test_interrupt_stops_a_running_cell(kernels, mode):
    km, kc = kernels[mode]
    msg_id = kc.execute("import time; time.sleep(60)")
    time.sleep(1.5)
    t0 = time.monotonic()
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=20)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=20)
    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert time.monotonic() - t0 < 15
    assert value(kc, "1 + 1") == 2  # and it goes on


@pytest.mark.parametrize("mode", MODES)
def test_pip_magic_runs(kernels, mode):
    _, kc = kernels[mode]
    content, seen = run(kc, "%pip --version", timeout=120)
    assert content["status"] == "ok"
    text = "".join(m["content"].get("text", "") for m in seen if m["msg_type"] == "stream")
    assert text.startswith("pip ") and " from " in text


@pytest.mark.parametrize("mode", MODES)
def test_widget_comm_updates_reach_python(kernels, mode):
    """A front end's widget update (a comm message) changes the widget in the kernel."""
    _, kc = kernels[mode]
    model_id = value(
        kc, "(globals().__setitem__('w', __import__('ipywidgets').IntSlider()), w.model_id)[1]"
    )
    msg = kc.session.msg(
        "comm_msg",
        {
            "comm_id": model_id,
            "data": {"method": "update", "state": {"value": 7}, "buffer_paths": []},
        },
    )
    kc.shell_channel.send(msg)
    deadline = time.monotonic() + 20
    while value(kc, "w.value") != 7:
        assert time.monotonic() < deadline, "the comm message did not reach the widget"
        time.sleep(0.2)


@pytest.mark.parametrize("mode", MODES)
def test_the_page_gets_every_widget_state_in_one_message(kernels, mode):
    """ipywidgets 8's page opens a ``jupyter.widget.control`` comm and asks ``request_states``:
    one ``update_states`` reply with every widget. ipywidgets registers that target at import
    inside a kernel; the template imported it before there was one, so a forked kernel must
    register it itself (without it the page asked each widget in turn)."""
    _, kc = kernels[mode]
    model_id = value(
        kc, "(globals().__setitem__('v', __import__('ipywidgets').IntSlider(3)), v.model_id)[1]"
    )
    comm_id = f"control-{mode}"
    opened = {"comm_id": comm_id, "target_name": "jupyter.widget.control", "data": {}}
    kc.shell_channel.send(kc.session.msg("comm_open", opened, metadata={"version": "1.0.0"}))
    ask = {"comm_id": comm_id, "data": {"method": "request_states"}}
    kc.shell_channel.send(kc.session.msg("comm_msg", ask))
    deadline = time.monotonic() + 30
    while True:
        msg = kc.get_iopub_msg(timeout=max(deadline - time.monotonic(), 0.1))
        content = msg["content"]
        assert msg["msg_type"] != "comm_close", "the kernel has no widget control target"
        if msg["msg_type"] == "comm_msg" and content.get("comm_id") == comm_id:
            break
    assert content["data"]["method"] == "update_states"
    assert content["data"]["states"][model_id]["state"]["value"] == 3


def test_forked_kernels_draw_their_own_random_numbers(kernels, registered):
    km, kc = start("forked")
    try:
        draw = "(__import__('random').random(), __import__('numpy').random.rand(), float(__import__('torch').rand(1)))"
        first, second = value(kernels["forked"][1], draw), value(kc, draw)
        assert all(a != b for a, b in zip(first, second, strict=True))
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("mode", MODES)
def test_restart_gives_a_fresh_kernel_of_the_same_kind(kernels, mode):
    km, kc = kernels[mode]
    run(kc, "marker = 42")
    before = value(kc, "__import__('os').getpid()")
    km.restart_kernel(now=True)
    kc.wait_for_ready(timeout=180)
    assert value(kc, "__import__('os').getpid()") != before
    assert value(kc, "'marker' in globals()") is False
    assert getattr(km.provisioner, "forked", False) is (mode == "forked")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie (not yet reaped by its parent) is gone too
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.parametrize("mode", MODES)
def test_shutdown_ends_the_process(kernels, mode):
    km, kc = kernels[mode]
    pid = value(kc, "__import__('os').getpid()")
    km.shutdown_kernel()
    assert not km.is_alive()
    deadline = time.monotonic() + 10
    while not gone(pid):
        assert time.monotonic() < deadline, f"kernel process {pid} still runs after shutdown"
        time.sleep(0.1)


def open_page(browser, server: Server) -> LabPage:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(server.url, timeout=120_000)
    page.wait_for_selector(".lab8-lab", state="visible", timeout=120_000)
    return LabPage(page, server, Kernel(page_kernel_file(page, server)))


def wait_log(server: Server, text: str, timeout: float, after: int = 0) -> int:
    """Wait until ``text`` appears in the server's log past offset ``after``; its offset."""
    deadline = time.monotonic() + timeout
    while (at := server.read_log().find(text, after)) < 0:
        assert time.monotonic() < deadline, f"{text!r} not in the log:\n{server.read_log()[-3000:]}"
        time.sleep(0.5)
    return at


def test_class_survives_a_killed_kernel_and_refills(browser):
    """``serve --class-size 2``: two forked kernels wait ready; two learners arrive; one kernel is
    SIGKILLed and the other page still answers a click; the pool refills behind them; a closed
    page frees its kernel, and so does the culler for a page that vanished without a word."""
    grace = 5
    args = [
        "--class-size",
        "2",
        f"--Lab8KernelManager.disconnected_grace={grace}",
        "--MappingKernelManager.cull_interval=1",
    ]
    with Server(None, args=args) as server:
        wait_log(server, "kernels are forked from a warm template", 300)
        mark = wait_log(server, "2 of 2 kernels ready for index.ipynb", 300) + 1
        a, b = open_page(browser, server), open_page(browser, server)
        wait_log(server, "0 of 2 kernels ready for index.ipynb", 60, after=mark)
        pid_a = a.kernel("__import__('os').getpid()")
        assert a.kernel("__import__('os').getppid()") != server.proc.pid  # forked, not launched
        os.kill(pid_a, signal.SIGKILL)

        b.click_cell(".lab8-index-digit", 14, 13)  # the other learner's page still answers
        b.page.wait_for_function(
            "() => document.querySelector('.lab8-index-digit .lab8-grid').dataset.selected"
            " === '[14,13]'",
            timeout=30_000,
        )
        assert b.kernel("lab.clicked[:2]") == (14, 13)
        assert not b.page.locator(".lab8-stopped").is_visible()

        kid_b = page_kernel_file(b.page, server)
        b.close()  # the page's own shutdown request frees its kernel
        kid_b = os.path.basename(kid_b).removeprefix("kernel-").removesuffix(".json")
        deadline = time.monotonic() + 30
        while server.kernel_alive(kid_b):
            assert time.monotonic() < deadline, "the closed page's kernel still runs"
            time.sleep(0.25)
        # the pool refilled behind the two learners: two more forked kernels wait ready
        wait_log(server, "2 of 2 kernels ready for index.ipynb", 120, after=mark)
        # a third learner, whose browser dies: no shutdown request, the culler frees the kernel
        c = open_page(browser, server)
        kid_c = os.path.basename(page_kernel_file(c.page, server))[7:-5]
        pid_c = c.kernel("__import__('os').getpid()")
        c.page.close(run_before_unload=False)  # as a killed browser: no beforeunload, no request
        c.close()
        deadline = time.monotonic() + grace + 30
        while server.kernel_alive(kid_c) or not gone(pid_c):
            assert time.monotonic() < deadline, "the vanished page's forked kernel was not culled"
            time.sleep(0.25)
        a.close()
    log = server.read_log()
    assert log.count("kernels are forked from a warm template") == 1
    assert "launching kernels" not in log
