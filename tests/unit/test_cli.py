"""`lab8widgets serve/list`: names, exit codes and the settings Voila is given."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from lab8widgets import cli, labs, server
from lab8widgets.testing import write_notebook


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lab8widgets.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_list_names_every_lab(capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == labs.names()
    for line, lab in zip(lines, labs.LABS, strict=True):
        assert line.rstrip().endswith(lab.description)


def test_every_lab_has_its_notebook_and_class():
    root = server.notebooks_dir()
    assert labs.names()[0] == "index" and len(set(labs.names())) == len(labs.LABS)
    for lab in labs.LABS:
        assert (root / lab.notebook).is_file(), lab.name
        assert server.resolve_lab(lab.name) == (root, root / lab.notebook)
        nb = (root / lab.notebook).read_text()
        assert lab.class_name in nb, f"{lab.notebook} does not construct {lab.class_name}"


def test_registry_drives_the_lazy_exports():
    import lab8widgets

    for lab in labs.LABS:
        assert lab.class_name in lab8widgets.__all__
    cls = lab8widgets.LabIndex
    assert cls is labs.get("index").load() and cls.__name__ == "LabIndex"


def test_unknown_lab_exits_2_with_the_list(capsys):
    assert cli.main(["serve", "nope", "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert "unknown lab 'nope'" in err and "conv" in err and "collab" in err


def test_missing_notebook_exits_2(capsys, tmp_path):
    assert cli.main(["serve", str(tmp_path / "missing.ipynb"), "--no-browser"]) == 2
    assert "notebook not found" in capsys.readouterr().err


def test_port_in_use_says_so_and_exits_nonzero():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = run_cli("serve", "conv", "--no-browser", f"--port={port}")
    assert proc.returncode == 1
    assert f"port {port}" in proc.stderr and "already in use" in proc.stderr


class Launched(Exception):
    """Raised by the fake ``launch_instance`` to stop ``serve`` before Voila listens."""


@pytest.fixture
def launched(monkeypatch):
    """Run ``cli.main(["serve", ...])`` up to Voila's launch and return the argv Voila would get."""
    seen: dict = {}
    real_app_class = server.make_app_class

    class FakeApp:
        @classmethod
        def launch_instance(cls, argv):
            seen["argv"] = argv
            raise Launched

    monkeypatch.setattr(server.app, "make_app_class", lambda: FakeApp)
    monkeypatch.delenv(server.INDEX_ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # serve sets it for a class

    def run(*args: str) -> list[str]:
        with pytest.raises(Launched):
            cli.main(["serve", *args, "--no-browser", f"--port={server.free_port()}"])
        return seen["argv"]

    run.real_app_class = real_app_class
    return run


def test_serve_binds_loopback_by_default(launched):
    """The address Voila really gets, parsed by the real app: loopback unless --ip says otherwise
    (a default of 0.0.0.0 would expose every kernel to the network)."""
    argv = launched("conv")
    assert "--Voila.ip=127.0.0.1" in argv
    app = launched.real_app_class()()
    app.initialize(argv)  # parses the settings; only start() would listen
    assert app.ip == "127.0.0.1" and app.port_retries == 0
    assert not app.voila_configuration.show_tracebacks
    assert app.voila_configuration.strip_sources


def test_other_addresses_warn_that_anyone_can_run_the_kernels(launched, capsys):
    assert "--Voila.ip=0.0.0.0" in launched("conv", "--ip", "0.0.0.0")
    err = capsys.readouterr().err
    assert "anyone who can reach this port" in err and "JupyterHub" in err
    launched("conv", "--ip", "127.0.0.1")
    assert "WARNING" not in capsys.readouterr().err
    assert server.exposure_warning("::1") is None and server.exposure_warning("localhost") is None
    assert server.exposure_warning("192.168.1.5") and server.exposure_warning("::")


def test_cull_idle_reaches_the_kernel_manager(launched):
    argv = launched("conv")
    assert f"--MappingKernelManager.cull_idle_timeout={server.CULL_IDLE}" in argv
    assert f"--VoilaConfiguration.multi_kernel_manager_class={server.KERNEL_MANAGER_CLASS}" in argv
    assert "--MappingKernelManager.cull_idle_timeout=120" in launched("conv", "--cull-idle", "120")
    assert "--MappingKernelManager.cull_idle_timeout=0" in launched("--cull-idle", "0")
    # a closed page's kernel goes within a minute even if its shutdown request never arrived
    assert server.DISCONNECTED_GRACE + server.CULL_INTERVAL <= 60
    # a setting the user passes through to Voila replaces ours instead of clashing with it
    argv = launched("conv", "--MappingKernelManager.cull_interval=1")
    assert [a for a in argv if "cull_interval" in a] == ["--MappingKernelManager.cull_interval=1"]


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf"])
def test_bad_cull_idle_exits_2(value, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["serve", "conv", "--no-browser", "--cull-idle", value])
    assert e.value.code == 2
    assert "--cull-idle" in capsys.readouterr().err


def test_lab_folder_links_back_to_the_index(launched):
    launched()
    assert os.environ[server.INDEX_ENV] == "index.ipynb"  # the kernels inherit it
    launched("conv")
    assert server.INDEX_ENV not in os.environ  # one lab alone: there is no index to go back to


def test_kernels_talk_over_unix_sockets_where_paths_fit(monkeypatch):
    """No kernel traffic over TCP (and so no "running over TCP without encryption" warning)."""
    if os.name != "posix":
        pytest.skip("Unix sockets are POSIX only; Windows keeps TCP on loopback")
    ipc = "--KernelManager.transport=ipc"
    assert server.kernel_settings("/tmp") == [ipc]
    assert server.kernel_settings("/" + "x" * 80) == ["--KernelManager.transport=tcp"]
    monkeypatch.setattr(server.network.tempfile, "gettempdir", lambda: "/var/folders/" + "x" * 60)
    assert server.kernel_settings() == [ipc, "--Voila.connection_dir_root=/tmp"]
    root, nb = server.resolve_lab("conv")
    assert ipc in server.voila_argv(root, nb, 9999)


def test_voila_settings_are_safe_for_a_classroom():
    root, nb = server.resolve_lab("conv")
    argv = server.voila_argv(root, nb, 9999)
    assert argv[0].endswith("conv.ipynb")
    assert "--Voila.ip=127.0.0.1" in argv
    assert "--VoilaConfiguration.strip_sources=True" in argv
    assert "--VoilaConfiguration.show_tracebacks=False" in argv
    assert "--no-browser" in argv
    assert f"--Voila.kernel_websocket_connection_class={server.NODELAY_CLASS}" in argv
    root, nb = server.resolve_lab(None)
    assert nb is None and (root / "index.ipynb").exists()


class FakeHandler:
    def __init__(self):
        self.nodelay = None

    def set_nodelay(self, value: bool) -> None:
        self.nodelay = value


def test_nodelay_connection_sets_tcp_nodelay(monkeypatch):
    """The whole latency gain hangs on this one socket option, so check it is really set."""
    called = []
    monkeypatch.setattr(ZMQChannelsWebsocketConnection, "connect", lambda self: called.append(True))
    conn = server.NoDelayKernelWebsocketConnection.__new__(server.NoDelayKernelWebsocketConnection)
    handler = FakeHandler()
    # a bare instance with no server behind it: traitlets would validate a real handler
    conn._trait_values = {"websocket_handler": handler}  # noqa: SLF001
    conn.connect()
    assert handler.nodelay is True and called == [True]


@pytest.mark.parametrize("argv", [["serve", "--port", "0", "conv"], ["serve", "--port", "70000"]])
def test_bad_port_exits_2(argv, capsys):
    assert cli.main(argv + ["--no-browser"]) == 2
    assert "--port" in capsys.readouterr().err


def test_jupyterlab_can_opt_in_by_config():
    """The README's JupyterLab setting is accepted by jupyter_server as written."""
    from jupyter_server.serverapp import ServerApp
    from traitlets.config import Config

    c = Config()
    c.ServerApp.kernel_websocket_connection_class = server.NODELAY_CLASS
    app = ServerApp(config=c)  # the trait's dynamic default needs a started app; read the set value
    assert app.trait_has_value("kernel_websocket_connection_class")
    assert app.kernel_websocket_connection_class is server.NoDelayKernelWebsocketConnection
    assert not ServerApp().trait_has_value("kernel_websocket_connection_class")  # off by default


def test_serve_finds_the_offline_template(monkeypatch):
    """`serve` renders with the project's template, found through JUPYTER_PATH."""
    root, nb = server.resolve_lab("conv")
    assert f"--template={server.TEMPLATE}" in server.voila_argv(root, nb, 9999)
    monkeypatch.setenv("JUPYTER_PATH", "/somewhere/else")
    server.use_templates()
    server.use_templates()  # idempotent
    paths = os.environ["JUPYTER_PATH"].split(os.pathsep)
    assert paths == [str(server.TEMPLATES_ROOT), "/somewhere/else"]


def serve_tiny(tmp_path, *extra: str) -> tuple[str, list[str], str, dict]:
    """Serve a one-cell notebook with ``serve`` and fetch its page: (page, cookies, log, fetched)
    where ``fetched`` maps each of the page's same-server script URLs to its body."""
    path = write_notebook(tmp_path / "tiny.ipynb", "print('hello from the kernel')")
    port = server.free_port()
    log = open(tmp_path / "serve.log", "w+")
    conn = tempfile.mkdtemp(prefix="lab8-cli-", dir="/tmp" if os.name == "posix" else None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab8widgets.cli", "serve", str(path), "--no-browser",
         f"--port={port}", f"--Voila.connection_dir_root={conn}", *extra],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    fetched = {}
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
                    page = r.read().decode()
                    cookies = r.headers.get_all("Set-Cookie") or []
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, open(log.name).read()
                time.sleep(0.3)
        for src in re.findall(r'<script src="(/[^"]+)"', page):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{src}", timeout=60) as r:
                fetched[src] = r.read()
    finally:
        proc.terminate()
        proc.wait(20)
        shutil.rmtree(conn, ignore_errors=True)
    return page, cookies, open(log.name).read(), fetched


def test_served_page_loads_nothing_from_off_the_machine(tmp_path):
    """The page `serve` sends references no other host (stock Voila's lab template links Font
    Awesome from a CDN, which fails offline); its shutdown beacon gets the ``_xsrf`` cookie it
    needs; and the terminal stays quiet about kernel transport."""
    page, cookies, out, _ = serve_tiny(tmp_path)
    assert "hello from the kernel" in page  # really rendered through a kernel
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^)"']+)""", page)
    refs = [a or b for a, b in refs]
    assert any(r.endswith(".js") for r in refs)  # the parse found the page's scripts
    off = [r for r in refs if re.match(r"(https?:)?//", r) and "127.0.0.1" not in r]
    assert not off, f"the served page loads from other hosts: {off}"
    assert "fontawesome" not in page.lower()
    assert any(c.startswith("_xsrf=") for c in cookies)
    assert "without encryption" not in out and "Traceback" not in out
    assert server.CHUNKS_URL not in page  # not a shipped lab: no chunk bundle


