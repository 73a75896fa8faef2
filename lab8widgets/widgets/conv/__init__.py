"""ConvLab: the course's conv-example spreadsheet as a live, draggable torch model.

``lab.py`` holds the lab's state, public API and live model; the panels are ``page.py`` (controls,
input column, prediction), ``chain.py`` (the chain of heatmaps), ``matmul.py`` (convolution as a
matrix product) and ``activation.py`` (the non-linearity).
"""

from .lab import ConvLab

__all__ = ["ConvLab"]
