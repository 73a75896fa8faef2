"""What every benchmark script here shares: the line that says which machine the numbers come from,
and percentiles. Imported as ``from _common import machine, pct`` (a script's own folder is on
``sys.path``). Run on its own, like every script here, it prints its figures, the machine's, as a
JSON last line (to file beside a set of results):

    python benchmarks/_common.py [--quick]
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(*libs: str, browser: str | None = None) -> str:
    """One line: usable cores and CPU, OS, Python, each of ``libs``' version (torch with its
    threads), the browser when given (``"Chromium 140.0 headless"``) and the load average now
    (call it before measuring): a shared machine's load inflates every figure."""
    parts = [
        f"{cores()} usable cores ({cpu_name()}, {platform.machine()})",
        f"{platform.system()} {platform.release()}",
        f"Python {platform.python_version()}",
    ]
    for name in libs:
        mod = importlib.import_module(name)
        version = str(getattr(mod, "__version__", "?")).split("+")[0]
        if name == "torch":
            parts.append(f"torch {version} ({mod.get_num_threads()} threads)")
        else:
            parts.append(f"{name} {version}")
    if browser:
        parts.append(browser)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return ", ".join(parts) + f"; load average {load} (1, 5, 15 min)"


def pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (nearest rank); NaN when there are none."""
    if not xs:
        return math.nan
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def cores() -> int:
    """Cores this process may run on (a container's limit, not the host's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main() -> None:
    ap = argparse.ArgumentParser(description="the machine the benchmarks run on")
    ap.add_argument("--quick", action="store_true", help="the same (nothing to shorten)")
    args = ap.parse_args()
    print(f"machine: {machine('torch')}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(
        json.dumps(
            {"cores": cores(), "cpu": cpu_name(), "load_avg_1min": load, "quick": args.quick}
        )
    )


if __name__ == "__main__":
    main()
