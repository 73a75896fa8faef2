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
        els.forEach((e, i) => { if (rects[i].right > 1280 + 0.5) out.push('too wide: ' + e.className); });
        for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {
          if (els[i].contains(els[j]) || els[j].contains(els[i])) continue;
          const a = rects[i], b = rects[j];
          const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
          const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
          if (w > 1 && h > 1) out.push(els[i].className + ' overlaps ' + els[j].className);
        }
        return out;
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


def cell_center(page, name: str, row: int, col: int, cell: int) -> tuple[float, float]:
    box = page.locator(f".lab8-conv-{name} canvas").bounding_box()
    return box["x"] + 1 + (col + 0.5) * cell, box["y"] + 1 + (row + 0.5) * cell


def wait_kernel(lab, expr: str, want, timeout: float = 15.0):
    import time

    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = lab.kernel(expr)
        if got == want:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{expr} = {got!r}, expected {want!r}")


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
    cell = lab.kernel("lab._grids['kernel-0'].cell")
    x, y = cell_center(page, "kernel-0", 0, 1, cell)
    page.mouse.move(x, y)
    page.mouse.down()
    for dy in range(4, 61, 4):  # 60 px up = 15 steps of 0.1: -1 → 0.5
        page.mouse.move(x, y - dy)
        page.wait_for_timeout(20)
    page.mouse.up()
    wait_kernel(lab, "round(lab.model.conv1.weight[0, 0, 0, 1].item(), 4)", 0.5)
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
    cell = lab.kernel("lab._grids['kernel-1'].cell")
    x, y = cell_center(page, "kernel-1", 2, 2, cell)
    page.mouse.dblclick(x, y)
    page.fill(".lab8-conv-kernel-1 input.lab8-grid-input", "abc")
    page.keyboard.press("Enter")
    page.wait_for_selector(".lab8-error [role=alert]")
    assert "not a number" in page.inner_text(".lab8-error")
    assert lab.kernel("lab.model.conv1.weight[1, 0, 2, 2].item()") == 0.0
    x, y = cell_center(page, "kernel-1", 2, 2, cell)
    page.mouse.dblclick(x, y)
    page.fill(".lab8-conv-kernel-1 input.lab8-grid-input", "2")
    page.keyboard.press("Enter")
    wait_kernel(lab, "lab.model.conv1.weight[1, 0, 2, 2].item()", 2.0)
    page.wait_for_selector(".lab8-error [role=alert]", state="detached")
    wait_data(page, "kernel-1", "sum", "2.0000")


def test_stride_and_pool_type_change_shapes(open_lab):
    lab = open_lab("conv")
    page = lab.page
    assert data(page, "conv1-0", "rows") == "26"
    page.focus(".lab8-conv-stride .noUi-handle")
    page.keyboard.press("ArrowRight")
    wait_kernel(lab, "lab.stride", 2)
    wait_data(page, "conv1-0", "rows", "13")
    wait_data(page, "pool-0", "rows", "5")  # 13 → conv2 11 → 2×2 max pool 5
    assert lab.kernel("lab.activations['conv1'].shape") == (2, 13, 13)
    assert "stride 2" in page.inner_text(".lab8-conv-chain")

    page.click(".lab8-conv-pool-type button:has-text('avg pool')")
    wait_kernel(lab, "lab.pool", "avg")
    ok = (
        "float((lab.activations['pool'] - __import__('torch').nn.functional.avg_pool2d("
        "__import__('torch').as_tensor(lab.activations['relu2']), 2).numpy()).__abs__().max())"
    )
    assert lab.kernel(ok) < 1e-6
    want = lab.kernel("float(lab.activations['pool'][0].astype('float64').sum())")
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, want)",
        arg=[grid("pool-0"), want],
    )

    # stride-2 convolution instead of pooling: one click
    page.click(".lab8-conv-pool-type button:has-text('max pool')")
    wait_kernel(lab, "lab.pool", "max")
    page.focus(".lab8-conv-stride .noUi-handle")
    page.keyboard.press("ArrowLeft")
    wait_kernel(lab, "lab.stride", 1)
    page.focus(".lab8-conv-padding .noUi-handle")
    page.keyboard.press("ArrowRight")
    wait_kernel(lab, "lab.padding", 1)
    wait_data(page, "pool-0", "rows", "14")
    page.click(".lab8-conv-stride2")
    wait_kernel(lab, "(lab.pool, lab.stride)", ("none", 2))
    wait_data(page, "conv1-0", "rows", "14")
    wait_data(page, "pool-0", "rows", "14")  # same size, reached by striding instead of pooling
    assert "no pool" in page.inner_text(".lab8-conv-summary")


