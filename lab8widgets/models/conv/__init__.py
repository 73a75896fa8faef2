"""The course's conv-example spreadsheet as a live torch model (no widgets).

- ``network``: ``SpreadsheetCNN``, conv1 → activation → conv2 → activation → [dropout] → pool →
  dense → softmax, and the names of its stages.
- ``ops``: the arithmetic ConvLab shows: the lesson's kernels, input checks, output sizes,
  receptive fields, and one convolution unrolled into a matrix multiplication.
- ``fit``: fitting the dense layer on sample digits with the convolutions frozen (memoised).
- ``config``: ``ConvConfig``, the settings that shape the network.
"""

from .config import ARCH_FIELDS, POOL_TYPES, ConvConfig
from .fit import FIT_IMAGES, DenseFit, fit_dense, fit_dense_cached
from .network import STAGES, SpreadsheetCNN
from .ops import (
    DEFAULT_FILTERS,
    INPUT_SIZE,
    KERNEL_PRESETS,
    MAX_ABS_WEIGHT,
    MatmulDemo,
    StageMeta,
    VanishedStageError,
    Window,
    as_digit_image,
    check_kernel,
    check_value,
    conv_as_matmul,
    conv_matrix_index,
    left_edge,
    matmul_demo,
    out_size,
    preset,
    receptive_field,
    resize_kernel,
    top_edge,
)

__all__ = [
    "ARCH_FIELDS",
    "DEFAULT_FILTERS",
    "FIT_IMAGES",
    "INPUT_SIZE",
    "KERNEL_PRESETS",
    "MAX_ABS_WEIGHT",
    "POOL_TYPES",
    "STAGES",
    "ConvConfig",
    "DenseFit",
    "MatmulDemo",
    "SpreadsheetCNN",
    "StageMeta",
    "VanishedStageError",
    "Window",
    "as_digit_image",
    "check_kernel",
    "check_value",
    "conv_as_matmul",
    "conv_matrix_index",
    "fit_dense",
    "fit_dense_cached",
    "left_edge",
    "matmul_demo",
    "out_size",
    "preset",
    "receptive_field",
    "resize_kernel",
    "top_edge",
]
