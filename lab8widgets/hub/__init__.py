"""A JupyterHub configuration for a class (``jupyterhub -f lab8widgets.hub.CONFIG``)."""

from pathlib import Path

CONFIG = str(Path(__file__).resolve().parent / "jupyterhub_config.py")
