"""Widget round trip in JupyterLab 4: stock vs the lab8widgets server extension (TCP_NODELAY).

The same probe notebook as ``roundtrip.py`` (an anywidget that echoes custom messages) runs in
JupyterLab, once with ``lab8widgets.serverext`` off (stock jupyter_server) and once on; Chromium
sends N messages one after another in each. With ``--serve`` the ``lab8widgets serve`` row (Voila)
is measured in the same run for reference, and a third JupyterLab row adds the one setting that
keeps comm messages on the kernel's main shell (``commsOverSubshells: disabled``). Prints p50/p95 and the ratio, then one JSON line.

    python benchmarks/roundtrip_jupyterlab.py [--n 100] [--serve]
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
from tests.e2e.jupyter_harness import JupyterServer, run_all  # noqa: E402

PROBE = ROOT / "benchmarks" / "roundtrip_probe.ipynb"
EXT = "--ServerApp.jpserver_extensions=lab8widgets.serverext={}"
# JupyterLab >= 4.4 sends every comm message to a kernel subshell (a thread of its own in
# ipykernel 7): each widget message then crosses two more threads and the GIL in the kernel
COMMS_MAIN_SHELL = {"commsOverSubshells": "disabled"}


def probe(page, n: int) -> list[float]:
    page.wait_for_selector(".probe-ready", timeout=90_000)
    page.evaluate("n => globalThis.__probe.run(n)", 10)  # warm-up
    return page.evaluate("n => globalThis.__probe.run(n)", n)


def measure_lab(browser, nodelay: bool, n: int, main_shell: bool = False) -> list[float]:
    server = JupyterServer("lab", args=[EXT.format(nodelay)], files=[PROBE])
    try:
        if main_shell:  # what a learner sets once in Settings > Kernel (stored per user)
            d = server.tmp / "settings" / "@jupyterlab" / "apputils-extension"
            d.mkdir(parents=True, exist_ok=True)
            (d / "kernels-settings.jupyterlab-settings").write_text(json.dumps(COMMS_MAIN_SHELL))
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.page_url(PROBE.name), wait_until="domcontentloaded")
        run_all(page, server, PROBE.name, ready=".probe-ready")
        return probe(page, n)
    finally:
        server.stop()


def measure_serve(browser, n: int) -> list[float]:
    with Server(str(PROBE)) as server:
        page = browser.new_page()
        page.goto(server.url, wait_until="domcontentloaded")
        return probe(page, n)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="round trips per server (default 100)")
    ap.add_argument("--serve", action="store_true", help="also measure `lab8widgets serve`")
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): 5 round trips each")
    args = ap.parse_args()
    if args.quick:
        args.n = 5
    from playwright.sync_api import sync_playwright

    rows: dict[str, list[float]] = {}
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        where = machine(browser=f"Chromium {browser.version} headless")
        rows["jupyterlab stock"] = measure_lab(browser, nodelay=False, n=args.n)
        rows["jupyterlab + lab8widgets"] = measure_lab(browser, nodelay=True, n=args.n)
        rows["  + comms on main shell"] = measure_lab(browser, True, args.n, main_shell=True)
        if args.serve:
            rows["lab8widgets serve"] = measure_serve(browser, n=args.n)
        browser.close()

    print(f"machine: {where}; {args.n} custom-message round trips each")
    print(f"{'server':<28}{'p50 ms':>10}{'p95 ms':>10}{'mean ms':>10}")
    for name, xs in rows.items():
        print(f"{name:<28}{pct(xs, 0.5):>10.2f}{pct(xs, 0.95):>10.2f}{statistics.mean(xs):>10.2f}")
    stock, ours = rows["jupyterlab stock"], rows["jupyterlab + lab8widgets"]
    r50 = pct(stock, 0.5) / max(pct(ours, 0.5), 1e-9)
    r95 = pct(stock, 0.95) / max(pct(ours, 0.95), 1e-9)
    print(f"ratio stock/opt-in: p50 {r50:.1f}x, p95 {r95:.1f}x (target: opt-in p50 <= 5 ms)")
    keys = {
        "jupyterlab stock": "jupyterlab_stock",
        "jupyterlab + lab8widgets": "jupyterlab_nodelay",
        "  + comms on main shell": "jupyterlab_nodelay_main_shell",
        "lab8widgets serve": "serve",
    }
    out = {
        keys[name] + suffix: round(pct(xs, q), 2)
        for name, xs in rows.items()
        for suffix, q in (("_p50_ms", 0.5), ("_p95_ms", 0.95))
    }
    out.update(ratio_p50=round(r50, 2), ratio_p95=round(r95, 2), n=args.n, quick=args.quick)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
