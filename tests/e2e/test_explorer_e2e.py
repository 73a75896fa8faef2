"""EmbeddingExplorer in Chromium under ``lab8widgets serve explorer`` (offline, so on synthetic
ratings, with a DotProductBias trained on start): brush the PCA map with the mouse and rate movies
by clicking stars, then check the page *and* the kernel's state."""

from __future__ import annotations

import time

import pytest

from .harness import SCREENSHOTS as DOCS  # build/; `python -m tests.e2e.screens`: docs/

pytestmark = pytest.mark.e2e


def trained(lab) -> None:
    lab.wait_kernel("explorer.busy", until=lambda v: v is False, timeout=180, every=0.5)
    assert "epochs on start" in lab.kernel("explorer.source")
    assert not lab.kernel("explorer.error")


def table_titles(page, cls: str) -> list[str]:
    return page.evaluate(
        """(cls) => Array.from(document.querySelectorAll(`.${cls} tbody tr`))
              .map(tr => tr.cells[0].textContent)""",
        cls,
    )


# the PCA map shows n points as selected: its selection layer drew n dots over faded marks,
# or (a small view) bqplot's own per-point styles show n dots at full opacity and the layer none
PAINTED = """(n) => {
  const layer = document.querySelector('.lab8-pca .lab8-scatter-overlay');
  const drawn = Number(layer.dataset.drawn || 0);
  const dim = document.querySelector('.lab8-pca').classList.contains('lab8-scatter-dim');
  const fig = document.querySelector('.lab8-pca .lab8-scatter-figure');
  const full = Array.from(fig.querySelectorAll('g[clip-path] .dot'))
    .filter((d) => parseFloat(getComputedStyle(d).opacity) === 1).length;
  return (drawn === n && dim) || (drawn === 0 && !dim && full === n);
}"""
PAINTED_STATE = PAINTED.replace(
    "return (drawn === n && dim) || (drawn === 0 && !dim && full === n);",
    "return {drawn, dim, full, n};",
)

# the canvas's pixels where bqplot put each point (the centre of its hidden dot): a selected
# point is covered by a dot of its colour; an unselected one at least 10 px from every
# selected point is left clear (so the layer lines up with the figure, not just counts dots)
PIXELS = """(sel) => {
  const view = document.querySelector('.lab8-pca');
  const canvas = view.querySelector('.lab8-scatter-overlay canvas');
  const n = sel.n, on = new Set(sel.on);
  const dots = Array.from(view.querySelectorAll('.object_grp')).slice(-n);
  const r = canvas.getBoundingClientRect(), k = canvas.width / r.width;
  const ctx = canvas.getContext('2d');
  const at = dots.map((d) => { const m = d.getScreenCTM(); return [m.e - r.left, m.f - r.top]; });
  const px = ([x, y]) => Array.from(ctx.getImageData(Math.round(x * k), Math.round(y * k), 1, 1).data);
  const covered = sel.on.map((i) => px(at[i]));
  const far = at.filter((p, i) => !on.has(i) && sel.on.every((j) => Math.hypot(p[0] - at[j][0], p[1] - at[j][1]) > 10));
  return {covered, clear: far.map(px).filter((c) => c[3] === 0).length, far: far.length};
}"""


def wait_overlay(page, n: int) -> None:
    """Wait until the PCA map's overlay draws n selected points; say what it draws if it does not."""
    try:
        page.wait_for_function(PAINTED, arg=n, timeout=10_000)
    except Exception as e:
        raise AssertionError(f"map draws {page.evaluate(PAINTED_STATE, n)}") from e


# the header words of every table on the page that the browser drew over more than one line
BROKEN_HEADER_WORDS = """() => {
  const broken = [];
  for (const th of document.querySelectorAll('.lab8-tableview th')) {
    const node = th.firstChild;
    if (!node || node.nodeType !== Node.TEXT_NODE) continue;
    const text = node.textContent;
    for (const m of text.matchAll(/[^\\s_\u200b]+/g)) {
      const r = document.createRange();
      r.setStart(node, m.index);
      r.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(r.getClientRects()).map((b) => Math.round(b.top)));
      if (tops.size > 1) broken.push(m[0]);
    }
  }
  return broken;
}"""


