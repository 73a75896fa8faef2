"""The arithmetic ConvLab shows, pure torch: the lesson's kernels, input checks, shapes, receptive
fields and one convolution unrolled into a matrix multiplication (checked against ``F.conv2d``).

* ``top_edge`` and ``left_edge``: the lesson's 3×3 kernels (fastbook ch. 13);
* ``KERNEL_PRESETS``: those kernels and friends as functions of the kernel size ``k``;
* ``receptive_field``: the window of each earlier stage that a cell depends on;
* ``conv_as_matmul`` / ``matmul_demo``: one convolution as a matrix with tied weights.
"""

from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DEFAULT_FILTERS",
    "INPUT_SIZE",
    "KERNEL_PRESETS",
    "MAX_ABS_WEIGHT",
    "MatmulDemo",
    "StageMeta",
    "VanishedStageError",
    "Window",
    "as_digit_image",
    "check_kernel",
    "check_value",
    "conv_as_matmul",
    "conv_matrix_index",
    "left_edge",
    "matmul_demo",
    "out_size",
    "preset",
    "receptive_field",
    "resize_kernel",
    "top_edge",
]

top_edge = torch.tensor([[-1.0, -1.0, -1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
left_edge = torch.tensor([[-1.0, 1.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, 1.0, 0.0]])

MAX_ABS_WEIGHT = 1e6  # a kernel value beyond this is a typo, not an experiment
INPUT_SIZE = 28


# --- kernel presets ----------------------------------------------------------------------------
def _signs(k: int) -> torch.Tensor:
    """-1 before the centre, 0 at an odd kernel's centre, +1 after: the step an edge kernel looks for."""
    pos = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    return torch.sign(pos)


def _top_edge(k: int) -> torch.Tensor:
    """Dark above, bright below: fires on the top edge of a stroke (``top_edge`` at k=3)."""
    return _signs(k)[:, None].expand(k, k).clone()


def _bottom_edge(k: int) -> torch.Tensor:
    return _top_edge(k).flip(0)


def _left_edge(k: int) -> torch.Tensor:
    """-1 then +1 in the two columns left of centre: the lesson's ``left_edge`` at k=3; 0 at k=1."""
    w = torch.zeros(k, k)
    c = k // 2
    if c >= 1:
        w[:, c - 1] = -1.0
        w[:, c] = 1.0
    return w


def _right_edge(k: int) -> torch.Tensor:
    return _left_edge(k).flip(1)


def _blur(k: int) -> torch.Tensor:
    return torch.full((k, k), 1.0 / (k * k))


def _identity(k: int) -> torch.Tensor:
    w = torch.zeros(k, k)
    w[k // 2, k // 2] = 1.0
    return w


def _sharpen(k: int) -> torch.Tensor:
    """The classic 3×3 sharpen (centre 5, four neighbours -1), centred in any k."""
    w = _identity(k)
    c = k // 2
    for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        r, cc = c + dr, c + dc
        if 0 <= r < k and 0 <= cc < k:
            w[r, cc] = -1.0
            w[c, c] += 1.0
    return w


def _random(k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform in [-1, 1], rounded to 0.1 so the editor shows the exact values."""
    w = torch.rand(k, k, generator=generator) * 2 - 1
    return torch.round(w * 10) / 10


KERNEL_PRESETS: dict[str, Callable[..., torch.Tensor]] = {
    "top_edge": _top_edge,
    "bottom_edge": _bottom_edge,
    "left_edge": _left_edge,
    "right_edge": _right_edge,
    "blur": _blur,
    "sharpen": _sharpen,
    "identity": _identity,
    "random": _random,
}
# Filter i of a fresh network starts as preset DEFAULT_FILTERS[i % 8]: the lesson's two first.
DEFAULT_FILTERS = (
    "top_edge",
    "left_edge",
    "bottom_edge",
    "right_edge",
    "blur",
    "sharpen",
    "identity",
    "random",
)


def preset(name: str, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """A k×k preset kernel by name (``KeyError`` text lists the names)."""
    if name not in KERNEL_PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(KERNEL_PRESETS)}")
    if name == "random":
        return _random(k, generator)
    return KERNEL_PRESETS[name](k)


# --- input checking ------------------------------------------------------------------------------
def check_kernel(values: Any, k: int) -> torch.Tensor:
    """``values`` as a k×k float32 tensor, or a ``ValueError`` saying what is wrong with it.

    Refuses text, NaN, infinities and |v| > 1e6 so one typo cannot wipe out every activation.
    """
    if isinstance(values, torch.Tensor):
        arr = values.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(values)
        except (ValueError, TypeError) as e:  # ragged lists
            raise ValueError(f"kernel values must be a {k}×{k} array of numbers ({e})") from None
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"kernel values must be numbers, got {values!r}") from None
    if arr.shape != (k, k):
        raise ValueError(
            f"kernel must be {k}×{k} (the current kernel size), got shape {tuple(arr.shape)}"
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("kernel values must be finite numbers (no NaN or infinity)")
    if np.abs(arr).max(initial=0.0) > MAX_ABS_WEIGHT:
        raise ValueError(
            f"kernel values must be between -{MAX_ABS_WEIGHT:g} and {MAX_ABS_WEIGHT:g}"
        )
    return torch.as_tensor(arr, dtype=torch.float32)


def check_value(value: Any) -> float:
    """One kernel value typed or dragged by the learner (text allowed), checked like ``check_kernel``."""
    if isinstance(value, bool):
        raise ValueError(f"a kernel value must be a number, got {value!r}")
    if isinstance(value, str):
        text = value.strip().replace("−", "-")
        try:
            v = float(text)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a number: type a value such as -1, 0.5 or 2"
            ) from None
    elif isinstance(value, numbers.Real):
        v = float(value)
    else:
        raise ValueError(f"a kernel value must be a number, got {value!r}")
    if not math.isfinite(v):
        raise ValueError(f"a kernel value must be a finite number, got {value!r}")
    if abs(v) > MAX_ABS_WEIGHT:
        raise ValueError(
            f"a kernel value must be between -{MAX_ABS_WEIGHT:g} and {MAX_ABS_WEIGHT:g}, got {value!r}"
        )
    return v


def as_digit_image(x: Any, size: int = INPUT_SIZE) -> np.ndarray:
    """A 2-D array, tensor or PIL image as a ``size``×``size`` float32 image in [0, 1].

    Any H×W is resized (antialiased bilinear); uint8 and 0..255 integers are divided by 255; other
    values outside [0, 1] are rescaled min→0, max→1. Colour PIL images become grayscale.
    """
    if (
        hasattr(x, "convert")
        and hasattr(x, "size")
        and not isinstance(x, np.ndarray | torch.Tensor)
    ):
        arr = np.asarray(x.convert("L"), dtype=np.uint8)  # a PIL image
    elif isinstance(x, torch.Tensor):
        arr = x.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise ValueError(f"image must be a 2-D array of numbers ({e})") from None
    expected = f"expected a 2-D grayscale image of shape ({size}, {size}) (any H×W is resized to {size}×{size})"
    if arr.ndim > 2 and all(d == 1 for d in arr.shape[:-2]):
        arr = arr.reshape(arr.shape[-2:])  # (1, H, W) or (1, 1, H, W)
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"{expected}; got shape {tuple(arr.shape)}")
    if arr.dtype == bool:
        arr = arr.astype(np.float32)
    if not np.issubdtype(arr.dtype, np.number):
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            raise ValueError(f"image values must be numbers, got dtype {arr.dtype}") from None
    integer = np.issubdtype(arr.dtype, np.integer)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("image values must be finite numbers (no NaN or infinity)")
    lo, hi = float(arr.min()), float(arr.max())
    if integer and lo >= 0 and hi <= 255 and hi > 1:
        arr = arr / 255.0
    elif lo < 0 or hi > 1:
        arr = (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    t = torch.as_tensor(arr, dtype=torch.float32)
    if t.shape != (size, size):
        t = F.interpolate(
            t[None, None], size=(size, size), mode="bilinear", align_corners=False, antialias=True
        )[0, 0]
    return t.clamp_(0.0, 1.0).numpy().astype(np.float32)


# --- shapes ---------------------------------------------------------------------------------------
def out_size(n: int, k: int, stride: int = 1, padding: int = 0) -> int:
    """Output length of a convolution or pooling along one axis: ⌊(n + 2p − k) / s⌋ + 1 (≤ 0: none)."""
    if n + 2 * padding < k:
        return 0
    return (n + 2 * padding - k) // stride + 1


class VanishedStageError(ValueError):
    """A combination of sizes that leaves a stage with no output; the text names the stage."""

    def __init__(self, stage: str, message: str):
        super().__init__(message)
        self.stage = stage


class StageMeta(NamedTuple):
    """How one stage is computed from the stage before it, for shapes and receptive fields.

    ``kind`` is input, conv, act (the activation), pool, dense or softmax; ``mixes`` says whether each output cell
    reads every channel of the stage before (conv, dense) or only its own (act, pool).
    """

    kind: str
    shape: tuple[int, ...]  # (C, H, W) for maps, (n,) for dense/output
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    mixes: bool = False
    params: int = 0


class Window(NamedTuple):
    """Cells of one stage a clicked cell depends on: rows r0..r1 and columns c0..c1, inclusive.

    ``channels`` lists the channels involved (``None``: all of them).
    """

    r0: int
    c0: int
    r1: int
    c1: int
    channels: tuple[int, ...] | None = None


def _as_int(name: str, v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {v!r}")
    return int(v)


def resize_kernel(w: torch.Tensor, k: int) -> torch.Tensor:
    """Centre-crop or zero-pad an edited kernel to k×k, so a size change keeps what the learner made."""
    old = w.shape[0]
    out = torch.zeros(k, k)
    if k <= old:
        a = (old - k) // 2
        out[:] = w[a : a + k, a : a + k]
    else:
        a = (k - old) // 2
        out[a : a + old, a : a + old] = w
    return out


# --- receptive fields --------------------------------------------------------------------------------
def receptive_field(
    stages_meta: OrderedDict[str, StageMeta], stage: str, r: int, c: int, channel: int | None = None
) -> OrderedDict[str, Window]:
    """The window of every stage, from ``stage`` back to 'input', that cell (r, c) of ``stage`` reads.

    A window in stage s maps to the one before as rows r0·stride − padding … r1·stride − padding + k − 1,
    clipped to the stage (padding cells read nothing). Dense and output cells read everything.
    """
    names = list(stages_meta)
    if stage not in stages_meta:
        raise KeyError(f"unknown stage {stage!r}; stages are {', '.join(names)}")
    meta = stages_meta[stage]
    out: OrderedDict[str, Window] = OrderedDict()
    if len(meta.shape) == 1:  # dense / output: the whole picture
        if not 0 <= c < meta.shape[0] or r != 0:
            raise ValueError(f"{stage} has cells (0, 0..{meta.shape[0] - 1}), got ({r}, {c})")
        out[stage] = Window(0, c, 0, c, None)
        for name in reversed(names[: names.index(stage)]):
            shp = stages_meta[name].shape
            out[name] = (
                Window(0, 0, 0, shp[0] - 1, None)
                if len(shp) == 1
                else Window(0, 0, shp[1] - 1, shp[2] - 1, None)
            )
        return out
    C, H, W = meta.shape
    if not (0 <= r < H and 0 <= c < W):
        raise ValueError(f"{stage} is {H}×{W}; cell ({r}, {c}) is outside it")
    chans: tuple[int, ...] | None = None if channel is None else (int(channel),)
    r0 = r1 = r
    c0 = c1 = c
    out[stage] = Window(r0, c0, r1, c1, chans)
    idx = names.index(stage)
    while idx > 0:
        m = stages_meta[names[idx]]
        prev = names[idx - 1]
        _, ph, pw = stages_meta[prev].shape
        if m.kind in ("conv", "pool") and m.kernel >= 1:
            r0, r1 = r0 * m.stride - m.padding, r1 * m.stride - m.padding + m.kernel - 1
            c0, c1 = c0 * m.stride - m.padding, c1 * m.stride - m.padding + m.kernel - 1
            r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, ph - 1), min(c1, pw - 1)
        if m.mixes:
            chans = None
        out[prev] = Window(r0, c0, r1, c1, chans)
        idx -= 1
    return out


# --- convolution as matrix multiplication --------------------------------------------------------------
def _as_tensor(a: Any) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach()
    arr = np.asarray(a)
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"expected numbers, got dtype {arr.dtype}")
    return torch.as_tensor(arr)


def conv_matrix_index(
    h: int, w: int, k: int | tuple[int, int], stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Which kernel weight (row-major index a·kw + b) sits at each entry of the unrolled matrix; -1: zero.

    Row i·ow + j of the matrix computes output (i, j); column r·w + c multiplies input pixel (r, c).
    Cells that fall on padding simply have no column, so the matrix acts on the unpadded input.
    """
    kh, kw = (k, k) if isinstance(k, numbers.Integral) else (int(k[0]), int(k[1]))
    oh, ow = out_size(h, kh, stride, padding), out_size(w, kw, stride, padding)
    if oh < 1 or ow < 1:
        raise VanishedStageError(
            "conv", f"a {kh}×{kw} kernel does not fit a {h}×{w} input with padding {padding}"
        )
    i, j, a, b = np.meshgrid(
        np.arange(oh), np.arange(ow), np.arange(kh), np.arange(kw), indexing="ij"
    )
    rr = i * stride - padding + a
    cc = j * stride - padding + b
    ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    idx = np.full((oh * ow, h * w), -1, dtype=np.int64)
    rows = (i * ow + j)[ok]
    idx[rows, (rr * w + cc)[ok]] = (a * kw + b)[ok]
    return idx


def conv_as_matmul(
    x: Any, kernel: Any, stride: int = 1, padding: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One convolution as ``matrix @ flat_input``: returns (matrix, flat_input, output).

    ``matrix`` is (oh·ow, h·w) with each kernel weight tied across rows and zeros elsewhere;
    ``output`` is the product reshaped to (oh, ow) and equals ``F.conv2d(x[None, None], kernel[None, None],
    stride=stride, padding=padding)[0, 0]``.
    """
    return _unroll(x, kernel, stride, padding)[3:]


def _unroll(
    x: Any, kernel: Any, stride: int, padding: int
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``conv_as_matmul``'s work, keeping its by-products: (index, x, kernel, matrix, flat_input, output)."""
    xt, kt = _as_tensor(x), _as_tensor(kernel)
    if xt.ndim != 2 or kt.ndim != 2:
        raise ValueError(
            f"conv_as_matmul needs a 2-D input and a 2-D kernel, got {tuple(xt.shape)} and {tuple(kt.shape)}"
        )
    dtype = torch.float64 if torch.float64 in (xt.dtype, kt.dtype) else torch.float32
    xt, kt = xt.to(dtype), kt.to(dtype)
    s, p = _as_int("stride", stride), _as_int("padding", padding)
    if s < 1 or p < 0:
        raise ValueError(f"stride must be ≥ 1 and padding ≥ 0, got {s} and {p}")
    h, w = xt.shape
    kh, kw = kt.shape
    index = conv_matrix_index(h, w, (kh, kw), s, p)
    flat_k = torch.cat([kt.reshape(-1), torch.zeros(1, dtype=dtype)])
    matrix = flat_k[torch.from_numpy(index)]  # index -1 picks the appended zero
    flat = xt.reshape(-1)
    oh, ow = out_size(h, kh, s, p), out_size(w, kw, s, p)
    return index, xt, kt, matrix, flat, (matrix @ flat).reshape(oh, ow)


class MatmulDemo(NamedTuple):
    """What the lab's "convolution as matrix multiplication" view shows, with torch's answer beside it."""

    index: np.ndarray  # (oh·ow, h·w) kernel-weight index per entry, -1 for a structural zero
    matrix: torch.Tensor  # (oh·ow, h·w)
    flat_input: torch.Tensor  # (h·w,)
    product: torch.Tensor  # (oh·ow,) = matrix @ flat_input
    output: torch.Tensor  # (oh, ow): the product reshaped
    reference: torch.Tensor  # (oh, ow): F.conv2d on the same crop
    max_abs_error: float


def matmul_demo(x: Any, kernel: Any, stride: int = 1, padding: int = 0) -> MatmulDemo:
    """``conv_as_matmul`` plus the ``F.conv2d`` result it must equal, for the lab's check line."""
    index, xt, kt, matrix, flat, output = _unroll(x, kernel, stride, padding)
    ref = F.conv2d(xt[None, None], kt[None, None], stride=stride, padding=padding)[0, 0]
    err = float((output - ref).abs().max()) if output.numel() else 0.0
    return MatmulDemo(index, matrix, flat, output.reshape(-1), output, ref, err)