def test_click_shows_receptive_field(open_lab):
    lab = open_lab("conv")
    page = lab.page
    cell = lab.kernel("lab._grids['pool-1'].cell")
    x, y = cell_center(page, "pool-1", 3, 4, cell)
    page.mouse.click(x, y)
    wait_data(page, "pool-1", "selected", "[3,4]")
    expected = {
        stage: lab.kernel(f"list({RF}(lab.model.stages_meta(), 'pool', 3, 4, 1)['{stage}'][:4])")
        for stage in ("input", "conv1", "relu2")
    }
    assert expected["input"] == [6, 8, 11, 13]  # 2×2 pool over two 3×3 convs: 6×6 input pixels
    wait_data(page, "input", "highlight", json.dumps([expected["input"]], separators=(",", ":")))
    for name in ("conv1-0", "conv1-1"):  # conv2 mixes every conv1 channel
        assert json.loads(data(page, name, "highlight")) == [expected["conv1"]]
    assert json.loads(data(page, "relu2-1", "highlight")) == [expected["relu2"]]
    assert json.loads(data(page, "relu2-0", "highlight")) == []  # pooling keeps to its channel
    assert "6×6 receptive field" in page.inner_text(".lab8-conv-rf")
    assert lab.kernel("lab._selection") == ("pool", 1, 3, 4)
    # an output cell reads the whole input
    ocell = lab.kernel("lab._grids['output'].cell")
    page.mouse.click(*cell_center(page, "output", 0, 1, ocell))
    wait_data(page, "input", "highlight", "[[0,0,27,27]]")


def test_draw_on_the_pad(open_lab):
    lab = open_lab("conv")
    page = lab.page
    assert data(page, "pad", "sum") == "0.0000"
    cell = lab.kernel("lab._grids['pad'].cell")
    x0, y0 = cell_center(page, "pad", 4, 14, cell)
    page.mouse.move(x0, y0)
    page.mouse.down()
    for r in range(4, 24):
        page.mouse.move(x0, y0 + (r - 4) * cell)
        page.wait_for_timeout(10)
    page.mouse.up()
    page.wait_for_function(
        "() => document.querySelector('.lab8-conv-input .lab8-grid-title').textContent === 'your drawing'"
    )
    wait_kernel(lab, "lab.image[4:24, 14].min().item()", 1.0)  # the stroke went down column 14
    total = lab.kernel("float(lab.image.sum())")
    assert total >= 20
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-2",
        arg=[grid("input"), total],
    )
    assert abs(float(data(page, "pad", "sum")) - total) < 1e-2
    page.click(".lab8-conv-clear")
    wait_data(page, "pad", "sum", "0.0000")
    wait_kernel(lab, "float(lab.image.sum())", 0.0)


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
    cell = lab.kernel("lab._grids['conv2-0'].cell")
    page.mouse.click(*cell_center(page, "conv2-0", 9, 12, cell))
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
    n = page.locator(".lab8-conv-mm-matrix rect[data-w]").count()
    assert n == lab.kernel(
        "int((__import__('lab8widgets.models.conv', fromlist=['x']).conv_matrix_index(5, 5, 3) >= 0).sum())"
    )
    want = lab.kernel(
        "float(__import__('torch').nn.functional.conv2d(__import__('torch').as_tensor(lab.image[11:16, 11:16])[None, None],"
        " lab.model.conv1.weight[:1].detach())[0, 0].double().sum())"
    )
    page.wait_for_function(
        "([sel, want]) => Math.abs(+document.querySelector(sel).dataset.sum - want) < 1e-3 * Math.max(1, Math.abs(want))",
        arg=[grid("mm-product"), want],
    )
