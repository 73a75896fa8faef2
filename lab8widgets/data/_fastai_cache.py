"""Where fastai keeps its data sets, shared by every loader that looks in the fastai cache first."""

from __future__ import annotations

import configparser
import os
from pathlib import Path


def fastai_data_dir() -> Path:
    """The folder where fastai's ``untar_data`` puts data sets, so we find what a learner already has.

    Mirrors fastai: ``$FASTAI_HOME`` (default ``~/.fastai``), its ``config.ini`` ``data`` key
    (absolute, or relative to that folder), else ``<home>/data``. Unlike fastai, never writes a
    config file.
    """
    home = Path(os.environ.get("FASTAI_HOME") or "~/.fastai").expanduser().absolute()
    data: str | None = None
    cfg_file = home / "config.ini"
    if cfg_file.is_file():
        parser = configparser.ConfigParser()
        try:
            parser.read(cfg_file, encoding="utf8")
            data = parser["DEFAULT"].get("data")
        except (configparser.Error, UnicodeDecodeError, OSError):
            data = None  # an unreadable config: fall back to fastai's default layout
    return home / (data or "data")
