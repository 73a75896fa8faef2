"""ItemsPanel: each film's exposure (times recommended to everyone but the group, over the chosen
rounds) against its true mean rating, coloured by the group's genre, linked to a table of films."""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as W
import numpy as np
import traitlets

from ...views.layout import row
from ...views.link import link_selection
from ...views.scatter import LinkedScatter
from ...views.table import TableView

__all__ = ["ItemsPanel"]


class ItemsPanel(W.VBox):
    """Films as points (x true mean rating, y exposure) and as table rows; ``selected`` is the list
    of selected titles, shared by both. ``show(exposure, caption)`` redraws the exposure."""

    selected = traitlets.List()

    def __init__(
        self, titles: Sequence[str], mean_true: np.ndarray, in_genre: np.ndarray, genre: str
    ):
        import pandas as pd

        super().__init__()
        self.add_class("lab8-feedback-items")
        self.titles = list(titles)
        self.mean_true = np.asarray(mean_true, float)
        self.genre = genre
        labels = np.where(np.asarray(in_genre, bool), genre, "other films")
        self.scatter = LinkedScatter(
            self.mean_true,
            np.zeros(len(self.titles)),
            self.titles,
            color=labels,
            title="exposure against true mean rating",
            x_label="true mean rating",
            y_label="times recommended",
            height="320px",
            size=16,
        )
        self.scatter.add_class("lab8-feedback-exposure")
        self.table = TableView(
            pd.DataFrame(
                {"title": self.titles, "genre": labels, "true mean": self.mean_true, "exposure": 0}
            ),
            key="title",
            caption="films (click a header to sort)",
            height="320px",
            max_rows=300,
        )
        self.table.add_class("lab8-feedback-films")
        self.caption = W.HTML()
        self.link = link_selection(self.scatter, self.table)
        self.scatter.observe(lambda c: setattr(self, "selected", list(c["new"])), "selected")
        self.children = [self.caption, row(self.scatter, self.table)]

    @property
    def all_keys(self) -> list:
        return self.titles

    @traitlets.observe("selected")
    def _select(self, change) -> None:
        if list(self.scatter.selected) != list(change["new"]):
            self.scatter.selected = list(change["new"])

    def set_genre(self, in_genre: np.ndarray, genre: str) -> None:
        """Colour the films by another group genre (a run with a new ``group_genre``)."""
        import pandas as pd

        if genre == self.genre:
            return
        self.genre = genre
        labels = np.where(np.asarray(in_genre, bool), genre, "other films")
        self.scatter.set_color(labels)
        by_title = dict(zip(self.titles, labels, strict=True))
        frame = self.table.frame
        self.table.set_frame(pd.DataFrame(frame.assign(genre=frame["title"].map(by_title))))

    def show(self, exposure: np.ndarray, caption: str) -> None:
        import pandas as pd

        exposure = np.asarray(exposure, float)
        self.scatter.set_data(self.mean_true, exposure)
        frame = self.table.frame
        if len(frame):
            by_title = dict(zip(self.titles, exposure, strict=True))
            frame = frame.assign(exposure=frame["title"].map(by_title).astype(int))
            self.table.set_frame(pd.DataFrame(frame))
        self.caption.value = f'<div class="lab8-note">{caption}</div>'
