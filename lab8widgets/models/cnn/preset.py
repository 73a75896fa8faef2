"""The preset "dropout off vs on": two runs that differ only in dropout, on a training set small
enough for the CNN to memorise, so the lesson's point shows on screen: without dropout the train
loss falls to ~0 while the valid loss turns and climbs; with dropout the climb is smaller and the
valid accuracy is at least as high."""

from __future__ import annotations

from .settings import CNNSettings

__all__ = ["OVERFIT", "OVERFIT_DROPOUT", "PER_CLASS", "dropout_pair", "preset_text"]

PER_CLASS = 10  # training digits of each class: few enough to memorise
OVERFIT = dict(digits="0-9", train_size=10 * PER_CLASS, epochs=25, lr=3e-2, bs=16, wd=0.01, seed=0)
OVERFIT_DROPOUT = dict(dropout=0.5, dropout_at="conv")


def dropout_pair(
    settings: CNNSettings | None = None, p: float = 0.5, seed: int | None = None
) -> tuple[CNNSettings, CNNSettings]:
    """The preset's two runs as settings, off first: ``settings``' head, activation and channels
    with the preset's data and schedule (``seed``: split, weights and batch order; default the
    preset's), then the same with dropout ``p``."""
    s = settings or CNNSettings()
    fixed = dict(OVERFIT, **({} if seed is None else {"seed": seed}))
    off = s.replace(**fixed, dropout=0.0, dropout_at=OVERFIT_DROPOUT["dropout_at"])
    return off, off.replace(dropout=p)


def preset_text(p: float = 0.5) -> str:
    """What the preset does, in a sentence for its button and the lab's status line."""
    return (
        f"trains on {PER_CLASS} digits of each class (0–9, {OVERFIT['train_size']} in all) for "
        f"{OVERFIT['epochs']} epochs, without and then with dropout p={p:g} "
        f"at {OVERFIT_DROPOUT['dropout_at']}, and overlays the curves"
    )
