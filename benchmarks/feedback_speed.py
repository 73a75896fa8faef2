"""FeedbackLab's loop: how long ten rounds of 600 users take (issue 23: at most 20 s on 2 cores),
and what the same rounds would cost with fastai's ``collab_learner`` retrained each round.

One run of ``FeedbackLoop`` on ml-latest-small (from ``../shared/data``; ``--quick``: the labelled
synthetic ratings, small): the true tastes are trained once first (timed apart, cached for every
later run of a lab), then round 0 and ``--rounds`` more, each training ``DotProductBias`` on every
rating observed so far, recommending and rating. The peer: fastai's ``collab_learner`` (the same
``n_factors``, ``y_range``, batch size, ``fit_one_cycle(epochs, lr, wd)``) trained on each round's
ratings as our loop trained on them; only fitting is timed on both sides (fastai's DataLoaders are
built outside its clock; ours has none to build). Both run on torch's default threads, as a
learner runs them. The ratio is fastai's fitting time over our whole rounds.

    python benchmarks/feedback_speed.py              # 10 rounds, 600 users, ml-latest-small
    python benchmarks/feedback_speed.py --no-fastai  # our loop only
    python benchmarks/feedback_speed.py --one-thread # both on one thread: fastai's OpenMP threads
                                                     # wait on each other on a busy 2-core box
    python benchmarks/feedback_speed.py --quick      # CI smoke run: synthetic, 2 rounds
    python benchmarks/feedback_speed.py --check      # exit 1 when 10 rounds take over 20 s
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import machine  # noqa: E402

TARGET_S = 20.0  # issue 23: ten rounds of 600 users on 2 cores
LATEST_SMALL = ROOT.parent / "shared" / "data" / "ml-latest-small"


def ratings(quick: bool, path: Path):
    from lab8widgets.data import movielens
    from lab8widgets.models.collab import load_ratings

    if quick:
        return load_ratings("synthetic").frame
    return movielens("ml-latest-small", path=path, download=False).ratings


def fastai_round(loop, seed: int, first: bool) -> float:
    """fastai's collab_learner fitted on the loop's ratings so far, with the loop's recipe (round
    0 trains ``FIRST_EPOCHS`` times as long, as the loop does)."""
    import pandas as pd

    from lab8widgets.models.collab import collab_data, fit_fastai
    from lab8widgets.models.feedback import FIRST_EPOCHS

    s = loop.settings
    frame = pd.DataFrame(
        {"user": loop.obs_users, "item": loop.obs_items, "rating": loop.obs_ratings}
    )
    data = collab_data(frame, "user", "item", "rating", valid_pct=0.02, seed=seed)
    res = fit_fastai(
        data,
        s.epochs * (FIRST_EPOCHS if first else 1),
        s.lr,
        s.wd,
        s.n_factors,
        (0.0, loop.hi + 0.5),
        bs=512,
        seed=seed,
    )
    return res.seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--users", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latest-small", type=Path, default=LATEST_SMALL)
    ap.add_argument("--no-fastai", action="store_true", help="time our loop only")
    ap.add_argument(
        "--one-thread", action="store_true", help="both sides on one torch thread (step cost alone)"
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--check", action="store_true", help=f"exit 1 over {TARGET_S:g} s")
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.users = 2, 60
    import torch

    from lab8widgets.models.feedback import FeedbackLoop, FeedbackSettings, ground_truth

    if a.one_thread:
        torch.set_num_threads(1)
    where = machine("torch", "fastai")
    frame = ratings(a.quick, a.latest_small)
    t0 = time.perf_counter()
    truth = ground_truth(frame, seed=a.seed)
    truth_s = time.perf_counter() - t0
    genres = truth.all_genres()  # the lab's default, Animation, where the data has it
    genre = "Animation" if "Animation" in genres else genres[-1]
    settings = FeedbackSettings(n_users=a.users, seed=a.seed, group_genre=genre)
    loop = FeedbackLoop(truth, settings)
    ours, theirs, rows = [], [], []
    t_all = time.perf_counter()
    fastai_total = 0.0
    for r in range(a.rounds + 1):
        t = time.perf_counter()
        entry = loop.step()
        ours.append(time.perf_counter() - t)
        if not a.no_fastai:
            t_f = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                theirs.append(fastai_round(loop, a.seed + r, first=r == 0))
            fastai_total += time.perf_counter() - t_f
        rows.append((r, entry["ratings"], ours[-1], theirs[-1] if theirs else None))
        print(
            f"round {r:2d}: {entry['ratings']:7,d} ratings  ours {ours[-1]:6.2f} s"
            + (f"  fastai fit {theirs[-1]:6.2f} s" if theirs else ""),
            flush=True,
        )
    loop_s = time.perf_counter() - t_all - fastai_total
    print(f"\nmachine: {where}")
    print(
        f"true tastes (trained once, cached): {truth_s:.2f} s; {a.rounds} rounds after round 0, "
        f"{a.users} users + the group: {loop_s:.2f} s in all (target {TARGET_S:g} s: "
        f"{'met' if loop_s <= TARGET_S else 'MISSED'})"
    )
    out = {
        "rounds": a.rounds,
        "users": a.users,
        "truth_s": round(truth_s, 2),
        "ours_s": round(loop_s, 2),
        "ours_round_s": [round(x, 3) for x in ours],
        "target_s": TARGET_S,
        "threads": torch.get_num_threads(),
        "quick": a.quick,
    }
    if theirs:
        ratio = sum(theirs) / sum(ours)
        print(
            f"fastai collab_learner fitting the same rounds' ratings: {sum(theirs):.2f} s "
            f"(fitting only) against our whole rounds' {sum(ours):.2f} s: {ratio:.1f}x"
        )
        out.update(fastai_s=round(sum(theirs), 2), ratio=round(ratio, 2))
    print(json.dumps(out))
    if a.check and loop_s > TARGET_S:
        sys.exit(1)


if __name__ == "__main__":
    main()
