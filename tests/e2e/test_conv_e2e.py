"""ConvLab in Chromium under ``lab8widgets serve conv``: real gestures on the canvas, then the page
*and* the kernel's Python state are checked."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e
from .harness import SCREENSHOTS as DOCS  # noqa: E402  (build/; `python -m tests.e2e.screens`: docs/)

OVERLAPS = """() => {
        const sel = '.lab8-conv .lab8-grid, .lab8-conv-head, .lab8-conv .widget-slider, '
          + '.lab8-conv .widget-toggle-buttons, .lab8-conv .widget-button, .lab8-conv .widget-toggle-button, '
          + '.lab8-conv .widget-dropdown, .lab8-conv-prediction, .lab8-conv-summary';
        const els = [...document.querySelectorAll(sel)].filter(e => e.getClientRects().length);
        const out = [];
        const rects = els.map(e => e.getBoundingClientRect());
        // what sits in the chain's scrolling box is clipped to it: only its visible part counts
        const clip = (e, r) => {
          const box = e.closest('.lab8-stack');
          if (!box) return r;
          const c = box.getBoundingClientRect();
          return { left: Math.max(r.left, c.left), right: Math.min(r.right, c.right),
                   top: Math.max(r.top, c.top), bottom: Math.min(r.bottom, c.bottom) };
        };
        const vis = els.map((e, i) => clip(e, rects[i]));
        els.forEach((e, i) => { if (vis[i].right > innerWidth + 0.5) out.push('too wide: ' + e.className); });
        for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {
          if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
          const a = vis[i], b = vis[j];
          const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
          const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
          if (w > 1 && h > 1) out.push(els[i].className + ' overlaps ' + els[j].className);
        }
        return out;
    }"""
# Which stack frame (one per message from Python) repainted each stage of the chain.
CHAIN_FRAMES = """() => {
  const root = document.querySelector('.lab8-conv-chain .lab8-stack');
  const frames = (globalThis.__chainFrames = {});
  for (const n of ['conv1-0', 'act1-0', 'conv2-0', 'conv2-1', 'act2-1', 'pool-0', 'dense', 'output']) {
    frames[n] = [];
    new MutationObserver(() => frames[n].push(root.dataset.frame)).observe(
      document.querySelector(`.lab8-conv-${n} .lab8-grid`),
      { attributes: true, attributeFilter: ['data-version'] });
  }
}"""
RF = "__import__('lab8widgets.models.conv', fromlist=['receptive_field']).receptive_field"


def grid(name: str) -> str:
    return f".lab8-conv-{name} .lab8-grid"


def data(page, name: str, key: str) -> str:
    return page.get_attribute(grid(name), f"data-{key}")


def wait_data(page, name: str, key: str, want: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "([sel, key, want]) => { const e = document.querySelector(sel); return e && e.dataset[key] === want; }",
        arg=[grid(name), key, want],
        timeout=timeout,
    )


def wait_text(page, sel: str, text: str, timeout: float = 15_000) -> None:
    page.wait_for_function(
        "([sel, text]) => (document.querySelector(sel)?.innerText || '').includes(text)",
        arg=[sel, text],
        timeout=timeout,
    )


def test_drag_kernel_cell_updates_python_and_heatmaps(open_lab):
    lab = open_lab("conv")
    page = lab.page
    page.wait_for_selector(grid("conv1-0"))
    assert lab.kernel("lab.model.conv1.weight[0, 0].tolist()") == [
        [-1, -1, -1],
        [0, 0, 0],
        [1, 1, 1],
    ]
    before_sum = data(page, "conv1-0", "sum")
    before_version = int(data(page, "conv1-0", "version"))
    page.evaluate(CHAIN_FRAMES)
    x, y = lab.cell_xy(grid("kernel-0"), 0, 1)
    page.mouse.move(x, y)
    page.mouse.down()
    page.evaluate("() => performance.clearMarks('lab8-edit')")
    for dy in range(4, 61, 4):  # 60 px up = 15 steps of 0.1: -1 → 0.5
        page.mouse.move(x, y - dy)
        page.wait_for_timeout(20)
    page.mouse.up()
    lab.wait_kernel("round(lab.model.conv1.weight[0, 0, 0, 1].item(), 4)", 0.5)
    wait_data(page, "kernel-0", "sum", "1.5000")
    # one message per drag step, each answer painted in one pass: every stage of the chain
    # repainted in the same frames, once per answer, and never more answers than steps sent
    frames = page.evaluate("() => globalThis.__chainFrames")
    sent = page.evaluate("() => performance.getEntriesByName('lab8-edit').length")
    assert 3 <= len(frames["output"]) <= sent <= 15, (frames, sent)
    for name, got in frames.items():
        assert got == frames["output"], (name, got, frames["output"])
    assert len(set(frames["output"])) == len(frames["output"])
    assert lab.kernel("lab.model.conv1.weight[0, 0].tolist()") == [
        [-1, 0.5, -1],
        [0, 0, 0],
        [1, 1, 1],
    ]
    wait_data(page, "kernel-0", "sum", "1.5000")
    want = lab.kernel("float(lab.activations['conv1'][0].astype('float64').sum())")
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, Math.abs(want))",
        arg=[grid("conv1-0"), want],
    )
    assert data(page, "conv1-0", "sum") != before_sum
    # the rest of the chain settles on the last value too (pool and dense come from the same model)
    for name, expr in (
        ("pool-1", "lab.activations['pool'][1]"),
        ("dense", "lab.activations['dense']"),
    ):
        want = lab.kernel(f"float({expr}.astype('float64').sum())")
        page.wait_for_function(
            "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, Math.abs(want))",
            arg=[grid(name), want],
        )
    # the chain repainted while dragging, not only at the end
    assert int(data(page, "conv1-0", "version")) - before_version >= 3
    # the displayed arrays are the model's: conv1 equals F.conv2d on the lab's image
    assert (
        lab.kernel(
            "float((lab.activations['conv1'] - __import__('torch').nn.functional.conv2d("
            "__import__('torch').as_tensor(lab.image)[None, None], lab.model.conv1.weight.detach())[0].numpy())"
            ".__abs__().max())"
        )
        < 1e-5
    )
    assert lab.kernel("lab.error") == ""


def test_typed_values_are_checked(open_lab):
    lab = open_lab("conv")
    page = lab.page
    lab.type_cell(".lab8-conv-kernel-1", 2, 2, "abc")
    assert "not a number" in lab.wait_banner()
    assert lab.kernel("lab.model.conv1.weight[1, 0, 2, 2].item()") == 0.0
    lab.type_cell(".lab8-conv-kernel-1", 2, 2, "2")
    lab.wait_kernel("lab.model.conv1.weight[1, 0, 2, 2].item()", 2.0)
    lab.wait_banner(gone=True)
    wait_data(page, "kernel-1", "sum", "2.0000")


def test_stride_and_pool_type_change_shapes(open_lab):
    lab = open_lab("conv")
    page = lab.page
    assert data(page, "conv1-0", "rows") == "26"
    page.focus(".lab8-conv-stride .noUi-handle")
    page.keyboard.press("ArrowRight")
    lab.wait_kernel("lab.stride", 2)
    wait_data(page, "conv1-0", "rows", "13")
    wait_data(page, "pool-0", "rows", "5")  # 13 → conv2 11 → 2×2 max pool 5
    assert lab.kernel("lab.activations['conv1'].shape") == (2, 13, 13)
    assert "stride 2" in page.inner_text(".lab8-conv-chain")

    page.click(".lab8-conv-pool-type button:has-text('avg pool')")
    lab.wait_kernel("lab.pool", "avg")
    ok = (
        "float((lab.activations['pool'] - __import__('torch').nn.functional.avg_pool2d("
        "__import__('torch').as_tensor(lab.activations['act2']), 2).numpy()).__abs__().max())"
    )
    assert lab.kernel(ok) < 1e-6
    want = lab.kernel("float(lab.activations['pool'][0].astype('float64').sum())")
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, want)",
        arg=[grid("pool-0"), want],
    )

    # stride-2 convolution instead of pooling: one click
    page.click(".lab8-conv-pool-type button:has-text('max pool')")
    lab.wait_kernel("lab.pool", "max")
    page.focus(".lab8-conv-stride .noUi-handle")
    page.keyboard.press("ArrowLeft")
    lab.wait_kernel("lab.stride", 1)
    page.focus(".lab8-conv-padding .noUi-handle")
    page.keyboard.press("ArrowRight")
    lab.wait_kernel("lab.padding", 1)
    wait_data(page, "pool-0", "rows", "14")
    page.click(".lab8-conv-stride2")
    lab.wait_kernel("(lab.pool, lab.stride)", ("none", 2))
    wait_data(page, "conv1-0", "rows", "14")
    wait_data(page, "pool-0", "rows", "14")  # same size, reached by striding instead of pooling
    wait_text(page, ".lab8-conv-summary", "no pool")


def test_click_shows_receptive_field(open_lab):
    lab = open_lab("conv")
    page = lab.page
    lab.click_cell(grid("pool-1"), 3, 4)
    wait_data(page, "pool-1", "selected", "[3,4]")
    expected = {
        stage: lab.kernel(f"list({RF}(lab.model.stages_meta(), 'pool', 3, 4, 1)['{stage}'][:4])")
        for stage in ("input", "conv1", "act2")
    }
    assert expected["input"] == [6, 8, 11, 13]  # 2×2 pool over two 3×3 convs: 6×6 input pixels
    wait_data(page, "input", "highlight", json.dumps([expected["input"]], separators=(",", ":")))
    for name in ("conv1-0", "conv1-1"):  # conv2 mixes every conv1 channel
        assert json.loads(data(page, name, "highlight")) == [expected["conv1"]]
    assert json.loads(data(page, "act2-1", "highlight")) == [expected["act2"]]
    assert json.loads(data(page, "act2-0", "highlight")) == []  # pooling keeps to its channel
    wait_text(page, ".lab8-conv-rf", "6×6 receptive field")
    assert lab.kernel("lab.selection") == ("pool", 1, 3, 4)
    # an output cell reads the whole input
    lab.click_cell(grid("output"), 0, 1)
    wait_data(page, "input", "highlight", "[[0,0,27,27]]")


def test_draw_on_the_pad(open_lab):
    lab = open_lab("conv")
    page = lab.page
    assert data(page, "pad", "sum") == "0.0000"
    cell = lab.kernel("lab.pad.cell")
    x0, y0 = lab.cell_xy(grid("pad"), 4, 14)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for r in range(4, 24):
        page.mouse.move(x0, y0 + (r - 4) * cell)
        page.wait_for_timeout(10)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('.lab8-conv-input .lab8-grid-title').textContent === 'your drawing'"
    )
    lab.wait_kernel("lab.image[4:24, 14].min().item()", 1.0)  # the stroke went down column 14
    total = lab.kernel("float(lab.image.sum())")
    assert total >= 20
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-2",
        arg=[grid("input"), total],
    )
    assert abs(float(data(page, "pad", "sum")) - total) < 1e-2
    page.click(".lab8-conv-clear")  # back to the sample digit
    wait_data(page, "pad", "sum", "0.0000")
    lab.wait_kernel("float(abs(lab.image - lab.digits.images[lab.index]).max())", 0.0)
    page.wait_for_function(
        "() => document.querySelector('.lab8-conv-input .lab8-grid-title').textContent.startsWith('MNIST')"
    )


def test_model_changed_in_a_cell_repaints(open_lab):
    lab = open_lab("conv")
    page = lab.page
    lab.run("import torch\nwith torch.no_grad(): lab.model.conv1.weight[1, 0] = torch.ones(3, 3)")
    wait_data(page, "kernel-1", "sum", "9.0000")
    want = lab.kernel("float(lab.activations['conv1'][1].astype('float64').sum())")
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, want)",
        arg=[grid("conv1-1"), want],
    )


def test_layout_fits_and_screenshot(open_lab):
    """Nothing overlaps at 1280×800 and everything fits the width; the README screenshot."""
    lab = open_lab("conv")
    page = lab.page
    page.wait_for_selector(grid("output"))
    lab.click_cell(grid("conv2-0"), 9, 12)
    wait_data(page, "conv2-0", "selected", "[9,12]")
    page.wait_for_timeout(300)
    problems = page.evaluate(OVERLAPS)
    assert problems == []
    # the whole default network is visible without scrolling
    box = page.locator(".lab8-conv-output canvas").bounding_box()
    assert box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 800
    box = page.locator(".lab8-conv-pad canvas").bounding_box()
    assert box["y"] + box["height"] <= 800
    lab.screenshot(DOCS / "conv.png")
    # the largest network the sliders allow still lays out without overlaps (it may scroll)
    lab.run("lab.configure(n_filters=8, kernel_size=7, padding=3)")
    wait_data(page, "kernel-7", "rows", "7")
    wait_data(page, "conv1-7", "rows", "28")
    page.wait_for_timeout(300)
    assert page.evaluate(OVERLAPS) == []


def test_matmul_tab(open_lab):
    lab = open_lab("conv")
    page = lab.page
    page.click(".lab8-conv-tabs >> text=Convolution as matrix multiplication")
    page.wait_for_selector(".lab8-conv-mm-check >> text=equal")
    assert "✓" in page.inner_text(".lab8-conv-mm-check")
    want_tied = lab.kernel(
        "int((__import__('lab8widgets.models.conv', fromlist=['x']).conv_matrix_index(5, 5, 3) >= 0).sum())"
    )
    wait_data(page, "mm-matrix", "tied", str(want_tied))  # every tied weight drawn, zeros grey
    want = lab.kernel(
        "float(__import__('torch').nn.functional.conv2d(__import__('torch').as_tensor(lab.image[11:16, 11:16])[None, None],"
        " lab.model.conv1.weight[:1].detach())[0, 0].double().sum())"
    )
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, Math.abs(want))",
        arg=[grid("mm-product"), want],
    )


CHAIN_BOX = """() => {
    const box = document.querySelector('.lab8-conv-chain .lab8-stack');
    const r = box.getBoundingClientRect();
    const tops = [...box.querySelectorAll(':scope > .lab8-stack-group')].map(g => Math.round(g.getBoundingClientRect().top));
    const page = document.scrollingElement;
    return {right: r.right, bottom: r.bottom, scroll: box.scrollWidth, client: box.clientWidth,
            rows: new Set(tops).size, pageScroll: page.scrollWidth, inner: innerWidth,
            legends: box.querySelectorAll('.lab8-stack-legend').length};
}"""


@pytest.mark.parametrize("width", [1280, 850])
def test_largest_network_stays_one_row_scrolling_in_its_box(open_lab, width):
    """Kernel 7, 8 filters, pool 4: the chain is one row that scrolls inside its own box, at a
    Voila page's 1280 px and at JupyterLab's ~850 px column; the page itself never scrolls sideways."""
    lab = open_lab("conv")
    page = lab.page
    page.set_viewport_size({"width": width, "height": 800})
    lab.run("lab.configure(n_filters=8, kernel_size=7, padding=3, pool_size=4)")
    wait_data(page, "kernel-7", "rows", "7")
    wait_data(page, "pool-1", "rows", "7")
    page.wait_for_timeout(300)
    box = page.evaluate(CHAIN_BOX)
    assert box["rows"] == 1, box  # every stage side by side: nothing wrapped under the kernels
    assert box["right"] <= width + 0.5 and box["pageScroll"] <= box["inner"], box
    if width == 1280:  # a Voila page: the whole chain on one 1280×800 screen
        assert box["bottom"] <= 800, box
    assert box["legends"] >= 5  # the red/blue scale is explained, stage by stage
    if width == 850:
        assert box["scroll"] > box["client"]  # the chain scrolls, not the page
    # the softmax is reachable by scrolling the chain box, and then on screen
    page.locator(".lab8-conv-output canvas").scroll_into_view_if_needed()
    out = page.locator(".lab8-conv-output canvas").bounding_box()
    assert out["x"] + out["width"] <= width + 0.5
    assert page.evaluate("() => document.scrollingElement.scrollLeft") == 0
    assert page.evaluate(OVERLAPS) == []


def test_dropout_toggle_mask_and_kernel_state(open_lab):
    lab = open_lab("conv")
    page = lab.page
    assert page.locator(".lab8-conv-mask-0").count() == 0
    page.focus(".lab8-conv-dropout .noUi-handle")
    for _ in range(10):  # 10 steps of 0.05
        page.keyboard.press("ArrowRight")
    lab.wait_kernel("round(lab.dropout, 2)", 0.5)
    page.wait_for_selector(grid("mask-1"))
    for ch in (0, 1):
        want = lab.kernel(f"float(lab.dropout_mask[{ch}].sum())")
        wait_data(page, f"mask-{ch}", "sum", f"{want:.4f}")
    assert 0.3 < lab.kernel("float(lab.dropout_mask.mean())") < 0.7
    ok = (
        "float(abs(lab.activations['dropout'] - lab.activations['act2'] * lab.dropout_mask / 0.5)"
        ".max())"
    )
    assert lab.kernel(ok) < 1e-5
    wait_text(page, ".lab8-conv-scaling", "×2")
    before = lab.kernel("lab.dropout_mask.tobytes()")
    version = int(data(page, "mask-0", "version"))
    page.click(".lab8-conv-new-mask")
    page.wait_for_function(
        "([sel, v]) => +document.querySelector(sel).dataset.version > v",
        arg=[grid("mask-0"), version],
    )
    assert lab.kernel("lab.dropout_mask.tobytes()") != before
    for ch in (0, 1):  # the page shows the new mask
        want = lab.kernel(f"float(lab.dropout_mask[{ch}].sum())")
        wait_data(page, f"mask-{ch}", "sum", f"{want:.4f}")
    want = lab.kernel("float(lab.activations['pool'][0].astype('float64').sum())")
    page.wait_for_function(  # later stages follow the new mask
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, want)",
        arg=[grid("pool-0"), want],
    )
    page.click(".lab8-conv-mode button:has-text('eval')")
    lab.wait_kernel("lab.training", False)
    wait_data(page, "mask-0", "sum", f"{lab.kernel('float(lab.dropout_mask[0].size)'):.4f}")
    assert lab.kernel("bool((lab.activations['dropout'] == lab.activations['act2']).all())")
    wait_text(page, ".lab8-conv-scaling", "eval")  # its own message, just after the chain's
    # the kernels were not touched by any of it
    assert lab.kernel("lab.model.conv1.weight[0, 0].tolist()") == [
        [-1, -1, -1],
        [0, 0, 0],
        [1, 1, 1],
    ]
    assert lab.kernel("lab.error") == ""


def test_pool_size_disabled_under_no_pool_and_banner_clears(open_lab):
    lab = open_lab("conv")
    page = lab.page
    page.click(".lab8-conv-pool-type button:has-text('no pool')")
    lab.wait_kernel("lab.pool", "none")
    page.wait_for_selector(".lab8-conv-pool-size .noUi-target[disabled]")
    assert lab.kernel("lab.pool_size_slider.disabled") is True
    # a refused value shows a banner; the next good action clears it
    lab.run("try:\n    lab.stride = 'a'\nexcept Exception:\n    pass")
    assert "stride must be an integer from 1 to 3" in lab.wait_banner()
    page.click(".lab8-conv-pool-type button:has-text('max pool')")
    lab.wait_banner(gone=True)
    page.wait_for_selector(".lab8-conv-pool-size .noUi-target:not([disabled])")


def test_one_stroke_seven_reads_as_a_seven(open_lab):
    lab = open_lab("conv")
    page = lab.page
    cell = lab.kernel("lab.pad.cell")
    x0, y0 = lab.cell_xy(grid("pad"), 0, 0)

    def at(r, c):
        return x0 + c * cell, y0 + r * cell

    page.mouse.move(*at(6, 7))
    page.mouse.down()
    for c in range(8, 21, 2):  # the bar, left to right
        page.mouse.move(*at(6, c))
        page.wait_for_timeout(15)
    for i in range(1, 10):  # then down and to the left, in one stroke
        page.mouse.move(*at(6 + 2 * i, 20 - i))
        page.wait_for_timeout(15)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('.lab8-conv-input .lab8-grid-title').textContent === 'your drawing'"
    )
    lab.wait_kernel("int(lab.image[6, 8:20].min() > 0.8)", 1)  # no gaps along the bar
    assert lab.kernel("int((lab.image[5:8, 13] > 0.4).sum())") >= 3  # about three pixels wide
    assert lab.kernel("lab.model.classes[int(lab.activations['output'][0].argmax())]") == "7"


# Every box that holds the chain's parts: a column's visible part must stay inside the chain's box
FITS = """() => {
  const out = [];
  const root = document.querySelector('.lab8-conv');
  const rootBox = root.getBoundingClientRect();
  const chain = document.querySelector('.lab8-conv-chain .lab8-stack');
  const cbox = chain.getBoundingClientRect();
  const pred = document.querySelector('.lab8-conv-predictions').getBoundingClientRect();
  if (cbox.right > pred.left + 0.5) out.push(`the chain's box (right ${cbox.right}) runs under "prediction" (left ${pred.left})`);
  if (innerWidth >= 1280 && chain.scrollWidth > chain.clientWidth + 1)
    out.push(`at ${innerWidth} px the chain hides ${chain.scrollWidth - chain.clientWidth} px: dense → softmax slides out of view`);
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) out.push(`page scrolls sideways: ${doc.scrollWidth} > ${doc.clientWidth}`);
  const name = (e) => (typeof e.className === 'string' ? '.' + e.className.trim().split(/\\s+/).join('.') : e.tagName)
    + (e.textContent ? ` "${e.textContent.trim().slice(0, 24)}"` : '');
  for (const e of root.querySelectorAll('*')) {
    if (!e.getClientRects().length) continue;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (!e.closest('.lab8-stack') && r.right > rootBox.right + 1) out.push(`sticks out of the lab by ${Math.round(r.right - rootBox.right)} px: ${name(e)}`);
  }
  for (const e of root.querySelectorAll('label, .widget-label, button, .widget-button, th, input, .lab8-stack-head')) {
    if (!e.getClientRects().length) continue;
    if (e.scrollWidth > e.clientWidth + 1) out.push(`label cut (${e.scrollWidth} > ${e.clientWidth}): ${name(e)}`);
  }
  return out;
}"""


@pytest.mark.parametrize("width", [1280, 850])
def test_page_fits_with_dropout_on(open_lab, width):
    """Issue 24: at 1280 px with dropout on, the dense → softmax column slid under "prediction"."""
    lab = open_lab("conv")
    page = lab.page
    page.set_viewport_size({"width": width, "height": 900})
    lab.run("lab.configure(dropout=0.5)")
    page.wait_for_selector(".lab8-conv-mask-0 .lab8-grid")
    page.wait_for_timeout(400)
    lab.screenshot(DOCS / f"conv-dropout-{width}.png")
    assert page.evaluate(FITS) == []
    assert page.evaluate(OVERLAPS) == []
