"""The States section: the map of Germany beside the projected state embeddings, the map score with
its permutation test, what the data can and cannot show, and the nearest states of a selection.

The panel draws what it is given and reports clicks through ``on_select``; the lab computes."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as W
import numpy as np

from ...views import LinkedScatter, TableView, link_selection
from .common import fit_domain, labelled, wrap

__all__ = ["PAPER_FINDING", "StatesPanel"]

#: What Guo & Berkhahn (2016, section VI.3, figure 3) found on the real data.
PAPER_FINDING = (
    "<b>What the paper found.</b> Guo &amp; Berkhahn (2016) trained on about a million real "
    "Rossmann store-days; drawn with t-SNE, their state embedding resembled the map of Germany "
    "(Saxony, Thuringia and Saxony-Anhalt, the eastern states, clustered together). They explain it "
    "by neighbouring states sharing economy and culture. It was one picture, with no test against "
    "chance."
)


class StatesPanel(W.VBox):
    """Map and embedding views linked by selection, the score text, the data note, nearest states.

    ``on_select(keys)`` is called when the learner clicks a state in either view.
    """

    def __init__(self, on_select: Callable[[list], None]):
        self._on_select = on_select
        self.state_map = labelled(
            LinkedScatter(
                [],
                [],
                [],
                title="Map of Germany (state centres)",
                x_label="km east",
                y_label="km north",
                height="340px",
            )
        )
        self.state_emb = labelled(
            LinkedScatter(
                [],
                [],
                [],
                title="State embeddings (PCA, aligned to the map)",
                x_label="PC → east",
                y_label="PC → north",
                height="340px",
            )
        )
        self.state_map.add_class("lab8-entity-map")
        self.state_emb.add_class("lab8-entity-emb")
        self.link = link_selection(self.state_map, self.state_emb)
        self.state_map.observe(self._view_selected, "selected")
        self.state_emb.observe(self._view_selected, "selected")
        self.map_html = W.HTML()
        self.map_html.add_class("lab8-entity-score")
        self.data_html = W.HTML()
        self.data_html.add_class("lab8-entity-data-note")
        self.nearest_table = TableView(caption="Nearest states in embedding space", height="200px")
        self.nearest_table.add_class("lab8-entity-nearest")
        super().__init__(
            [
                W.HBox([self.state_map, self.state_emb], layout=wrap()),
                self.map_html,
                self.data_html,
                self.nearest_table,
            ]
        )

    @property
    def state_keys(self) -> list:
        """The states shown (the map's points, in order)."""
        return list(self.state_map.all_keys)

    def set_states(self, positions) -> None:
        """Points for ``positions`` (x, y indexed by state; None: no map for this data)."""
        keys = [] if positions is None else list(positions.index)
        xs = [] if positions is None else positions["x"]
        ys = [] if positions is None else positions["y"]
        self.state_map.set_data(xs, ys, keys)
        fit_domain(self.state_map, xs, ys)
        self.state_emb.set_data(np.zeros(len(keys)), np.zeros(len(keys)), keys)

    def show_projection(self, x: Sequence[float], y: Sequence[float]) -> None:
        self.state_emb.set_data(x, y)
        fit_domain(self.state_emb, x, y)

    def select(self, keys: list) -> None:
        if self.state_map.selected != keys:
            self.state_map.selected = keys  # the link paints the embedding view

    def show_nearest(self, frame) -> None:
        self.nearest_table.set_frame(frame)

    def _view_selected(self, change) -> None:
        self._on_select(list(change["new"]))