def voila_chunk_folders() -> tuple[list[str], list[str]]:
    """Where Voila serves ``/voila/static/`` and ``/voila/labextensions/`` from with our template."""
    from voila.paths import collect_static_paths
    from voila.utils import get_voila_labextensions_path

    server.use_templates()
    return collect_static_paths(["voila", "nbconvert"], server.TEMPLATE), (
        get_voila_labextensions_path()
    )


def CHUNK_PACKAGE(rel: str) -> str:
    """The distribution whose install holds a manifest chunk (its version names the chunk)."""
    for prefix, dist in (
        ("labextensions/@jupyter-widgets/", "jupyterlab_widgets"),
        ("labextensions/bqplot/", "bqplot"),
        ("labextensions/bqscales/", "bqplot"),
        ("labextensions/jupyterlab_pygments/", "jupyterlab_pygments"),
        ("labextensions/anywidget/", "anywidget"),
    ):
        if rel.startswith(prefix):
            return dist
    return "voila"  # its own static chunks and its widgets-manager8 extension


def test_chunk_bundle_holds_every_chunk_of_the_manifest(tmp_path):
    """Every chunk a lab page loads late (the manifest) is found in the folders Voila serves with
    the installed Voila, so the bundle replaces those requests; a chunk not found is left out (the
    page fetches it as before)."""
    import json
    from importlib.metadata import version

    recorded = json.loads(server.CHUNKS_MANIFEST.read_text())
    manifest = recorded["chunks"]
    static, labext = voila_chunk_folders()
    files = server.chunk_files(static, labext)
    found = {str(f) for f in files}
    assert len(manifest) > 50
    # every chunk of a package installed at the version the list was recorded with is found
    # (another version names its chunks otherwise: those are fetched as usual, not an error)
    same = {d for d, v in recorded["recorded_with"].items() if version(d) == v}
    for rel in manifest:
        if CHUNK_PACKAGE(rel) in same:
            kind, _, rest = rel.partition("/")
            assert any(f.endswith("/" + rest) for f in found), f"{rel} not found: re-record"
    if {"voila", "jupyterlab_widgets"} <= same:
        assert files[0].name.endswith(".voila.js")
        assert any("jupyterlab-manager" in str(f) for f in files)
    bundle = server.chunks_bundle(files)
    assert all(f.read_bytes() in bundle for f in files)
    (tmp_path / "static").mkdir()
    only = tmp_path / "static" / manifest[0].split("/", 1)[1]
    only.write_text("self.x = 1")
    assert server.chunk_files([str(tmp_path / "static")], []) == [only]


