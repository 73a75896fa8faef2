"""The tabular loop (``fit_tabular``) against fastai's ``tabular_learner`` on the same data.

Both train the same model (fastai's TabularModel layout: an embedding per categorical column sized
by ``emb_sz_rule``, layers 200-100, dropout ps=(0.001, 0.01), embed_p=0.04, y_range (0, 1.2·max))
with ``fit_one_cycle(epochs, lr, wd=wd)`` at the same batch size, on the same rows and the same
date split (the last 48 days are valid) of the offline default: ``synthetic_store_sales()``.
Only fitting is timed (not building data or DataLoaders). Prints both sides and the ratio from one
run; the last line is one JSON object.

    python benchmarks/entity_speed.py              # the default recipe
    python benchmarks/entity_speed.py --check      # exit 1 when a target is missed

Targets: ours at least 5x faster than fastai, valid loss within +0.0005 of fastai's (one seed each:
seeds move either side's loss by about that much).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SPEED_TARGET, LOSS_SLACK = 5.0, 0.0005


def machine() -> str:
    import fastai
    import torch

    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (
        f"{cores} usable cores ({cpu}), torch {torch.__version__.split('+')[0]} "
        f"({torch.get_num_threads()} threads), fastai {fastai.__version__}, Python "
        f"{platform.python_version()}; load average at start {load}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--wd", type=float, default=0.2)
    p.add_argument("--bs", type=int, default=512)
    p.add_argument("--n-stores", type=int, default=120)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--quick", action="store_true", help="smoke run (CI): 20 stores, 1 epoch")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.n_stores, args.check = 1, 20, False
    warnings.filterwarnings("ignore")  # fastai's notices are not results

    from lab8widgets.data import synthetic_store_sales
    from lab8widgets.models.tabular import (
        compare_fastai,
        fit_tabular,
        get_emb_sz,
        tabular_data,
        tabular_model,
    )

    print("EntityLab speed benchmark:", machine())
    t0 = time.perf_counter()
    sales = synthetic_store_sales(n_stores=args.n_stores, seed=args.seed)
    data = tabular_data(sales.frame, sales.cat_names, sales.cont_names, sales.y_name)
    print(sales.source)
    print(f"  {data.describe()}")
    print(f"  embedding sizes {dict(zip(data.cat_names, get_emb_sz(data), strict=True))}")
    print(f"  (data built in {time.perf_counter() - t0:.1f} s; not timed below)")
    recipe = dict(epochs=args.epochs, lr=args.lr, wd=args.wd, bs=args.bs)
    print(f"  recipe: fit_one_cycle {recipe}, layers 200-100, ps (0.001, 0.01), embed_p 0.04")
    print(
        f"  {'engine':<36} {'valid loss':>10}  {'exp_rmspe':>9}  {'fit seconds':>11}  "
        f"{'CPU seconds':>11}"
    )

    # fastai on the main thread with its default threads: its fastest setting, as users run it
    c0 = time.process_time()
    fa = compare_fastai(data, **recipe, seed=args.seed)
    fa_cpu = time.process_time() - c0  # includes building its DataLoaders (small)
    assert sorted(fa.learner.dls.valid.items.index) == data.valid_idx.tolist()
    print(
        f"  {'fastai tabular_learner':<36} {fa.valid_mse:>10.5f}  {'':>9}  {fa.seconds:>11.2f}  {fa_cpu:>11.2f}"
    )

    model = tabular_model(data, seed=args.seed)
    c0 = time.process_time()
    ours = fit_tabular(model, data, **recipe, seed=args.seed)
    ours_cpu = time.process_time() - c0
    ours_rmspe = ours.history[-1]["exp_rmspe"]
    print(
        f"  {'fit_tabular (shared loop, 1 thread)':<36} {ours.valid_mse:>10.5f}  "
        f"{ours_rmspe:>9.4f}  {ours.seconds:>11.2f}  {ours_cpu:>11.2f}"
    )
    ratio = fa.seconds / ours.seconds
    fast_ok = ratio >= SPEED_TARGET
    loss_ok = ours.valid_mse <= fa.valid_mse + LOSS_SLACK
    print(
        f"  speed: ours is {ratio:.1f}x faster ({'meets' if fast_ok else 'MISSES'} the "
        f"{SPEED_TARGET:g}x target); valid loss {ours.valid_mse:.5f} vs fastai "
        f"{fa.valid_mse:.5f} (difference {ours.valid_mse - fa.valid_mse:+.5f}, "
        f"{'within' if loss_ok else 'OVER'} the +{LOSS_SLACK:g} slack); "
        f"{ours.steps} steps each ({fa.steps} for fastai); in CPU seconds (what a busy machine "
        f"does not stretch) ours is {fa_cpu / ours_cpu:.1f}x cheaper"
    )
    print(
        json.dumps(
            {
                "ours_s": round(ours.seconds, 3),
                "ours_valid_loss": round(ours.valid_mse, 6),
                "fastai_s": round(fa.seconds, 3),
                "fastai_valid_loss": round(fa.valid_mse, 6),
                "ratio": round(ratio, 2),
                "ours_cpu_s": round(ours_cpu, 3),
                "fastai_cpu_s": round(fa_cpu, 3),
                "quick": args.quick,
            }
        )
    )
    return 0 if (fast_ok and loss_ok) or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
