"""The labs: thin views over the models in ``lab8widgets.models``."""

from ..views.heatmap import HeatmapGrid
from ._base import BackgroundTask, LabBase, LabInputError, reject_unknown

__all__ = ["BackgroundTask", "HeatmapGrid", "LabBase", "LabInputError", "reject_unknown"]
