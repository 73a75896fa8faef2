"""Kept for imports written before the views package: ``HeatmapGrid`` lives in ``lab8widgets.views.heatmap``."""

from ..views.heatmap import STATIC, HeatmapGrid, HeatmapStack

__all__ = ["STATIC", "HeatmapGrid", "HeatmapStack"]