def test_brush_on_the_map_fills_the_table_and_selected(open_lab):
    lab = open_lab("explorer", timeout=240_000)
    page = lab.page
    trained(lab)
    assert "synthetic" in page.locator(".lab8-source").inner_text().lower()
    page.wait_for_selector(".lab8-pca svg.svg-figure")
    box = lab.brush(".lab8-pca", 0.05, 0.05, 0.6, 0.6)  # the plugin's gesture
    assert box["width"] > 200
    sel = lab.wait_kernel("explorer.selected", until=lambda v: len(v) > 0, timeout=30)
    # the kernel's selection is exactly the points inside the brush, in data coordinates
    inside = lab.kernel(
        "(lambda s, bx, by: sorted(k for k, x, y in zip(s.all_keys, s.x, s.y)"
        " if min(bx) <= x <= max(bx) and min(by) <= y <= max(by)))"
        "(explorer.pca, explorer.pca.brush.selected_x, explorer.pca.brush.selected_y)"
    )
    assert sorted(sel) == inside and len(inside) >= 3
    # every linked view follows: the bias view in Python (its titles above the ratings floor)
    bias_keys = set(lab.kernel("explorer.bias_view.all_keys"))
    assert sorted(lab.kernel("explorer.bias_view.selected")) == sorted(set(sel) & bias_keys)
    # both maps draw the selection (synthetic data is small: bqplot's own per-point styles)
    for view in ("pca", "bias_view"):
        assert sorted(lab.kernel(f"explorer.{view}.painted_keys")) == sorted(
            lab.kernel(f"explorer.{view}.selected")
        )
    page.wait_for_function(PAINTED, arg=len(sel), timeout=10_000)
    # and the table in the page
    page.wait_for_function(
        "(n) => document.querySelectorAll('.lab8-selection tbody tr').length === n",
        arg=min(len(sel), lab.kernel("explorer.table.max_rows")),
        timeout=10_000,
    )
    assert (
        table_titles(page, "lab8-selection")
        == lab.kernel("list(explorer.table.frame['title'])")[
            : lab.kernel("explorer.table.max_rows")
        ]
    )
    assert set(table_titles(page, "lab8-selection")) <= set(sel)
    # rows below the box are laid out only once scrolled to (display:none until then, their room
    # kept): scrolled to the bottom, the last row is drawn inside the box with its title
    n_rows = len(table_titles(page, "lab8-selection"))
    if n_rows > 30:
        assert page.evaluate(
            "() => !document.querySelector('.lab8-selection tbody tr:last-child').checkVisibility()"
        )
    page.evaluate(
        "() => { const w = document.querySelector('.lab8-selection table').parentElement;"
        " w.scrollTop = w.scrollHeight; }"
    )
    page.wait_for_function(
        """() => { const w = document.querySelector('.lab8-selection table').parentElement;
              const tr = document.querySelector('.lab8-selection tbody tr:last-child');
              const a = w.getBoundingClientRect(), b = tr.getBoundingClientRect();
              return tr.checkVisibility() && b.height > 10 && b.top >= a.top && b.bottom <= a.bottom + 1; }""",
        timeout=10_000,
    )
    last = page.evaluate(
        "() => document.querySelector('.lab8-selection tbody tr:last-child').cells[0].textContent"
    )
    assert last == lab.kernel(
        "explorer.table.frame['title'].iloc[explorer.table.max_rows - 1]"
        if n_rows == lab.kernel("explorer.table.max_rows")
        else "explorer.table.frame['title'].iloc[-1]"
    )
    # every header word stays whole: a word split over two lines has two boxes ("ratin/gs" was)
    broken = page.evaluate(BROKEN_HEADER_WORDS)
    assert broken == [], broken
    # a header click sorts the page's table by bias, largest first (Python sorts, the page shows it)
    page.locator(".lab8-selection th", has_text="bias").click()
    lab.wait_kernel("explorer.table.sort_by", until=lambda v: v == "bias", timeout=10)
    biases = lab.kernel("list(explorer.table.frame['bias'])")
    assert biases == sorted(biases, reverse=True)
    page.wait_for_function(
        "(t) => document.querySelector('.lab8-selection tbody tr td').textContent === t",
        arg=lab.kernel("explorer.table.frame['title'].iloc[0]"),
        timeout=10_000,
    )
    # a second, smaller brush replaces the selection, drawn as a large map draws it: an overlay
    lab.run("explorer.pca.restyle_max = explorer.bias_view.restyle_max = 0")
    lab.brush(".lab8-pca", 0.55, 0.55, 0.95, 0.95)
    sel2 = lab.wait_kernel("explorer.selected", until=lambda v: v != sel, timeout=30)
    assert sorted(lab.kernel("explorer.pca.painted_keys")) == sorted(sel2)
    assert sel2, "the second brush selected nothing"
    wait_overlay(page, len(sel2))
    keys = lab.kernel("explorer.pca.all_keys")
    on = [keys.index(k) for k in sel2]
    shown = page.evaluate(PIXELS, {"n": len(keys), "on": on})
    colours = lab.kernel(
        "[explorer.pca.overlay.colors[c] for c in explorer.pca.overlay.codes]"
        if lab.kernel("len(explorer.pca.overlay.codes)")
        else "[explorer.pca.overlay.colors[0]] * len(explorer.pca.all_keys)"
    )
    rgb = {i: tuple(int(colours[i][j : j + 2], 16) for j in (1, 3, 5)) for i in on}
    # selected points' colours, or a blend of them where dots overlap at their edges
    box = [(min(c[ch] for c in rgb.values()), max(c[ch] for c in rgb.values())) for ch in range(3)]
    for i, rgba in zip(on, shown["covered"], strict=True):
        assert rgba[3] == 255, f"no dot drawn where point {i} is"
        assert all(a - 1 <= v <= b + 1 for v, (a, b) in zip(rgba[:3], box, strict=True)), rgba
    own = sum(tuple(c[:3]) == rgb[i] for i, c in zip(on, shown["covered"], strict=True))
    assert own >= 0.5 * len(on), "most dots should show their own point's colour"
    assert shown["far"] > 0 and shown["clear"] == shown["far"], shown
    # a narrower page: bqplot moves its dots, the layer follows them
    where = (
        "(a) => { const m = Array.from(document.querySelectorAll('.lab8-pca .object_grp'))"
        ".slice(-a.n)[a.i].getScreenCTM(); return [m.e, m.f]; }"
    )
    before = page.evaluate(where, {"n": len(keys), "i": on[0]})
    page.set_viewport_size({"width": 1000, "height": 900})
    deadline = time.monotonic() + 10
    while True:
        again = page.evaluate(PIXELS, {"n": len(keys), "on": on})
        if all(c[3] == 255 for c in again["covered"]) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(200)
    assert all(c[3] == 255 for c in again["covered"]), "the dots did not follow a resize"
    assert page.evaluate(where, {"n": len(keys), "i": on[0]}) != before  # the points did move
    # JupyterLab's column (850 px): the tables' columns narrow, their header words stay whole
    page.set_viewport_size({"width": 850, "height": 900})
    page.wait_for_timeout(300)
    broken = page.evaluate(BROKEN_HEADER_WORDS)
    assert broken == [], broken
    page.set_viewport_size({"width": 1280, "height": 900})
    # one point alone: one dot
    one = lab.kernel("explorer.pca.all_keys[0]")
    lab.run(f"explorer.selected = [{one!r}]")
    assert lab.kernel("explorer.pca.painted_keys") == [one]
    wait_overlay(page, 1)
    # and from Python back to the page: clearing empties the table and the overlays
    lab.run("explorer.selected = []")
    page.wait_for_function(
        """() => document.querySelectorAll('.lab8-selection tbody tr').length === 0
              && !document.querySelector('.lab8-pca .lab8-scatter-dim, .lab8-pca.lab8-scatter-dim')
              && Array.from(document.querySelectorAll('.lab8-explorer .lab8-scatter-overlay'))
                   .every((l) => (l.dataset.drawn || '0') === '0')""",
        timeout=10_000,
    )
    # a large view draws its points as paths; its marks' dots are hidden but still reached by
    # the pointer: hovering the topmost point shows its tooltip, clicking it selects it
    lab.run("explorer.pca.mode = 'click'")
    page.wait_for_function(
        "() => document.querySelector('.lab8-pca').classList.contains('lab8-scatter-large')"
        " && getComputedStyle(document.querySelector('.lab8-pca .dot')).visibility === 'hidden'",
        timeout=10_000,
    )
    last = lab.kernel("explorer.pca.all_keys[-1]")
    # hover where the point is now: the earlier steps scrolled the map above the fold, and the
    # large view may redraw its marks just after the mode change (the dot moves): wait until still
    page.locator(".lab8-pca").scroll_into_view_if_needed()
    mark = page.locator(".lab8-pca g[clip-path] .dot").last
    dot, before = mark.bounding_box(), None
    for _ in range(40):  # 10 s at most
        if dot == before:
            break
        page.wait_for_timeout(250)
        before, dot = dot, mark.bounding_box()
    assert dot == before, f"the last point never stopped moving: {before} then {dot}"
    page.mouse.move(dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
    page.wait_for_function(
        """(name) => Array.from(document.querySelectorAll('.bqplot_tooltip_div'))
              .some((d) => d.checkVisibility() && d.textContent.includes(name))""",
        arg=str(last),
        timeout=10_000,
    )
    page.mouse.click(dot["x"] + dot["width"] / 2, dot["y"] + dot["height"] / 2)
    assert lab.wait_kernel("explorer.selected", until=lambda v: v == [last], timeout=10) == [last]


def test_rating_three_movies_changes_the_recommendations(open_lab):
    lab = open_lab("explorer", timeout=240_000)
    page = lab.page
    trained(lab)
    page.wait_for_selector(".lab8-recs tbody tr")
    before = table_titles(page, "lab8-recs")
    average = lab.kernel("list(explorer.average_recommendations['title'])")
    assert before == average  # no ratings yet: the average user's answer
    rated = lab.kernel("explorer.questionnaire[:3]")
    for i, stars in enumerate(("5", "5", "1")):
        page.locator(f".lab8-stars-{i} button", has_text=stars).first.click()
        lab.wait_kernel("len(explorer.user_ratings)", until=lambda v, n=i + 1: v == n, timeout=20)
    assert lab.kernel("explorer.user_ratings") == {
        rated[0]: 5.0,
        rated[1]: 5.0,
        rated[2]: 1.0,
    }
    recs = lab.kernel("list(explorer.recommendations['title'])")
    assert recs != average and not set(rated) & set(recs)
    page.wait_for_function(
        """(want) => JSON.stringify(Array.from(document.querySelectorAll('.lab8-recs tbody tr'))
              .map(tr => tr.cells[0].textContent)) === JSON.stringify(want)""",
        arg=recs,
        timeout=10_000,
    )
    assert table_titles(page, "lab8-avg") == average  # the average user stays beside it
    assert "3 rated" in page.locator(".lab8-recs").inner_text()
    # a typed rating outside the scale: a message, the recommendations kept
    page.locator(".lab8-rate-add input").fill(average[0])
    page.locator(".lab8-rate-stars input").fill("9")
    page.locator(".lab8-rate-stars input").press("Enter")
    page.locator(".lab8-rate-button").click()
    page.wait_for_selector(".lab8-error [role=alert]", timeout=10_000)
    assert "outside" in page.locator(".lab8-error").inner_text()
    assert lab.kernel("list(explorer.recommendations['title'])") == recs


def test_layout_fits_narrow_and_wide_pages(open_lab):
    lab = open_lab("explorer", timeout=240_000)
    page = lab.page
    trained(lab)
    for width in (850, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(500)
        over = page.evaluate(
            """() => {
              const root = document.querySelector('.lab8-explorer').getBoundingClientRect();
              const bad = [];
              for (const el of document.querySelectorAll('.lab8-explorer .jupyter-widgets, .lab8-explorer svg.svg-figure')) {
                const r = el.getBoundingClientRect();
                if (r.width && r.right > root.right + 1) bad.push(el.className.baseVal || el.className);
              }
              return [document.documentElement.scrollWidth, bad.slice(0, 5)];
            }"""
        )
        assert over[0] <= width and over[1] == [], (width, over)
    page.set_viewport_size({"width": 1280, "height": 800})
    lab.run(
        "explorer.neighbours(explorer.factors.items[int(explorer.factors.item_counts.argmax())], k=8)"
    )
    page.wait_for_timeout(800)
    DOCS.mkdir(parents=True, exist_ok=True)
    lab.screenshot(DOCS / "explorer.png")
    assert (DOCS / "explorer.png").stat().st_size > 10_000


def test_typed_fields_refuse_with_field_value_and_range(open_lab):
    """Issue 24 item 4: "PCA over the most-rated", k and min ratings refuse what they cannot use
    (2.5 was read as 25, 1e309 as 1309, -1 as 3 and it switched y to PC1) and show the last good
    value again; the map keeps its points and its axes."""
    lab = open_lab("explorer", timeout=240_000)
    page = lab.page
    trained(lab)
    # the bias plot shows its x axis: tick labels and the label sit above the min-ratings field
    page.wait_for_selector(".lab8-biasview .axis text")
    shown = page.evaluate(
        """() => {
      const view = document.querySelector('.lab8-biasview');
      const field = document.querySelector('.lab8-bias-min').getBoundingClientRect();
      const label = [...view.querySelectorAll('text')].find((t) =>
        t.textContent.includes('ratings in the training set'));
      const ticks = [...view.querySelectorAll('.axis text')].filter((t) => /^[0-9,]+$/.test(t.textContent));
      const low = (e) => e.getBoundingClientRect().bottom;
      return {label: !!label && low(label) <= field.top + 1,
              ticks: ticks.length > 0 && ticks.every((t) => low(t) <= field.top + 1)};
    }"""
    )
    assert shown == {"label": True, "ticks": True}, shown
    n_keys = lab.kernel("len(explorer.pca.all_keys)")
    floor = str(lab.kernel("explorer.nb_min.number"))
    cases = [
        ("lab8-ntop", "2.5", "n_top must be an integer from 3 to", "1000"),
        ("lab8-ntop", "1e309", "got inf", "1000"),
        ("lab8-ntop", "-1", "got -1", "1000"),
        ("lab8-nb-k", "2.5", "k must be an integer from 1 to 100, got 2.5", "10"),
        ("lab8-nb-min", "1e309", "got inf", floor),
        ("lab8-nb-min", "1309", "min ratings must be an integer from 1 to", floor),
    ]
    for cls, typed, says, back in cases:
        lab.refuses(f".{cls}", typed, says, back)
    assert lab.kernel("(explorer.n_top, explorer.pc_y.value)") == (1000, 1)
    assert lab.kernel("len(explorer.pca.all_keys)") == n_keys
    lab.enter(".lab8-ntop", "50")  # a good value is used exactly, and the banner clears
    lab.wait_kernel("len(explorer.pca.all_keys)", 50)
    assert lab.banner() == ""
