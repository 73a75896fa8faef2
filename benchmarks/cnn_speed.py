"""CNNLab.fit against fastai's ``Learner`` with the same model, data and one-cycle schedule.

For each seed, ``CNNLab(...).fit(epochs=5, lr=1e-2)`` trains the lab's small CNN (default head
max-pool, 8/16/32 channels) on the shipped MNIST 3s and 7s (800 train, 200 valid). fastai gets an
exact copy of the same initial weights (``make_cnn`` with the same settings and seed), the same
tensors and batch size (train shuffled, last partial batch dropped), and runs
``Learner(dls, model, loss_func=CrossEntropyLossFlat(), metrics=accuracy).fit_one_cycle(5, 1e-2,
wd=0.01)`` with torch's default threads, as a user would. Ours is timed as the learner waits:
``lab.fit`` wall-clock, streaming to the widget included; fastai's only inside ``fit_one_cycle``.
Accuracies are the mean over the seeds (200 valid digits: 0.5 points each, so one run is noisy).

    python benchmarks/cnn_speed.py              # 3 seeds, default head
    python benchmarks/cnn_speed.py --head stride2 --seeds 5
    python benchmarks/cnn_speed.py --check      # exit 1 when a target is missed
    python benchmarks/cnn_speed.py --fastai-one-thread   # fastai on one thread, as ours runs

Targets: ours at least as fast as fastai (ratio ≥ 1), accuracy within 1 point of fastai's.
Last line: one JSON object with ours_s, ours_accuracy, fastai_s, fastai_accuracy, ratio.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
import warnings

from _common import machine

RECIPE = dict(epochs=5, lr=1e-2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--head", default="maxpool")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--check", action="store_true")
    ap.add_argument(
        "--fastai-one-thread",
        action="store_true",
        help="run fastai on one intra-op thread, as ours runs (default: torch's default threads)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): one seed, one epoch")
    args = ap.parse_args()
    if args.quick:
        args.seeds = 1
        RECIPE["epochs"] = 1
    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("LAB8WIDGETS_OFFLINE", "1")

    from lab8widgets import CNNLab
    from lab8widgets.models.cnn import fit_fastai, make_cnn

    print(machine("torch", "fastai"))
    ours_t, ours_acc, fa_t, fa_acc = [], [], [], []
    print(f"  {'seed':>4}  {'ours s':>7}  {'ours acc':>8}  {'fastai s':>8}  {'fastai acc':>10}")
    for seed in range(args.seeds):
        lab = CNNLab(head=args.head, seed=seed)
        if seed == 0:
            print(f"{lab.source}\nrecipe: {RECIPE}, {lab.settings}")
        s = lab.settings.replace(**RECIPE)
        twin = make_cnn(s, lab.data.n_classes)  # the weights lab.fit starts from
        t0 = time.perf_counter()
        hist = lab.fit(**RECIPE)["history"]  # fit returns the run's RunRecord
        ours_t.append(time.perf_counter() - t0)
        ours_acc.append(hist[-1]["accuracy"])
        fa = fit_fastai(copy.deepcopy(twin), lab.data, s, single_thread=args.fastai_one_thread)
        fa_t.append(fa.seconds)
        fa_acc.append(fa.history[-1]["accuracy"])
        print(f"  {seed:>4}  {ours_t[-1]:>7.2f}  {ours_acc[-1]:>8.1%}  {fa_t[-1]:>8.2f}  "
              f"{fa_acc[-1]:>10.1%}")  # fmt: skip
    result = dict(
        head=args.head,
        quick=args.quick,
        fastai_threads=1 if args.fastai_one_thread else "default",
        seeds=args.seeds,
        ours_s=round(statistics.median(ours_t), 3),
        ours_accuracy=round(statistics.fmean(ours_acc), 4),
        fastai_s=round(statistics.median(fa_t), 3),
        fastai_accuracy=round(statistics.fmean(fa_acc), 4),
    )
    result["ratio"] = round(result["fastai_s"] / result["ours_s"], 2)
    ok = result["ratio"] >= 1 and abs(result["ours_accuracy"] - result["fastai_accuracy"]) <= 0.01
    print(
        f"median seconds: ours {result['ours_s']:.2f} (lab.fit, wall) vs fastai "
        f"{result['fastai_s']:.2f} (fit_one_cycle): {result['ratio']:.1f}x; mean accuracy "
        f"{result['ours_accuracy']:.1%} vs {result['fastai_accuracy']:.1%} "
        f"({'targets met' if ok else 'a target missed'})"
    )
    print(json.dumps(result))
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
