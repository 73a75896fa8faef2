"""The preset "dropout off vs on": two runs that differ only in dropout, on a training set small
enough for the CNN to memorise, so the lesson's point shows on screen: without dropout the train
loss falls to ~0 while the valid loss turns and climbs; with dropout the climb is smaller and the
valid accuracy is at least as high. Where the dropout sits depends on the head (``PRESET_AT``)."""

from __future__ import annotations

from .settings import CNNSettings

__all__ = ["OVERFIT", "PER_CLASS", "PRESET_AT", "dropout_pair", "preset_text", "preset_where"]

# Tuned on the balanced shipped digits (500 of each, 1,000 valid), split seeds 0-4 (and 5-9 to
# check), 8 channels, p=0.5, 40 epochs (time for the dropout run to converge). CPU, deterministic.
# Valid accuracy without → with dropout, seeds 0-4, at the position each head uses:
#   maxpool    head   0.863→0.889 0.853→0.872 0.868→0.881 0.863→0.881 0.861→0.884   5 of 5 ≥
#   stride2    head   0.756→0.783 0.768→0.787 0.812→0.812 0.836→0.827 0.821→0.826   4 of 5 ≥
#   avgpool    conv1  0.519→0.621 0.553→0.605 0.679→0.703 0.660→0.652 0.650→0.692   4 of 5 ≥
#   concatpool conv1  0.661→0.685 0.653→0.694 0.760→0.779 0.705→0.736 0.715→0.762   5 of 5 ≥
# (seeds 5-9: avgpool 5 of 5, concatpool 4 of 5). The valid-loss rise is smaller with dropout on
# 4-5 of 5 seeds for every head. Dropout before the last layer ("head") fails the global-pool
# heads (avgpool 3 of 5, concatpool 0 of 5): their last layer reads only 32 (64) pooled numbers
# and losing half of them costs accuracy. Also measured and rejected for them: nn.Dropout on the
# last maps before the pool (avgpool 4 of 5 but concatpool 1 of 5: inverted scaling inflates
# the max-pooled half), Dropout2d there (1 of 5), Dropout2d before conv3 (4 of 5 on seeds 0-4,
# 0 of 5 on 5-9), dropout after every conv (underfits the 8-channel nets), 16 channels (3 of 5,
# 4× the time). "conv1" on the flatten heads: stride2 accuracy 5 of 5 but a smaller rise on
# only 2 of 5, maxpool 2 of 5: they keep "head".
PER_CLASS = 10  # training digits of each class: few enough to memorise
OVERFIT = dict(digits="0-9", train_size=10 * PER_CLASS, epochs=40, lr=1e-2, bs=16, wd=0.01, seed=0)
PRESET_AT = {"maxpool": "head", "stride2": "head", "avgpool": "conv1", "concatpool": "conv1"}

_WHERE = {
    "head": "before the last linear layer",
    "conv1": "on the first conv layer's feature maps",
}
_WHY = {
    "head": "this head's last layer reads every position of the last feature maps, so dropping "
    "half still leaves it plenty",
    "conv1": "this head's last layer reads only pooled summaries (one or two numbers per channel) "
    "and dropping half of so few cost accuracy in our runs, while on the first maps dropout hides "
    "random bits of every stroke",
}


def dropout_pair(
    settings: CNNSettings | None = None, p: float = 0.5, seed: int | None = None
) -> tuple[CNNSettings, CNNSettings]:
    """The preset's two runs as settings, off first: ``settings``' head, activation and channels
    with the preset's data and schedule (``seed``: split, weights and batch order; default the
    preset's), then the same with dropout ``p`` where the head's preset puts it (``PRESET_AT``)."""
    s = settings or CNNSettings()
    fixed = dict(OVERFIT, **({} if seed is None else {"seed": seed}))
    off = s.replace(**fixed, dropout=0.0, dropout_at=PRESET_AT[s.head])
    return off, off.replace(dropout=p)


def preset_where(head: str = "maxpool") -> str:
    """Where the preset puts dropout for ``head``, and why, in words for the page."""
    at = PRESET_AT[head]
    return f"{_WHERE[at]} (dropout_at={at}): {_WHY[at]}"


def preset_text(p: float = 0.5, head: str = "maxpool") -> str:
    """What the preset does for ``head``, in a sentence for its button and the lab's status line."""
    return (
        f"trains on {PER_CLASS} digits of each class (0–9, {OVERFIT['train_size']} in all) for "
        f"{OVERFIT['epochs']} epochs, without and then with dropout p={p:g} "
        f"{preset_where(head)}; and overlays the curves"
    )
