"""ScratchLab in Chromium under ``lab8widgets serve scratch``: real clicks, typing and hovering, then
the page *and* the kernel's Python state are checked."""

from __future__ import annotations

import pytest

from .harness import SCREENSHOTS as DOCS  # build/; `python -m tests.e2e.screens`: docs/

pytestmark = pytest.mark.e2e
PARAM_ROWS = "() => [...document.querySelectorAll('.lab8-scratch-param-table tr[data-name]')].map(r => r.dataset.name)"
# Everything a learner reads or touches must sit inside the page's width and not on top of another.
LAYOUT = """(width) => {
    const sel = '.lab8-scratch .lab8-grid, .lab8-scratch .bqplot, .lab8-scratch .widget-button, '
      + '.lab8-scratch .widget-checkbox, .lab8-scratch .widget-text, .lab8-scratch .widget-textarea, '
      + '.lab8-scratch .widget-dropdown, .lab8-scratch-code, .lab8-scratch-params, '
      + '.lab8-scratch-equal, .lab8-scratch-init, .lab8-scratch-words';
    const els = [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length);
    const rects = els.map(e => e.getBoundingClientRect());
    const out = [];
    els.forEach((e, i) => { if (rects[i].right > width + 0.5) out.push('too wide: ' + e.className); });
    for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {
      if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
      const a = rects[i], b = rects[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > 1 && h > 1) out.push(els[i].className + ' overlaps ' + els[j].className);
    }
    if (document.documentElement.scrollWidth > width) out.push('page scrolls sideways');
    return out;
}"""


def grid_rows(page, cls: str) -> int:
    return int(page.get_attribute(f".{cls} .lab8-grid", "data-rows"))


def open_scratch(open_lab):
    # up to 2 minutes for Voila to run the notebook: on a shared 2-core machine importing torch
    # alone has taken 12 s
    lab = open_lab("scratch", timeout=120_000)
    lab.page.wait_for_selector(".lab8-scratch-poem-matrix .lab8-grid[data-rows]", timeout=60_000)
    return lab


def test_parameter_toggle_in_page_and_python(open_lab):
    lab = open_scratch(open_lab)
    page = lab.page
    page.wait_for_selector('.lab8-scratch-param-table tr[data-name="a"]')
    assert page.evaluate(PARAM_ROWS) == ["a", "lin.weight", "lin.bias"]
    assert lab.kernel("lab.parameter_names") == ["a", "lin.weight", "lin.bias"]

    page.click(".lab8-scratch-toggle input[type=checkbox]")
    page.wait_for_selector('.lab8-scratch-param-table tr[data-name="a"]', state="detached")
    assert page.evaluate(PARAM_ROWS) == ["lin.weight", "lin.bias"]
    lab.wait_kernel("lab.use_parameter", False)
    assert lab.kernel("lab.parameter_names") == ["lin.weight", "lin.bias"]
    assert lab.kernel("[n for n, _ in lab.model.named_parameters()]") == ["lin.weight", "lin.bias"]
    assert "Not listed" in page.inner_text(".lab8-scratch-params")

    # one SGD step: the plain tensor does not move, the nn.Linear does
    page.click(".lab8-scratch-step")
    page.wait_for_selector('.lab8-scratch-moved tr[data-name="a"][data-moved="false"]')
    page.wait_for_selector('.lab8-scratch-moved tr[data-name="lin.weight"][data-moved="true"]')
    assert lab.kernel("lab.last_step.moved") == {"a": False, "lin.weight": True, "lin.bias": True}

    page.click(".lab8-scratch-toggle input[type=checkbox]")
    page.wait_for_selector('.lab8-scratch-param-table tr[data-name="a"]')
    lab.wait_kernel("lab.parameter_names", ["a", "lin.weight", "lin.bias"])
    page.click(".lab8-scratch-step")
    page.wait_for_selector('.lab8-scratch-moved tr[data-name="a"][data-moved="true"]')
    assert lab.kernel("lab.last_step.moved['a']") is True


def test_new_line_of_text_grows_the_matrix(open_lab):
    lab = open_scratch(open_lab)
    page = lab.page
    tokens = grid_rows(page, "lab8-scratch-poem-matrix")
    words = grid_rows(page, "lab8-scratch-vocab-matrix")
    assert tokens == len(lab.kernel("lab.ids")) == 69
    assert words == len(lab.kernel("lab.vocab")) == 48

    box = page.locator(".lab8-scratch-text textarea")
    box.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nThe zebra sings of hope")
    page.click(".lab8-scratch-apply-text")
    page.wait_for_selector(
        f'.lab8-scratch-poem-matrix .lab8-grid[data-rows="{tokens + 5}"]', timeout=20_000
    )
    assert grid_rows(page, "lab8-scratch-vocab-matrix") == words + 1  # only "zebra" is new
    lab.wait_kernel("len(lab.ids)", tokens + 5)
    assert lab.kernel("lab.vocab[-1]") == "zebra"
    assert lab.kernel(
        "lab.ids[-5:] == [lab.vocab.index(w) for w in 'the zebra sings of hope'.split()]"
    )
    assert lab.kernel("lab.text.endswith('The zebra sings of hope')")
    # the words in the page link to their rows
    row = lab.kernel("lab.vocab.index('zebra')")
    assert page.inner_text(f'.lab8-scratch-vocab tr[data-row="{row}"]').split()[:2] == [
        str(row),
        "zebra",
    ]


