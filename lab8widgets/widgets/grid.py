"""Kept for imports written before the views package: ``HeatmapGrid`` lives in ``lab8widgets.views.heatmap``."""

from ..views.heatmap import HeatmapGrid, HeatmapStack

__all__ = ["HeatmapGrid", "HeatmapStack"]
