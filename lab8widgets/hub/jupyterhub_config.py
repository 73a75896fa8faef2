"""JupyterHub for a class on one machine: every learner logs in and gets a server of their own, with
the labs served by Voila at ``/user/<name>/voila/render/<lab>.ipynb`` and the low-latency kernel
websocket (``lab8widgets.serverext``) on.

    LAB8_HUB_PASSWORD=... jupyterhub -f $(python -c "import lab8widgets.hub as h; print(h.CONFIG)")

This is the tested, single-machine shape (``tests/e2e/test_hub_e2e.py`` runs it for real):

- ``SimpleLocalProcessSpawner``: each learner's server is a process of the hub's own user, with a
  home of its own (``/tmp/lab8hub-<name>``); no system accounts are needed. It isolates kernels
  and files per learner, not the machine: on a shared machine use ``LocalProcessSpawner`` (system
  users), and beyond one machine KubeSpawner (zero-to-jupyterhub-k8s) with the same
  ``Spawner.args`` (``docs/kubespawner-values.yaml``).
- ``DummyAuthenticator`` with one shared password (``LAB8_HUB_PASSWORD``): a classroom test
  setup, not a login system. Production: an OAuth authenticator (GitHub, your school's SSO).
- Everything binds loopback unless ``LAB8_HUB_IP`` says otherwise (put TLS in front first).

Ports: ``LAB8_HUB_PORT`` (8000, the public one), ``LAB8_HUB_API_PORT`` (8081),
``LAB8_PROXY_API_PORT`` (8001). State (database, cookie secret) lands in the working directory.
"""

# ruff: noqa: F821  (`c` and `get_config` come from JupyterHub's config loader)
import os
import shutil
import sys
from pathlib import Path

from lab8widgets.hub import singleuser_args
from lab8widgets.server import TEMPLATES_ROOT, notebooks_dir
from lab8widgets.server.fork import registered as fork_registered

c = get_config()

ip = os.environ.get("LAB8_HUB_IP", "127.0.0.1")
c.JupyterHub.bind_url = f"http://{ip}:{int(os.environ.get('LAB8_HUB_PORT', 8000))}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{int(os.environ.get('LAB8_HUB_API_PORT', 8081))}"
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{int(os.environ.get('LAB8_PROXY_API_PORT', 8001))}"
)

# --- who may log in ---
c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"
password = os.environ.get("LAB8_HUB_PASSWORD")
if not password:
    sys.exit("lab8widgets hub: set LAB8_HUB_PASSWORD (the class's shared password)")
c.DummyAuthenticator.password = password
learners = [u for u in os.environ.get("LAB8_HUB_USERS", "").split(",") if u]
if learners:
    c.Authenticator.allowed_users = set(learners)
else:
    c.Authenticator.allow_all = True

# --- each learner's server ---
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = "/tmp/lab8hub-{username}"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/voila/render/index.ipynb"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.env_keep.extend(["LAB8WIDGETS_OFFLINE"])  # offline: the labelled fallback data
# the offline Voila template that `serve` uses (no CDN), found through JUPYTER_PATH
c.Spawner.environment = {
    "JUPYTER_PATH": os.pathsep.join(
        [
            str(TEMPLATES_ROOT),
            *[p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p],
        ]
    )
}
# serve's kernel manager, and kernels forked from the warm template where the provisioner is
# registered (an installed lab8widgets); otherwise launched, as the terminal says
c.Spawner.args = singleuser_args(fork=fork_registered())
if os.geteuid() == 0:  # the spawner runs servers as the hub's user
    c.Spawner.args.append("--ServerApp.allow_root=True")


def copy_labs(spawner) -> None:
    """Give each learner their own copy of the lab notebooks (kept if already there)."""
    home = Path(spawner.home_dir_template.format(username=spawner.user.name))
    home.mkdir(parents=True, exist_ok=True)
    for nb in notebooks_dir().glob("*.ipynb"):
        if not (home / nb.name).exists():
            shutil.copy(nb, home / nb.name)


c.Spawner.pre_spawn_hook = copy_labs
# the hub stops a learner's whole server after an hour without activity (jupyterhub-idle-culler
# does it for a hub of any size: `pip install jupyterhub-idle-culler`, see docs/classroom.md)
