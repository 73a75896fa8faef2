"""LinkedScatter alone at 10,000 points, in Chromium under `lab8widgets serve`: (a) a brush gesture →
the selection painted, (b) the pointer onto a point → its tooltip shown. One view, no lesson: what
the shared scatter costs at the size issue #7 names, apart from the explorer's table and second
view (`explorer_latency.py` times those).

The points are 8 coloured clusters (a legend, as the explorer colours by genre). (a) is timed as in
`explorer_latency.py`: mouse-up → the last change to the figure's SVG or its selection layer (the
canvas a large view draws its selection on), painted (a task posted from the next animation frame). (b) moves the pointer onto a point's dot (click mode, where points are
reachable) from empty space and times the pointer event → the tooltip's box shown, painted.
`--baseline DIR` measures another checkout's code in the same run, and prints both.

    python benchmarks/scatter_latency.py [--points 10000] [--gestures 30] [--hovers 30]
                                         [--baseline /work/main] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import machine, pct  # noqa: E402

from lab8widgets.testing import LabPage, write_notebook  # noqa: E402
from lab8widgets.testing.server import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    Kernel,
    Server,
    page_kernel_file,
)

CODE = """
import numpy as np
from lab8widgets.views import LinkedScatter
rng = np.random.default_rng(0)
n = {n}
group = rng.integers(0, 8, n)
centres = rng.normal(0, 3, (8, 2))
xy = centres[group] + rng.normal(0, 1, (n, 2))
view = LinkedScatter(xy[:, 0], xy[:, 1], [f"point {{i}}" for i in range(n)],
                     color=[f"group {{g}}" for g in group], title="{n:,} points", height="480px")