def test_shipped_lab_pages_load_the_chunk_bundle(tmp_path):
    """`serve` tells the template to load the bundle for the shipped labs only; the page then
    loads it before voila.js and the server sends it."""
    root, nb = server.resolve_lab("conv")
    flag = f"--VoilaConfiguration.resources=lab8_chunks={server.CHUNKS_URL}"  # no JSON dict
    assert flag in server.voila_argv(root, nb, 9999)
    assert flag in server.voila_argv(root, None, 9999)
    assert not any("lab8_chunks" in a for a in server.voila_argv(tmp_path, tmp_path / "x.ipynb", 1))
    page, _, out, fetched = serve_tiny(tmp_path, flag)
    scripts = list(fetched)
    assert scripts.index(f"/{server.CHUNKS_URL}") < scripts.index("/voila/static/voila.js")
    assert f'<link rel="preload" as="script" href="/{server.CHUNKS_URL}">' in page
    files = server.chunk_files(*voila_chunk_folders())
    assert fetched[f"/{server.CHUNKS_URL}"] == server.chunks_bundle(files)
    assert "Traceback" not in out
    # a quiet start (issue 24 item 6): traitlets warned on a dict given as JSON on the command line
    assert "DeprecationWarning" not in out and "No web browser found" not in out, out


def test_served_labs_link_back_to_the_index(monkeypatch):
    """In the lab folder (`serve` with no name) every lab's header links to the index; the index
    itself, and a lab shown anywhere else (a notebook, `serve conv`), has no such link."""
    from lab8widgets.widgets._base import LabBase
    from lab8widgets.widgets.index import LabIndex

    monkeypatch.delenv(server.INDEX_ENV, raising=False)
    assert "lab8-back" not in LabBase(title="t").header.value
    monkeypatch.setenv(server.INDEX_ENV, "index.ipynb")
    header = LabBase(title="t").header.value
    assert 'class="lab8-back" href="index.ipynb"' in header and "← all labs" in header
    assert "lab8-back" not in LabIndex().header.value


