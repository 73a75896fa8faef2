"""A small CNN on MNIST digits, as Lesson 8 ends its tour: conv layers, an activation, dropout, and
four heads (max-pool, stride 2, average pool, concat pool).

- ``settings``: ``CNNSettings``, what a learner picks for one run, and the choices.
- ``network``: ``make_cnn`` (the four heads, dropout, activations) and ``AdaptiveConcatPool2d``.
- ``data``: ``cnn_data``, a stratified, seeded split of real MNIST digits.
- ``fit``: ``evaluate``, ``misclassified`` and the fit (ours, and fastai's on the same rows).
- ``preset``: the "dropout off vs on" preset's settings, its dropout position per head, and text.
"""

from .data import CNNData, cnn_data
from .fit import accuracy, evaluate, fit_cnn, fit_fastai, misclassified
from .network import AdaptiveConcatPool2d, make_cnn
from .preset import OVERFIT, PER_CLASS, PRESET_AT, dropout_pair, preset_text, preset_where
from .settings import ACTIVATIONS, DIGIT_SETS, DROPOUT_AT, HEADS, CNNSettings

__all__ = [
    "ACTIVATIONS",
    "DIGIT_SETS",
    "DROPOUT_AT",
    "HEADS",
    "OVERFIT",
    "PER_CLASS",
    "PRESET_AT",
    "AdaptiveConcatPool2d",
    "CNNData",
    "CNNSettings",
    "accuracy",
    "cnn_data",
    "dropout_pair",
    "evaluate",
    "fit_cnn",
    "fit_fastai",
    "make_cnn",
    "misclassified",
    "preset_text",
    "preset_where",
]
