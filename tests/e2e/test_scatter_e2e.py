"""LinkedScatter on its own in Chromium under ``lab8widgets serve``: a real lasso over a view of
2,500 points, held in three bqplot marks of at most 1,000 (``CHUNK``). bqplot's LassoSelector
answers mark by mark; the view joins the answers into one selection. Checked against the points
whose dots lie inside the drawn polygon, read from the page itself."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

SCATTER = """
import numpy as np
from lab8widgets.views import LinkedScatter

rng = np.random.default_rng(0)
n = 2500
view = LinkedScatter(rng.random(n), rng.random(n), [f"p{i}" for i in range(n)],
                     color=[i % 4 for i in range(n)], title="2,500 points")
view.add_class("lab8-lab")
view
"""

# the view's points whose dots' centres fall inside the polygon (page pixels), by ray casting
INSIDE = """(poly) => {
  const dots = Array.from(document.querySelectorAll('.lab8-scatter .object_grp')).slice(-2500);
  const inside = ([x, y]) => {
    let c = false;
    for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
      const [xi, yi] = poly[i], [xj, yj] = poly[j];
      if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
    }
    return c;
  };
  return dots.map((d, i) => { const m = d.getScreenCTM(); return inside([m.e, m.f]) ? i : -1; })
    .filter((i) => i >= 0);
}"""

# each given point's distance (page pixels) to the polygon's nearest edge
EDGE = """({poly, idx}) => {
  const dots = Array.from(document.querySelectorAll('.lab8-scatter .object_grp')).slice(-2500);
  const seg = ([px, py], [ax, ay], [bx, by]) => {
    const dx = bx - ax, dy = by - ay;
    const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
    return Math.hypot(px - ax - t * dx, py - ay - t * dy);
  };
  return idx.map((i) => { const m = dots[i].getScreenCTM();
    return Math.min(...poly.map((a, k) => seg([m.e, m.f], a, poly[(k + 1) % poly.length]))); });
}"""


def test_lasso_across_three_marks_selects_the_points_inside(open_lab, tmp_path):
    from lab8widgets.testing import write_notebook

    lab = open_lab(str(write_notebook(tmp_path / "scatter.ipynb", SCATTER)))
    page = lab.page
    assert lab.kernel("len(view.marks)") == 3
    lab.run("view.mode = 'lasso'")
    page.wait_for_function(
        "() => document.querySelectorAll('.lab8-scatter .object_grp').length >= 2500"
    )
    box = page.locator(  # the plot area, as the plugin's brush finds it
        ".lab8-scatter svg.svg-figure .plotarea_events, .lab8-scatter svg.svg-figure rect.plotarea_background"
    ).first.bounding_box()
    # a pentagon over the middle of the plot, drawn as a hand would (down, many moves, up)
    frac = [(0.2, 0.3), (0.5, 0.1), (0.8, 0.35), (0.7, 0.8), (0.3, 0.75)]
    poly = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in frac]
    page.mouse.move(*poly[0])
    page.mouse.down()
    for (x0, y0), (x1, y1) in zip(poly, poly[1:] + poly[:1], strict=True):
        for t in (0.25, 0.5, 0.75, 1.0):
            page.mouse.move(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    page.mouse.up()
    want = page.evaluate(INSIDE, [list(p) for p in poly])
    assert len(want) > 300 and {i // 1000 for i in want} == {0, 1, 2}  # every mark has some
    got = lab.wait_kernel(
        "[view.all_keys.index(k) for k in view.selected]",
        until=lambda v: len(v) >= len(want) - 5,
        timeout=20,
    )
    # the same points, but for a few right on the polygon's edge (bqplot tests its own pixel
    # positions, we the dots' centres as laid out): each one differing lies within 3 px of it
    differ = sorted(set(got) ^ set(want))
    assert len(differ) <= 0.05 * len(want), differ
    assert max(page.evaluate(EDGE, {"poly": [list(p) for p in poly], "idx": differ}) or [0]) < 3
    assert got == sorted(got)  # one selection, in the view's order
    # and the selection layer draws them
    page.wait_for_function(
        "(n) => document.querySelector('.lab8-scatter .lab8-scatter-overlay').dataset.drawn === String(n)",
        arg=len(got),
        timeout=10_000,
    )


def test_hover_in_brush_mode_names_the_point(open_lab, tmp_path):
    """bqplot's brush covers the plot (its own tooltips never show there): the selection layer
    names the point under the pointer, and hides the name while a drag is under way."""
    from lab8widgets.testing import write_notebook

    lab = open_lab(str(write_notebook(tmp_path / "scatter.ipynb", SCATTER)))
    page = lab.page
    assert lab.kernel("view.mode") == "brush"
    page.wait_for_function(
        "() => document.querySelectorAll('.lab8-scatter .object_grp').length >= 2500"
    )
    # the topmost point at a dot's centre (the last in drawing order, as the layer picks)
    at = page.evaluate(
        """() => { const d = Array.from(document.querySelectorAll('.lab8-scatter .object_grp'))
                     .slice(-2500)[1234].getScreenCTM(); return [d.e, d.f]; }"""
    )
    page.mouse.move(at[0] - 30, at[1] - 30)
    page.mouse.move(*at)
    tip = page.locator(".lab8-scatter-tip")
    tip.wait_for(state="visible", timeout=5_000)
    hovered = int(page.get_attribute(".lab8-scatter .lab8-scatter-overlay", "data-hovered"))
    x, y = lab.kernel(f"[float(view.x[{hovered}]), float(view.y[{hovered}])]")
    assert f"p{hovered}" in tip.inner_text()
    # the named point is the one under the pointer (within its dot), whichever overlaps
    near = page.evaluate(
        """(i) => { const d = Array.from(document.querySelectorAll('.lab8-scatter .object_grp'))
                     .slice(-2500)[i].getScreenCTM(); return [d.e, d.f]; }""",
        hovered,
    )
    assert abs(near[0] - at[0]) <= 7 and abs(near[1] - at[1]) <= 7
    assert f"{x:.4g}"[:4] in tip.inner_text()
    page.mouse.down()  # a brush begins: the name goes
    tip.wait_for(state="hidden", timeout=5_000)
    page.mouse.up()
    lab.run("view.mode = 'click'")  # bqplot's own tooltips there: the layer's stay off
    page.mouse.move(at[0] + 1, at[1])
    page.wait_for_timeout(300)
    assert not tip.is_visible()
