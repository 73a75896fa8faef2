"""Widget round trip in JupyterLab 4: stock vs the lab8widgets server extension, and `serve`.

The same probe notebook as ``roundtrip.py`` (an anywidget that echoes custom messages) is opened in
four JupyterLab servers and one ``lab8widgets serve``, all running at once:

- stock JupyterLab (``lab8widgets.serverext`` off);
- the extension with its busy hold off (``comm_busy_delay=0``): TCP_NODELAY alone;
- the extension as installed (TCP_NODELAY, and a widget message's ``busy`` status held back so the
  page does not redraw its kernel status per message);
- the same plus ``commsOverSubshells: disabled`` (comm messages on the kernel's main shell);
- ``lab8widgets serve`` (Voila), the reference.

Chromium sends the round trips in batches, taking the servers in turn (a loaded machine slows them
all alike), and reads the page's main-thread busy time per round trip from the DevTools metrics
(``TaskDuration``: script, style, layout and paint together). Prints p50/p95, the page time and the
ratios, then one JSON line.

    python benchmarks/roundtrip_jupyterlab.py [--n 100] [--batches 5]
    python benchmarks/roundtrip_jupyterlab.py --quick   # CI smoke run
"""

from __future__ import annotations

import argparse
import json
import os
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
NO_HOLD = "--NoDelayKernelWebsocketConnection.comm_busy_delay=0"
# JupyterLab >= 4.4 sends every comm message to a kernel subshell (a thread of its own in
# ipykernel 7): each widget message then crosses two more threads and the GIL in the kernel
COMMS_MAIN_SHELL = {"commsOverSubshells": "disabled"}
# row name -> (JSON key, JupyterLab server args, comms on the main shell); None: `serve`
ROWS = {
    "jupyterlab stock": ("jupyterlab_stock", [EXT.format(False)], False),
    "  + serverext, TCP_NODELAY only": (
        "jupyterlab_nodelay_only",
        [EXT.format(True), NO_HOLD],
        False,
    ),
    "jupyterlab + lab8widgets": ("jupyterlab_nodelay", [EXT.format(True)], False),
    "  + comms on main shell": ("jupyterlab_nodelay_main_shell", [EXT.format(True)], True),
    "lab8widgets serve": ("serve", None, False),
}

QUICK_ROWS = ("jupyterlab_stock", "jupyterlab_nodelay", "serve")


class Probe:
    """One server and one page with the probe running, ready for batches of round trips."""

    def __init__(self, browser, args: list[str] | None, main_shell: bool):
        if args is None:
            self.server = Server(str(PROBE))
            self.page = browser.new_page(viewport={"width": 1280, "height": 800})
            self.page.goto(self.server.url, wait_until="domcontentloaded")
        else:
            self.server = JupyterServer("lab", args=args, files=[PROBE])
            if main_shell:  # what a learner sets once in Settings > Kernel (stored per user)
                d = self.server.tmp / "settings" / "@jupyterlab" / "apputils-extension"
                d.mkdir(parents=True, exist_ok=True)
                (d / "kernels-settings.jupyterlab-settings").write_text(
                    json.dumps(COMMS_MAIN_SHELL)
                )
            self.page = browser.new_page(viewport={"width": 1280, "height": 800})
            self.page.goto(self.server.page_url(PROBE.name), wait_until="domcontentloaded")
            run_all(self.page, self.server, PROBE.name, ready=".probe-ready")
        self.page.wait_for_selector(".probe-ready", timeout=90_000)
        self.cdp = self.page.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")
        self.page.evaluate("n => globalThis.__probe.run(n)", 10)  # warm-up
        self.times: list[float] = []
        self.page_ms = 0.0

    def task_s(self) -> float:
        metrics = self.cdp.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    def batch(self, n: int) -> None:
        self.page.bring_to_front()
        before = self.task_s()
        self.times += self.page.evaluate("n => globalThis.__probe.run(n)", n)
        self.page_ms += (self.task_s() - before) * 1000

    def stop(self) -> None:
        self.page.close()
        self.server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="round trips per server (default 100)")
    ap.add_argument("--batches", type=int, default=5, help="batches per server, taken in turn")
    ap.add_argument("--serve", action="store_true", help="(kept for old scripts: always measured)")
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): 5 round trips each")
    args = ap.parse_args()
    if args.quick:
        args.n, args.batches = 5, 1
    from playwright.sync_api import sync_playwright

    load = [os.getloadavg()[0]]
    probes: dict[str, Probe] = {}
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        where = machine(browser=f"Chromium {browser.version} headless")
        try:
            for name, (key, server_args, main_shell) in ROWS.items():
                if args.quick and key not in QUICK_ROWS:
                    continue  # the smoke run starts three servers, not five
                probes[name] = Probe(browser, server_args, main_shell)
            per = max(1, args.n // args.batches)
            for _ in range(args.batches):
                for probe in probes.values():
                    probe.batch(per)
                load.append(os.getloadavg()[0])
        finally:
            for probe in probes.values():
                probe.stop()
            browser.close()

    rows = {name: p.times for name, p in probes.items()}
    n = len(rows["jupyterlab stock"])
    print(
        f"machine: {where}; load average {min(load):.1f}-{max(load):.1f} during the run; {n} "
        f"custom-message round trips per server in {args.batches} batches, servers in turn"
    )
    print(f"{'server':<34}{'p50 ms':>9}{'p95 ms':>9}{'mean ms':>9}{'page ms/rt':>12}")
    for name, xs in rows.items():
        page = probes[name].page_ms / max(1, len(xs))
        print(
            f"{name:<34}{pct(xs, 0.5):>9.2f}{pct(xs, 0.95):>9.2f}{statistics.mean(xs):>9.2f}"
            f"{page:>12.2f}"
        )
    stock, ours = rows["jupyterlab stock"], rows["jupyterlab + lab8widgets"]
    serve = rows["lab8widgets serve"]
    r50 = pct(stock, 0.5) / max(pct(ours, 0.5), 1e-9)
    r95 = pct(stock, 0.95) / max(pct(ours, 0.95), 1e-9)
    vs_serve = pct(ours, 0.5) / max(pct(serve, 0.5), 1e-9)
    print(
        f"ratio stock/opt-in: p50 {r50:.1f}x, p95 {r95:.1f}x; opt-in/serve p50 {vs_serve:.2f}x"
        + ("" if args.quick else " (target: opt-in p50 <= 5 ms)")
    )
    out = {
        ROWS[name][0] + suffix: round(pct(xs, q), 2)
        for name, xs in rows.items()
        for suffix, q in (("_p50_ms", 0.5), ("_p95_ms", 0.95))
    }
    out.update(
        {
            ROWS[name][0] + "_page_ms_per_rt": round(p.page_ms / max(1, len(p.times)), 2)
            for name, p in probes.items()
        }
    )
    out.update(
        ratio_p50=round(r50, 2),
        ratio_p95=round(r95, 2),
        opt_in_vs_serve_p50=round(vs_serve, 2),
        n=n,
        load=[round(x, 1) for x in (min(load), max(load))],
        quick=args.quick,
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
