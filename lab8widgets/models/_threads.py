"""One intra-op thread for small tensors, shared by every model here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_thread(active: bool = True) -> Iterator[None]:
    """Run this thread's torch ops on one intra-op thread, then restore the previous setting.

    The lesson's tensors are small (a 28×28 convolution, a batch of embedding rows): a second thread
    gains nothing, and in this torch build ``sqrt``, ``exp`` and indexing open an OpenMP team even
    for 100 elements. On a busy 2-core machine the team's spinning helper starves the work (measured:
    a 0.8 ms training step took 55 ms; a 28×28 convolution's p95 rose to ~16 ms). OpenMP keeps the
    count per thread, so the kernel's other threads are not affected.
    """
    before = torch.get_num_threads()
    if not active or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