def test_bad_index_banner_hover_and_timing(open_lab):
    lab = open_scratch(open_lab)
    page = lab.page
    lab.enter(".lab8-scratch-indices", "3, 99")
    assert "out of range" in lab.wait_banner()
    box = page.locator(".lab8-scratch-indices input")
    assert box.input_value() == "3, 99"  # what the learner typed is not lost
    assert lab.kernel("lab.indices") == [3, 1, 3]
    lab.enter(".lab8-scratch-indices", "5 0 5")
    lab.wait_banner(gone=True)
    lab.wait_kernel("lab.indices", [5, 0, 5])
    assert lab.kernel("bool((lab.one_hot_product == lab.lookup).all())") is True
    assert page.get_attribute(".lab8-scratch-lookup .lab8-grid", "data-rows") == "3"
    assert page.get_attribute(".lab8-scratch-equal [data-equal]", "data-equal") == "true"

    # hovering a word lights up its row of the vocabulary
    row = page.locator('.lab8-scratch-vocab tr[data-row="5"]')
    plain = row.evaluate("e => getComputedStyle(e).backgroundColor")
    page.locator('.lab8-poem .lab8-word[data-row="5"]').first.hover()
    lit = row.evaluate("e => getComputedStyle(e).backgroundColor")
    assert lit == "rgb(255, 224, 138)" != plain

    page.click(".lab8-scratch-time")
    page.wait_for_selector(".lab8-scratch-timing-table", timeout=60_000)
    lab.wait_kernel("[r['vocab'] for r in lab.timings]", [10, 100, 1_000, 10_000, 100_000])
    assert page.locator(".lab8-scratch-timing-table tr").count() == 6


@pytest.mark.parametrize("width", [850, 1280])
def test_layout_fits_and_screenshot(open_lab, width):
    lab = open_scratch(open_lab)
    page = lab.page
    page.set_viewport_size({"width": width, "height": 800})
    page.wait_for_timeout(500)  # let bqplot and the wrapping rows settle at the new width
    assert page.evaluate(LAYOUT, width) == []
    if width == 1280:
        lab.screenshot(DOCS / "scratch.png")


# Nothing is cut without a way to see it: a box that hides part of its content must scroll, and the
# texts of a chart (tick labels, axis labels, title, legend) never sit on top of each other.
CLIPPED = """() => {
  const out = [];
  const name = (e) => (typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : e.tagName);
  for (const e of document.querySelectorAll('.lab8-scratch *')) {
    if (!e.getClientRects().length || e.closest('svg')) continue;
    const cs = getComputedStyle(e);
    for (const [axis, over, size, client] of [['y', cs.overflowY, e.scrollHeight, e.clientHeight],
                                              ['x', cs.overflowX, e.scrollWidth, e.clientWidth]]) {
      if (size <= client + 1) continue;
      if (['hidden', 'clip'].includes(over) && !e.matches('input, textarea, select, button, .widget-label, label'))
        out.push(`${name(e)} cuts ${size - client} px (${axis}) with no scrollbar`);
    }
  }
  for (const svg of document.querySelectorAll('.lab8-scratch-timing svg.svg-figure')) {
    const texts = [...svg.querySelectorAll('text')].filter((t) => t.textContent.trim() && t.getClientRects().length && !t.closest('.legend, .g_legend, .legendtext'));  // the legend's rows are a list
    const boxes = texts.map((t) => t.getBoundingClientRect());  // touching counts: "1e+12e+1" reads as one
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const a = boxes[i], b = boxes[j];
      const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
      const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
      if (w > -1 && h > -1) out.push(`timing chart: "${texts[i].textContent}" overlaps "${texts[j].textContent}"`);
    }
  }
  return out;
}"""
# every row of both word matrices can be brought into view (scrolled to) inside its box
ROWS_REACHABLE = """(cls) => {
  const grid = document.querySelector(`.${cls} .lab8-grid`);
  const canvas = grid.querySelector('canvas');
  let box = grid.parentElement;
  while (box && getComputedStyle(box).overflowY === 'visible') box = box.parentElement;
  const need = canvas.getBoundingClientRect().bottom - box.getBoundingClientRect().top;
  return { box: box.className, need: Math.round(need), reach: box.scrollHeight, client: box.clientHeight,
           scrolls: ['auto', 'scroll'].includes(getComputedStyle(box).overflowY) };
}"""


@pytest.mark.parametrize("width", [850, 1280])
def test_nothing_is_cut_and_chart_labels_do_not_overlap(open_lab, width):
    """Issue 24: the word matrices were cut at 420 px with no scroll (13 of 48 rows unseen), and the
    timing chart's labels overlapped."""
    lab = open_scratch(open_lab)
    page = lab.page
    page.set_viewport_size({"width": width, "height": 800})
    lab.run("lab.time_paths(sizes=(10, 100, 1000, 10_000, 100_000), wait=True)")
    page.wait_for_selector(".lab8-scratch-timing-table", timeout=60_000)
    page.wait_for_timeout(800)  # the chart's transition
    for cls in ("lab8-scratch-vocab-matrix", "lab8-scratch-poem-matrix"):
        r = page.evaluate(ROWS_REACHABLE, cls)
        assert r["reach"] >= r["need"] - 1, (cls, r)
        assert r["scrolls"] or r["need"] <= r["client"] + 1, (cls, r)
    assert page.evaluate(CLIPPED) == []
    assert page.evaluate(LAYOUT, width) == []
    # the Embedding Projector's two files are offered on the page, named as export_projector names them
    links = page.locator(".lab8-scratch-projector a.lab8-download")
    assert sorted(links.evaluate_all("es => es.map(e => e.getAttribute('download'))")) == [
        "words_metadata.tsv",
        "words_vectors.tsv",
    ]
    DOCS.mkdir(parents=True, exist_ok=True)
    for part in ("timing", "vocab-matrix"):
        page.locator(f".lab8-scratch-{part}").screenshot(
            path=str(DOCS / f"scratch-{part}-{width}.png")
        )