class FakeKernel:
    def __init__(self, idle_for: float, state: str = "idle"):
        import datetime

        self.execution_state = state
        self.last_activity = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(
            seconds=idle_for
        )


def test_culler_frees_kernels_no_page_holds(monkeypatch):
    """A kernel with no page connected goes once it has been unwatched and quiet for the grace
    period; a connected or busy one stays; a page that reconnects restarts the clock."""
    import asyncio

    km = server.Lab8KernelManager(disconnected_grace=30, cull_idle_timeout=0)
    shut: list[str] = []
    # jupyter_server keeps its kernels and their page counts only in these two dicts (the culler
    # reads them): the test fills them with fakes instead of starting kernels
    kernels, connections = km._kernels, km._kernel_connections  # noqa: SLF001

    async def fake_shutdown(kernel_id, *a, **k):
        shut.append(kernel_id)
        kernels.pop(kernel_id)

    monkeypatch.setattr(km, "shutdown_kernel", fake_shutdown)
    kernels.update(gone=FakeKernel(0), open=FakeKernel(3600), busy=FakeKernel(3600, state="busy"))
    connections.update(gone=0, open=1, busy=0)
    clock = [time.time()]  # the kernels' last_activity is real time
    monkeypatch.setattr(server.kernels.time, "time", lambda: clock[0])

    def check():
        asyncio.run(km.cull_kernels())

    check()  # first seen unwatched now: the clock starts
    clock[0] += 20
    check()
    assert shut == []
    connections["gone"] = 1  # the page reconnected...
    check()
    connections["gone"] = 0  # ...and went away again: a new grace period
    check()
    clock[0] += 25
    check()
    assert shut == []
    clock[0] += 10
    check()
    assert shut == ["gone"]  # the connected and the busy kernel stay
    assert set(kernels) == {"open", "busy"}


def test_class_size_forks_and_keeps_that_many_ready(launched, monkeypatch):
    """``--class-size N``: the fork provisioner, a preheat pool of N, and the ready count."""
    from lab8widgets.server.fork import FORK_SETTING

    monkeypatch.setattr(server.app, "registered", lambda: True)
    argv = launched("conv", "--class-size", "30")
    assert FORK_SETTING in argv
    assert "--VoilaConfiguration.default_pool_size=30" in argv
    assert "--Lab8KernelManager.class_size=30" in argv
    assert os.environ["OMP_NUM_THREADS"] == "1"  # one torch thread a kernel: a class shares cores
    assert FORK_SETTING in launched("conv", "--fork")
    assert FORK_SETTING not in launched("conv")  # off unless asked


