"""The preset "dropout off vs on": two runs that differ only in dropout, on a training set small
enough for the CNN to memorise, so the lesson's point shows on screen: without dropout the train
loss falls to ~0 while the valid loss turns and climbs; with dropout the climb is smaller and the
valid accuracy is at least as high."""

from __future__ import annotations

from .settings import CNNSettings

__all__ = ["OVERFIT", "OVERFIT_DROPOUT", "PER_CLASS", "dropout_pair", "preset_text"]

# Tuned on the balanced shipped digits (500 of each, 1,000 valid), five split seeds per head, 8
# channels. Dropout sits before the last linear layer ("head"): p=0.5 after every conv activation
# shrank the valid-loss rise more, but left the 8-channel net underfit (valid accuracy 0.24-0.44
# against 0.61-0.74 without, concatpool). 40 epochs give the dropout run time to converge.
# Valid accuracy without → with dropout, seeds 0-4 (CPU, deterministic):
#   maxpool     0.863→0.889 0.853→0.872 0.868→0.881 0.863→0.881 0.861→0.884   5 of 5 ≥
#   stride2     0.756→0.783 0.768→0.787 0.812→0.812 0.836→0.827 0.821→0.826   4 of 5 ≥
#   avgpool     0.519→0.556 0.553→0.559 0.679→0.660 0.660→0.612 0.650→0.677   3 of 5 ≥
#   concatpool  0.661→0.639 0.653→0.627 0.760→0.738 0.705→0.680 0.715→0.700   0 of 5 ≥
# The valid loss rises less with dropout in 17 of the 20. The global-pool heads' last layer sees
# only 32 (64) pooled features; with 16 channels concatpool's dropout run was as accurate on 3 of 3
# seeds, but that costs ~4× the time. Not yet solved for avgpool and concatpool at 8 channels.
PER_CLASS = 10  # training digits of each class: few enough to memorise
OVERFIT = dict(digits="0-9", train_size=10 * PER_CLASS, epochs=40, lr=1e-2, bs=16, wd=0.01, seed=0)
OVERFIT_DROPOUT = dict(dropout=0.5, dropout_at="head")


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
