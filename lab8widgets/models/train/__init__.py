"""Generic training shared by every lab: typed events and runs, fastai's one-cycle schedule,
``RowAdamW`` (row-wise AdamW for embeddings, dense AdamW for everything else) and one fit loop, and
the bridge that streams fastai's own training as the same events (``fastai_bridge``).

    from lab8widgets.models.train import FitSettings, fit
    run = fit(model, F.cross_entropy, (x, y), (vx, vy), FitSettings(epochs=3, lr=1e-3),
              metrics=lambda p, y: {"accuracy": (p.argmax(1) == y).float().mean()},
              optimizer="dense", callback=print)

No widget code here (``lab8widgets.views.training.TrainingPanel`` draws these events).
"""

from .events import BATCH_SIZES, STATUSES, FitSettings, Run, RunRecord, TrainEvent
from .fastai_bridge import fit_one_cycle_fastai, stream_callback
from .loop import OPTIMIZERS, evaluate, fit, model_device, snapshot
from .optim import RowAdamW, norm_bias_names
from .schedule import combined_cos, one_cycle

__all__ = [
    "BATCH_SIZES",
    "STATUSES",
    "OPTIMIZERS",
    "FitSettings",
    "Run",
    "RunRecord",
    "RowAdamW",
    "TrainEvent",
    "combined_cos",
    "evaluate",
    "fit",
    "fit_one_cycle_fastai",
    "model_device",
    "norm_bias_names",
    "one_cycle",
    "snapshot",
    "stream_callback",
]
