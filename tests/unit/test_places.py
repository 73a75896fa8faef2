"""Where the labs run (issue 12), without a browser: what `serve` tells Voila (front-end extensions,
preheated kernels), the server extension's websocket class, and the shipped JupyterHub config."""

from __future__ import annotations

import logging
import shutil
from types import SimpleNamespace

import nbformat
import pytest
from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection
from traitlets.config import Config

from lab8widgets import cli, serverext
from lab8widgets.server import (
    IOPUB_TIMEOUT,
    LAB_EXTENSIONS,
    NoDelayKernelWebsocketConnection,
    resolve_lab,
    voila_argv,
)


def settings(argv: list[str], key: str) -> list[str]:
    return [a.split("=", 1)[1] for a in argv if a.startswith(f"--{key}=")]


def test_shipped_labs_load_only_their_extensions_and_are_preheated():
    root, nb = resolve_lab("conv")
    argv = voila_argv(root, nb, 8866)
    assert settings(argv, "VoilaConfiguration.extension_allowlist") == list(LAB_EXTENSIONS)
    assert "@jupyter-notebook/lab-extension" not in LAB_EXTENSIONS
    assert settings(argv, "VoilaConfiguration.preheat_kernel") == ["True"]
    root, nb = resolve_lab(None)  # the whole lab folder too
    assert settings(voila_argv(root, nb, 8866), "VoilaConfiguration.preheat_kernel") == ["True"]
    # serving the whole folder keeps only the index warm, not a kernel per lab
    denied = settings(voila_argv(root, None, 8866), "VoilaKernelManager.preheat_denylist")
    assert "conv.ipynb" in denied and "index.ipynb" not in denied and len(denied) >= 6


def test_no_preheat_and_a_learners_own_notebook(tmp_path):
    root, nb = resolve_lab("conv")
    assert not settings(
        voila_argv(root, nb, 8866, preheat=False), "VoilaConfiguration.preheat_kernel"
    )
    own = tmp_path / "mine.ipynb"
    shutil.copy(nb, own)
    root, nb = resolve_lab(str(own))
    argv = voila_argv(root, nb, 8866)
    assert not settings(argv, "VoilaConfiguration.preheat_kernel")  # never run ahead of a request
    assert not settings(argv, "VoilaConfiguration.extension_allowlist")  # any widget may be needed
    assert settings(argv, "VoilaConfiguration.extension_denylist") == [
        "@jupyter-notebook/lab-extension"
    ]


@pytest.mark.parametrize(("flags", "want"), [([], True), (["--no-preheat"], False)])
def test_cli_no_preheat(monkeypatch, flags, want):
    seen = {}
    monkeypatch.setattr(cli, "port_free", lambda ip, port: True)
    monkeypatch.setattr(cli, "serve", lambda *a, **k: seen.update(k))
    assert cli.main(["serve", "conv", "--no-browser", *flags]) == 0
    assert seen["preheat"] is want


def test_cli_pool_keeps_n_kernels_ready(monkeypatch, capsys):
    """A class arriving at once needs a pool about its size: ``serve --pool N`` tells Voila."""
    seen = {}
    monkeypatch.setattr(cli, "port_free", lambda ip, port: True)
    monkeypatch.setattr(cli, "serve", lambda *a, **k: seen.update(k))
    assert cli.main(["serve", "conv", "--no-browser", "--pool", "6"]) == 0
    assert seen["pool"] == 6
    root, nb = resolve_lab("conv")
    argv = voila_argv(root, nb, 8866, pool=6)
    assert settings(argv, "VoilaConfiguration.default_pool_size") == ["6"]
    assert settings(voila_argv(root, nb, 8866), "VoilaConfiguration.default_pool_size") == ["1"]
    assert not settings(
        voila_argv(root, nb, 8866, preheat=False, pool=6), "VoilaConfiguration.default_pool_size"
    )
    assert cli.main(["serve", "conv", "--no-browser", "--no-preheat", "--pool", "6"]) == 2
    assert "--pool" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["serve", "conv", "--no-browser", "--pool", "0"])


def test_voila_waits_for_a_cells_last_output_under_load():
    """nbclient's 4 s iopub timeout dropped the widget of four pages in five when five learners
    arrived together on 2 cores; serve and the hub's servers give Voila's executor a minute."""
    from voila.execute import VoilaExecutor

    root, nb = resolve_lab("conv")
    argv = voila_argv(root, nb, 8866)
    assert settings(argv, "VoilaExecutor.iopub_timeout") == [str(IOPUB_TIMEOUT)]
    assert IOPUB_TIMEOUT >= 30
    config = Config()
    config.VoilaExecutor.iopub_timeout = int(settings(argv, "VoilaExecutor.iopub_timeout")[0])
    assert VoilaExecutor(nbformat.v4.new_notebook(), config=config).iopub_timeout == IOPUB_TIMEOUT


def fake_server(cls):
    app = SimpleNamespace(
        web_app=SimpleNamespace(settings={"kernel_websocket_connection_class": cls}, handlers=[]),
        base_url="/user/ada/",
        log=logging.getLogger("test"),
        kernel_websocket_connection_class=cls,
    )
    app.web_app.add_handlers = lambda host, handlers: app.web_app.handlers.extend(handlers)
    return app


def test_serverext_sets_the_nodelay_websocket():
    app = fake_server(ZMQChannelsWebsocketConnection)
    serverext._load_jupyter_server_extension(app)
    assert (
        app.web_app.settings["kernel_websocket_connection_class"]
        is NoDelayKernelWebsocketConnection
    )
    assert app.web_app.handlers[0][0] == "/user/ada/lab8widgets/status"
    assert serverext._jupyter_server_extension_points() == [{"module": "lab8widgets.serverext"}]


def test_serverext_keeps_a_class_the_server_chose():
    class Mine(ZMQChannelsWebsocketConnection):
        pass

    app = fake_server(Mine)
    serverext._load_jupyter_server_extension(app)
    assert app.web_app.settings["kernel_websocket_connection_class"] is Mine


def load_hub_config(monkeypatch, **env) -> Config:
    from lab8widgets.hub import CONFIG

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    c = Config()
    exec(compile(open(CONFIG).read(), CONFIG, "exec"), {"get_config": lambda: c, "c": c})
    return c


def test_hub_config(monkeypatch):
    c = load_hub_config(
        monkeypatch, LAB8_HUB_PASSWORD="pw", LAB8_HUB_USERS="ada,grace", LAB8_HUB_PORT="9000"
    )
    assert c.JupyterHub.bind_url == "http://127.0.0.1:9000"
    assert c.DummyAuthenticator.password == "pw"
    assert c.Authenticator.allowed_users == {"ada", "grace"}
    assert "--ServerApp.jpserver_extensions=lab8widgets.serverext=True" in c.Spawner.args
    assert "--VoilaConfiguration.template=lab8" in c.Spawner.args
    assert f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT}" in c.Spawner.args
    assert c.JupyterHub.spawner_class == "jupyterhub.spawner.SimpleLocalProcessSpawner"


def test_hub_config_needs_a_password(monkeypatch):
    monkeypatch.delenv("LAB8_HUB_PASSWORD", raising=False)
    with pytest.raises(SystemExit, match="LAB8_HUB_PASSWORD"):
        load_hub_config(monkeypatch)
