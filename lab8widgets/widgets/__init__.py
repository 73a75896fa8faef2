"""The labs: thin views over the models in ``lab8widgets.models``."""

from ._base import BackgroundTask, LabBase, LabInputError, reject_unknown
from .grid import HeatmapGrid

__all__ = ["BackgroundTask", "HeatmapGrid", "LabBase", "LabInputError", "reject_unknown"]
