"""EntityLab's control panels: which data (and the shuffled-states control), and what to do with
the learned embeddings (other models, the Embedding Projector).

Each panel is given callbacks and emits nothing else: the lab does the work and hands back what to
show (``show_table``, ``show_files``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as W

from ...views import TableView
from ...views.download import download_links

__all__ = ["DATA_CHOICES", "DataPanel", "EmbeddingUsePanel"]

#: the offline choices the page offers: data name -> its label
DATA_CHOICES = {
    "synthetic": "synthetic, no geography planted",
    "synthetic-planted": "synthetic, geography planted",
}


class DataPanel(W.HBox):
    """A data dropdown (``on_data(name)``) and the "shuffle the states" control (``on_shuffle()``)."""

    def __init__(self, on_data: Callable[[str], None], on_shuffle: Callable[[], None]):
        self.data_pick = W.Dropdown(
            options=[(label, name) for name, label in DATA_CHOICES.items()],
            description="data",
            layout=W.Layout(width="340px"),
        )
        self.data_pick.add_class("lab8-entity-data")
        self._on_data = on_data
        self.data_pick.observe(self._picked, "value")
        self.shuffle_button = W.Button(
            description="Shuffle the states",
            icon="random",
            tooltip="train on the same rows with the State names permuted: what chance looks like",
            layout=W.Layout(width="180px"),
        )
        self.shuffle_button.add_class("lab8-entity-shuffle")
        self.shuffle_button.on_click(lambda _b: on_shuffle())
        super().__init__([self.data_pick, self.shuffle_button], layout=W.Layout(gap="8px"))

    def show(self, name: str | None) -> None:
        """Show ``name`` as picked without calling back (None: data the dropdown does not offer)."""
        self.data_pick.unobserve(self._picked, "value")
        try:
            self.data_pick.value = name if name in DATA_CHOICES else None
        finally:
            self.data_pick.observe(self._picked, "value")

    def _picked(self, change) -> None:
        if change["new"] is not None:
            self._on_data(change["new"])


class EmbeddingUsePanel(W.VBox):
    """ "Use the embeddings in other models" (``on_other_models()``) and the projector downloads
    of one column's embedding (``on_column(name)`` when the column changes)."""

    def __init__(self, on_other_models: Callable[[], None], on_column: Callable[[str], None]):
        self.other_button = W.Button(
            description="Use the embeddings in other models",
            icon="table",
            tooltip="KNN, a random forest and gradient boosting, with and without the embeddings",
            layout=W.Layout(width="300px"),
        )
        self.other_button.add_class("lab8-entity-other")
        self.other_button.on_click(lambda _b: on_other_models())
        self.other_table = TableView(caption="Valid error of other models", height="290px")
        self.other_table.add_class("lab8-entity-other-table")
        self.other_html = W.HTML()
        self.projector_pick = W.Dropdown(description="export")
        self.projector_pick.observe(lambda c: on_column(c["new"]), "value")
        self.files = W.Box()
        self.files.add_class("lab8-entity-projector")
        super().__init__(
            [
                self.other_button,
                self.other_html,
                self.other_table,
                W.HTML(
                    "<div class='lab8-note'>Embedding Projector (projector.tensorflow.org → Load): "
                    "one column's vectors and their labels.</div>"
                ),
                W.HBox([self.projector_pick, self.files], layout=W.Layout(gap="8px")),
            ]
        )

    def show_table(self, frame, text: str) -> None:
        """Show ``frame`` (None: empty the table, e.g. for new data) and ``text`` above it."""
        import pandas as pd

        self.other_table.set_frame(pd.DataFrame() if frame is None else frame)
        self.other_html.value = text

    def set_columns(self, names: list[str], value: str | None) -> None:
        self.projector_pick.options = names
        self.projector_pick.value = value

    def show_files(self, files: Mapping[str, str]) -> None:
        self.files.children = [download_links(files, "Download")]
