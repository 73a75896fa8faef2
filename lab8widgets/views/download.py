"""Files a learner can download from the page: links whose contents travel inside the link
(``data:`` URLs), so they work in JupyterLab, Notebook 7 and a Voila page alike, with no server route."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as W

__all__ = ["DownloadPanel", "download_links"]


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


class DownloadPanel(W.HBox):
    """A button that makes the files on demand (``files()``: name -> text) and shows their links
    beside it; ``run(fn)`` is the lab's error path for gestures (e.g. ``lambda fn: ...guard``)."""

    def __init__(
        self,
        description: str,
        files: Callable[[], Mapping[str, str]],
        run: Callable[[Callable[[], Any]], Any],
        tooltip: str = "",
        css: str = "lab8-download-panel",
    ):
        self.files = files
        self.button = W.Button(
            description=description,
            icon="download",
            tooltip=tooltip,
            layout=W.Layout(width="220px"),
        )
        self.button.add_class(f"{css}-button")
        self.links = W.HTML()
        self.links.add_class(f"{css}-links")
        self.button.on_click(lambda _b: run(self.make))
        super().__init__(
            [self.button, self.links],
            layout=W.Layout(gap="8px", align_items="center", flex_flow="row wrap"),
        )
        self.add_class(css)

    def make(self) -> None:
        """Build the files now (the model as it is) and show one link for each."""
        self.links.value = download_links(self.files()).value
