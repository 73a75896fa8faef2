"""A JupyterHub configuration for a class (``jupyterhub -f lab8widgets.hub.CONFIG``), and the
single-user server settings it shares with the Kubernetes values in
``docs/kubespawner-values.yaml``."""

from pathlib import Path

CONFIG = str(Path(__file__).resolve().parent / "jupyterhub_config.py")


def singleuser_args(fork: bool = True) -> list[str]:
    """The settings of a learner's single-user server, on one machine or a cluster: Voila with the
    offline template and the labs' front-end extensions, the TCP_NODELAY kernel websocket, serve's
    kernel manager (its culler) and, with ``fork``, kernels forked from the warm template."""
    from ..server import (
        IOPUB_TIMEOUT,
        KERNEL_MANAGER_CLASS,
        LAB_EXTENSIONS,
        TEMPLATE,
    )
    from ..server.fork import FORK_SETTING

    args = [
        # the TCP_NODELAY kernel websocket, whether or not pip enabled the extension
        "--ServerApp.jpserver_extensions=lab8widgets.serverext=True",
        f"--ServerApp.kernel_manager_class={KERNEL_MANAGER_CLASS}",
        f"--VoilaConfiguration.template={TEMPLATE}",
        "--VoilaConfiguration.strip_sources=True",
        "--VoilaConfiguration.show_tracebacks=False",
        # a loaded machine delays a cell's last output past nbclient's 4 s: the page would lose it
        f"--VoilaExecutor.iopub_timeout={IOPUB_TIMEOUT}",
        # only the labs' front-end extensions in Voila pages
        *[f"--VoilaConfiguration.extension_allowlist={name}" for name in LAB_EXTENSIONS],
        # a learner who closes the tab frees their kernel: idle kernels go after 20 minutes
        "--MappingKernelManager.cull_idle_timeout=1200",
        "--MappingKernelManager.cull_interval=60",
        # a Voila page that vanished (its shutdown request never came) frees its kernel after
        # 10 minutes; longer than serve's 45 s, as a learner may also work in JupyterLab here
        "--Lab8KernelManager.disconnected_grace=600",
    ]
    if fork:
        args.append(FORK_SETTING)
    return args
