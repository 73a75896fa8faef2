"""CNNLab: a small CNN on MNIST digits, trained live (``lab.py``), with its panels: the model's
readout and misclassified digits (``readout.py``) and the dropout preset's button (``preset.py``).
The settings form, chart and runs table are ``views.training.TrainingPanel``."""

from .lab import CNNLab

__all__ = ["CNNLab"]
