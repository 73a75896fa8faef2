"""`lab8widgets serve/list`: names, exit codes and the settings Voila is given."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from lab8widgets import cli, server


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lab8widgets.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_list_names_every_lab(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("index", "conv", "collab"):
        assert name in out


def test_every_lab_has_its_notebook():
    root = server.notebooks_dir()
    for name in server.LABS:
        assert (root / f"{name}.ipynb").is_file(), name


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
    monkeypatch.setattr(
        server.ZMQChannelsWebsocketConnection, "connect", lambda self: called.append(True)
    )
    conn = server.NoDelayKernelWebsocketConnection.__new__(server.NoDelayKernelWebsocketConnection)
    handler = FakeHandler()
    conn._trait_values = {"websocket_handler": handler}  # a bare instance: no server behind it
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
    assert (
        app._trait_values["kernel_websocket_connection_class"]
        is server.NoDelayKernelWebsocketConnection
    )
    assert "kernel_websocket_connection_class" not in ServerApp()._trait_values  # off by default


def test_serve_uses_the_offline_template(monkeypatch):
    """`serve` renders with the project's template, found through JUPYTER_PATH, which drops the CDN links."""
    root, nb = server.resolve_lab("conv")
    assert f"--template={server.TEMPLATE}" in server.voila_argv(root, nb, 9999)
    monkeypatch.setenv("JUPYTER_PATH", "/somewhere/else")
    server.use_templates()
    server.use_templates()  # idempotent
    paths = os.environ["JUPYTER_PATH"].split(os.pathsep)
    assert paths == [str(server.TEMPLATES_ROOT), "/somewhere/else"]
    tpl = server.TEMPLATES_ROOT / "voila" / "templates" / server.TEMPLATE
    assert '"base_template": "lab"' in (tpl / "conf.json").read_text()
    assert "fontawesome" in (tpl / "index.html.j2").read_text()  # what it removes