def test_a_class_gets_one_torch_thread_a_kernel(launched, monkeypatch):
    """Kernels that share the cores get ``OMP_NUM_THREADS=1`` (the template and every launched or
    forked kernel read it); one learner's kernel keeps torch's default; the teacher's own setting
    wins."""
    monkeypatch.setattr(server.app, "registered", lambda: True)
    launched("conv")
    assert "OMP_NUM_THREADS" not in os.environ
    launched("conv", "--fork")
    assert "OMP_NUM_THREADS" not in os.environ
    launched("conv", "--pool", "5")
    assert os.environ["OMP_NUM_THREADS"] == "1"
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    launched("conv", "--class-size", "30")
    assert os.environ["OMP_NUM_THREADS"] == "2"
    assert server.class_threads(30, {}) == {"OMP_NUM_THREADS": "1"}
    assert server.class_threads(1, {}) == {}


def test_unregistered_provisioner_falls_back_to_launching(launched, monkeypatch, capsys):
    """Without the entry point jupyter_client would refuse every kernel: launch, and say so."""
    from lab8widgets.server.fork import FORK_SETTING

    monkeypatch.setattr(server.app, "registered", lambda: False)
    argv = launched("conv", "--class-size", "3")
    assert FORK_SETTING not in argv
    assert "--VoilaConfiguration.default_pool_size=3" in argv
    err = capsys.readouterr().err
    assert "not registered" in err and "launched, not forked" in err


@pytest.mark.parametrize("extra", [["--pool", "4"], ["--no-preheat"]])
def test_class_size_refuses_a_pool_of_its_own(extra, capsys):
    assert cli.main(["serve", "conv", "--no-browser", "--class-size", "5", *extra]) == 2
    assert "--class-size" in capsys.readouterr().err


def test_preheated_kernels_start_one_at_a_time_once_learners_are_quiet(monkeypatch):
    """Voila refills a whole pool at once; ``Lab8KernelManager`` starts a preheated kernel only
    when the last one's notebook has run and no learner's kernel has spoken for ``refill_quiet``
    seconds (a pooled kernel running its notebook does not count). A learner's own kernel never
    waits."""
    import asyncio

    from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

    km = server.Lab8KernelManager(refill_quiet=0.6, refill_max_wait=30)
    kernels = {"learner": FakeKernel(0)}  # a learner dragging right now
    renders: dict[str, asyncio.Future] = {}
    started: dict[str, float] = {}

    async def fake_start(self, *args, env=None, **kwargs):
        preheat = (env or {}).get("VOILA_PREHEAT") == "True"
        kid = f"pre{len(renders)}" if preheat else "own"
        if preheat:  # it runs its notebook: busy, but in the pool
            renders[kid] = asyncio.get_running_loop().create_future()
        kernels[kid] = FakeKernel(0)
        started[kid] = time.monotonic()
        return kid

    monkeypatch.setattr(AsyncMappingKernelManager, "start_kernel", fake_start)
    monkeypatch.setattr(km, "list_kernel_ids", lambda: list(kernels))
    monkeypatch.setattr(km, "get_kernel", kernels.__getitem__)
    monkeypatch.setattr(
        km,
        "pooled",
        lambda: {"conv.ipynb": [{"kernel_id": k, "task": t} for k, t in renders.items()]},
    )
    preheat = {"env": {"VOILA_PREHEAT": "True"}}

    async def scenario():
        t0 = time.monotonic()
        first = asyncio.ensure_future(km.start_kernel(**preheat))
        second = asyncio.ensure_future(km.start_kernel(**preheat))
        assert await km.start_kernel(env={}) == "own"  # not a preheat: at once
        assert started["own"] - t0 < 0.3
        assert await first == "pre0"
        assert started["pre0"] - t0 >= 0.5  # waited for the learner to be quiet
        await asyncio.sleep(1.0)  # "own" is quiet by now, "pre0" runs its notebook (pooled)
        assert "pre1" not in started  # its turn comes after pre0's notebook has run
        kernels["learner"] = FakeKernel(0)  # the learner drags again
        done = time.monotonic()
        renders["pre0"].set_result(None)
        assert await second == "pre1"
        assert started["pre1"] - done >= 0.5  # the turn, then the quiet

    asyncio.run(scenario())
