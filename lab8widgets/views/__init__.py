"""Reusable views with no lesson knowledge: heatmaps, training panels, linked scatters, tables,
controls generated from settings dataclasses. Labs in ``lab8widgets.widgets`` compose them
(see CONTRIBUTING.md)."""

from __future__ import annotations

from .link import link_selection
from .scatter import LinkedScatter
from .table import TableView

__all__ = ["LinkedScatter", "TableView", "link_selection"]
