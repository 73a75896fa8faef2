"""A small CNN on MNIST digits, as Lesson 8 ends its tour: conv layers, an activation, dropout, and
four heads (max-pool, stride 2, average pool, concat pool). ``model`` holds the network, its data and
its fit (ours and fastai's, on the same rows)."""

from .model import (
    ACTIVATIONS,
    DIGIT_SETS,
    DROPOUT_AT,
    HEADS,
    OVERFIT,
    OVERFIT_DROPOUT,
    AdaptiveConcatPool2d,
    CNNData,
    CNNSettings,
    accuracy,
    cnn_data,
    evaluate,
    fit_cnn,
    fit_fastai,
    make_cnn,
    misclassified,
)

__all__ = [
    "ACTIVATIONS",
    "DIGIT_SETS",
    "DROPOUT_AT",
    "HEADS",
    "OVERFIT",
    "OVERFIT_DROPOUT",
    "AdaptiveConcatPool2d",
    "CNNData",
    "CNNSettings",
    "accuracy",
    "cnn_data",
    "evaluate",
    "fit_cnn",
    "fit_fastai",
    "make_cnn",
    "misclassified",
]
