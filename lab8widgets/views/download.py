"""Files a learner can download from the page: links whose contents travel inside the link
(``data:`` URLs), so they work in JupyterLab, Notebook 7 and a Voila page alike, with no server route."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping

import ipywidgets as W

__all__ = ["download_links"]


def download_links(files: Mapping[str, str], label: str = "Download") -> W.HTML:
    """One ``<a download>`` a file, styled as buttons; ``files`` maps a file name to its text."""
    links = []
    for name, text in files.items():
        data = base64.b64encode(text.encode("utf-8")).decode("ascii")
        links.append(
            f'<a class="lab8-download" download="{html.escape(name)}" '
            f'href="data:text/tab-separated-values;charset=utf-8;base64,{data}">'
            f"{html.escape(label)} {html.escape(name)}</a>"
        )
    return W.HTML(" ".join(links))
