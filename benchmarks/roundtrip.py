"""Widget round trip, browser -> kernel -> browser, under stock Voila and under `lab8widgets serve`.

Both servers serve the same probe notebook (an anywidget that echoes custom messages); Chromium
sends N messages one after another in each and we print p50/p95 and the ratio from this one run.

    python benchmarks/roundtrip.py [--n 100]
    python benchmarks/roundtrip.py --quick   # CI smoke run: 5 round trips each, no target

The last line printed is one JSON object: serve_p50_ms, serve_p95_ms, stock_p50_ms, stock_p95_ms,
ratio (stock p50 / serve p50), n.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import machine, pct  # noqa: E402

from lab8widgets.testing.server import Server, launch_chromium  # noqa: E402

PROBE = str(ROOT / "benchmarks" / "roundtrip_probe.ipynb")


def measure(browser, stock: bool, n: int, warmup: int = 10) -> list[float]:
    with Server(PROBE, stock=stock) as server:
        page = browser.new_page()
        page.goto(server.url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector(".probe-ready", timeout=90_000)
        page.evaluate("n => globalThis.__probe.run(n)", warmup)
        return page.evaluate("n => globalThis.__probe.run(n)", n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="round trips per server (default 100)")
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): 5 round trips, no target")
    args = ap.parse_args()
    warmup = 10
    if args.quick:
        args.n, warmup = 5, 2
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        where = machine(browser=f"Chromium {browser.version} headless")
        stock = measure(browser, stock=True, n=args.n, warmup=warmup)
        ours = measure(browser, stock=False, n=args.n, warmup=warmup)
        browser.close()

    print(f"machine: {where}; {args.n} custom-message round trips each")
    print(f"{'server':<24}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for name, xs in (("stock voila", stock), ("lab8widgets serve", ours)):
        print(f"{name:<24}{pct(xs, 0.5):>10.2f}{pct(xs, 0.95):>10.2f}{statistics.mean(xs):>10.2f}")
    r50 = pct(stock, 0.5) / max(pct(ours, 0.5), 1e-9)
    r95 = pct(stock, 0.95) / max(pct(ours, 0.95), 1e-9)
    target = "" if args.quick else " (target p50 >= 5x)"
    print(f"ratio stock/serve: p50 {r50:.1f}x, p95 {r95:.1f}x{target}")
    figures = {
        "serve_p50_ms": pct(ours, 0.5),
        "serve_p95_ms": pct(ours, 0.95),
        "stock_p50_ms": pct(stock, 0.5),
        "stock_p95_ms": pct(stock, 0.95),
        "ratio": r50,
        "n": args.n,
    }
    print(json.dumps({"quick": True, **figures} if args.quick else figures))


if __name__ == "__main__":
    main()