view
"""

INSTALL = """() => {
  const st = (window.__lab8s = {t0: 0, t1: 0, last: 0, seen: 0});
  window.addEventListener('pointerup', () => {
    Object.assign(st, {t0: performance.now(), t1: 0, last: 0, seen: 0});
  }, true);
  const ch = new MessageChannel();
  ch.port1.onmessage = () => { st.t1 = performance.now(); };
  new MutationObserver(() => {
    if (!st.t0) return;
    st.last = performance.now();
    st.seen += 1;
    requestAnimationFrame(() => ch.port2.postMessage(0));
  }).observe(  // the figure and its selection layer (older checkouts: the figure's SVG alone)
    document.querySelector('.lab8-scatter .lab8-scatter-plot')
      || document.querySelector('.lab8-scatter svg.svg-figure'),
    {subtree: true, childList: true, attributes: true});
}"""
SETTLED = (
    "() => { const s = window.__lab8s; return s.seen > 0 && s.t1 > s.last"
    " && performance.now() - s.last > 300; }"
)
# the pointer event that reached a dot → the tooltip's box shown and painted
HOVER = """(p) => new Promise((done) => {
  const tip = () => Array.from(document.querySelectorAll('.bqplot_tooltip_div'))
    .find((d) => d.checkVisibility() && d.textContent.includes(p.name));
  const t0 = performance.now();
  const poll = () => {
    if (tip()) requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));
    else if (performance.now() - t0 > 5000) done(-1);
    else requestAnimationFrame(poll);
  };
  const el = document.elementFromPoint(p.x, p.y);
  el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: p.x, clientY: p.y}));
  el.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: p.x, clientY: p.y}));
  poll();
})"""


def notebook(folder: Path, n: int) -> Path:
    return write_notebook(folder / f"scatter_{n}.ipynb", CODE.format(n=n))


def measure(n: int, gestures: int, hovers: int, browser, code: str | None = None) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="lab8-bench-"))
    server = Server(str(notebook(folder, n)), env={"PYTHONPATH": code or str(ROOT)})
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        t = time.perf_counter()
        page.goto(server.url, wait_until="domcontentloaded", timeout=600_000)
        page.wait_for_selector(".lab8-scatter svg.svg-figure", timeout=600_000)
        kernel = Kernel(page_kernel_file(page, server))
        page.wait_for_function(
            "(n) => document.querySelectorAll('.lab8-scatter .dot').length >= n",
            arg=n,
            timeout=600_000,
        )
        load_s = time.perf_counter() - t
        drawn = kernel.eval(
            "'paths' if getattr(getattr(view, 'paint', None), 'visible', 0) else 'dots'"
        )
        page.wait_for_timeout(1000)
        page.evaluate(INSTALL)
        lab = LabPage(page, server, kernel, errors)
        rects = ((0.3, 0.3, 0.55, 0.7), (0.75, 0.7, 0.5, 0.3))
        brush: list[float] = []
        for i in range(gestures + 2):
            lab.brush(".lab8-scatter", *rects[i % 2], moves=8, pause_ms=15)
            page.wait_for_function(SETTLED, timeout=60_000, polling=50)
            if i >= 2:  # warm-up
                brush.append(page.evaluate("() => window.__lab8s.t1 - window.__lab8s.t0"))
            page.wait_for_timeout(200)
        kernel.run("view.selected = []; view.mode = 'click'")
        page.wait_for_timeout(500)
        hover: list[float] = []
        dots = page.locator(".lab8-scatter g[clip-path] .dot")
        count = dots.count()
        for i in range(hovers + 2):
            k = count - 1 - (i * 997) % count  # spread over the marks, topmost first
            box = dots.nth(k).bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(5, 5)  # off the plot: the tooltip hides
            page.wait_for_timeout(150)
            name = page.evaluate(
                "(p) => { const d = document.elementFromPoint(p.x, p.y);"
                " return d && d.classList.contains('dot') ? d.__data__ && d.__data__.name : null; }",
                {"x": x, "y": y},
            )
            if not name:
                continue
            ms = page.evaluate(HOVER, {"x": x, "y": y, "name": str(name)})
            if ms > 0 and i >= 2:
                hover.append(ms)
        kernel.close()
        page.close()
        return {"brush": brush, "hover": hover, "load_s": load_s, "drawn": drawn, "errors": errors}
    finally:
        server.stop()


def line(r: dict, what: str) -> str:
    t = r[what]
    if not t:
        return "no measurements"
    return (
        f"p50 {statistics.median(t):.1f} ms, p95 {pct(t, 0.95):.1f} ms, max {max(t):.1f} ms "
        f"over {len(t)}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--gestures", type=int, default=30)
    ap.add_argument("--hovers", type=int, default=30)
    ap.add_argument("--baseline", help="also measure this checkout's code (e.g. /work/main)")
    ap.add_argument("--quick", action="store_true", help="smoke run (CI): few points and gestures")
    args = ap.parse_args()
    if args.quick:
        args.points, args.gestures, args.hovers = 1500, 2, 2
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        base = (
            measure(args.points, args.gestures, args.hovers, browser, args.baseline)
            if args.baseline
            else None
        )
        ours = measure(args.points, args.gestures, args.hovers, browser)
        version = browser.version
        browser.close()
    print(f"LinkedScatter, {args.points:,} points in 8 colours, Chromium {version} headless")
    print(f"machine: {machine(browser=f'Chromium {version} headless')} at the end")
    for label, r in (("baseline " + str(args.baseline), base), ("this checkout", ours)):
        if r is None:
            continue
        print(f"  {label} (drawn as {r['drawn']}, page up in {r['load_s']:.0f} s):")
        print(f"    brush → selection painted: {line(r, 'brush')}")
        print(f"    pointer onto a point → tooltip painted: {line(r, 'hover')}")
        if r["errors"]:
            print(f"    console errors: {r['errors'][:3]}")
    out = {
        "brush_p50_ms": round(statistics.median(ours["brush"]), 2),
        "brush_p95_ms": round(pct(ours["brush"], 0.95), 2),
        "hover_p50_ms": round(statistics.median(ours["hover"]), 2) if ours["hover"] else None,
        "hover_p95_ms": round(pct(ours["hover"], 0.95), 2) if ours["hover"] else None,
        "n_points": args.points,
        "drawn_as": ours["drawn"],
        "load_avg": round(os.getloadavg()[0], 1),
        "quick": args.quick,
    }
    if base is not None:
        out["baseline_brush_p50_ms"] = round(statistics.median(base["brush"]), 2)
        out["baseline_brush_p95_ms"] = round(pct(base["brush"], 0.95), 2)
        if base["hover"]:
            out["baseline_hover_p50_ms"] = round(statistics.median(base["hover"]), 2)
            out["baseline_hover_p95_ms"] = round(pct(base["hover"], 0.95), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
