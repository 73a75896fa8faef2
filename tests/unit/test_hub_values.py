"""The cluster values in docs/kubespawner-values.yaml say what the one-machine hub config says: the
same single-user settings (``lab8widgets.hub.singleuser_args``), the labs' landing page, limits a
learner's server fits in, and culling. Loaded and checked, not deployed."""

from __future__ import annotations

from pathlib import Path

import yaml
from traitlets.config import Config

from lab8widgets.hub import CONFIG, singleuser_args
from lab8widgets.server.fork import FORK_SETTING

VALUES = Path(__file__).resolve().parents[2] / "docs" / "kubespawner-values.yaml"


def load_hub_config(monkeypatch) -> Config:
    monkeypatch.setenv("LAB8_HUB_PASSWORD", "x")
    c = Config()
    exec(compile(Path(CONFIG).read_text(), CONFIG, "exec"), {"get_config": lambda: c, "c": c})
    return c


def bytes_of(size: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    return int(float(size[:-1]) * units[size[-1]]) if size[-1] in units else int(size)


def test_cluster_values_match_the_hub_config(monkeypatch):
    values = yaml.safe_load(VALUES.read_text())
    args = values["hub"]["config"]["KubeSpawner"]["args"]
    assert args == singleuser_args(fork=True)  # forked kernels: the image installs the provisioner
    assert FORK_SETTING in args
    hub = load_hub_config(monkeypatch)
    # the one-machine hub runs the same settings (forking where the provisioner is registered)
    local_only = (FORK_SETTING, "--ServerApp.allow_root=True")  # root: a container's hub
    assert [a for a in hub.Spawner.args if a not in local_only] == [
        a for a in args if a != FORK_SETTING
    ]
    single = values["singleuser"]
    assert single["defaultUrl"] == hub.Spawner.default_url
    assert single["cmd"] == "jupyterhub-singleuser"
    assert single["extraEnv"]["JUPYTER_PATH"].endswith("lab8widgets/templates")
    assert single["image"]["name"] and single["image"]["tag"]


def test_cluster_values_fit_a_learner_and_free_what_is_left():
    values = yaml.safe_load(VALUES.read_text())
    memory = values["singleuser"]["memory"]
    # a learner's server: the template (~0.35 GB) and a kernel or two (~0.15 GB each, forked)
    assert bytes_of(memory["guarantee"]) >= 2**30
    assert bytes_of(memory["limit"]) >= bytes_of(memory["guarantee"])
    assert values["singleuser"]["startTimeout"] >= 120  # torch's first import in a cold pod
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0
    hook = values["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    assert "notebooks_dir()" in hook[-1] and "cp -n" in hook[-1]
