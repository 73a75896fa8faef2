"""The preheat pool: kernels that run a lab's notebook before a learner asks (Voila's preheat)."""

from __future__ import annotations

from pathlib import Path

from .places import is_shipped

FILL_DELAY = 8  # seconds before a used preheated kernel is replaced


def preheat_argv(root: Path, notebook: Path | None, preheat: bool, pool: int = 1) -> list[str]:
    """Keep a kernel per lab notebook running the notebook before anyone asks (Voila's preheat).

    A learner's first widget then waits on a page render, not on a kernel start and torch import.
    On for the shipped labs (``--no-preheat`` turns it off); a learner's own notebook is never run
    ahead of a request. Voila refills the pool ``FILL_DELAY`` seconds after each use; ``pool``
    kernels are kept ready per notebook (``serve --pool N``: a class arriving at once needs about
    its size, or every learner beyond the pool waits for a kernel to start).
    """
    if not preheat or not is_shipped(root, notebook):
        return []
    # the refill waits until the page that took the kernel has loaded (on 2 cores a kernel start
    # importing torch slows the page it follows by seconds)
    argv = [
        "--VoilaConfiguration.preheat_kernel=True",
        f"--VoilaConfiguration.default_pool_size={int(pool)}",
        f"--VoilaKernelManager.fill_delay={FILL_DELAY}",
    ]
    if notebook is None:
        # the whole folder: only the index (where learners land) is kept warm; a kernel per lab
        # would hold ~0.75 GB each and start eight torch imports at once on a small machine
        from ..labs import LABS

        argv += [
            f"--VoilaKernelManager.preheat_denylist={lab.notebook}"
            for lab in LABS
            if lab.name != "index"
        ]
    return argv
