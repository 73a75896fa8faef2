"""CollabLab in Chromium under ``lab8widgets serve collab`` (offline, so on synthetic ratings):
press the real buttons, type in the real inputs, then check the page *and* the kernel's state."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e
from .harness import SCREENSHOTS as DOCS  # noqa: E402  (build/; `python -m tests.e2e.screens`: docs/)


def runs_rows(page) -> int:
    return page.locator(".lab8-runs tr").count() - (
        1 if page.locator(".lab8-runs tr").count() else 0
    )


def curve_points(page) -> list[int]:
    """Number of points in each drawn bqplot line of the chart."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.lab8-chart path.line'))
              .map(p => ((p.getAttribute('d') || '').match(/[ML]/g) || []).length)"""
    )


def test_train_streams_the_curve_and_adds_a_run(open_lab):
    lab = open_lab("collab")
    page = lab.page
    assert "synthetic" in lab.kernel("lab.source")
    assert "synthetic" in page.locator(".lab8-source").inner_text().lower()
    lab.enter(".lab8-setting-epochs", 40)
    lab.wait_kernel("lab.settings.epochs", 40)

    page.click(".lab8-train")
    lab.wait_kernel("lab.busy", True, timeout=20, every=0.05)
    # the valid curve grows on the page while the run goes on
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.lab8-chart path.line'))
              .some(p => ((p.getAttribute('d') || '').match(/L/g) || []).length >= 2)""",
        timeout=30_000,
    )
    first = max(curve_points(page))
    assert lab.kernel("lab.busy") is True, "the run ended before the curve could be seen growing"
    page.wait_for_function(
        """(n) => Array.from(document.querySelectorAll('.lab8-chart path.line'))
              .some(p => ((p.getAttribute('d') || '').match(/[ML]/g) || []).length > n)""",
        arg=first,
        timeout=30_000,
    )
    lab.wait_kernel("lab.busy", False, timeout=120)
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 2")
    assert lab.kernel("len(lab.runs)") == 1
    run = lab.kernel("{k: lab.runs[0][k] for k in ('status', 'epochs', 'epochs_done', 'engine')}")
    assert run == {"status": "done", "epochs": 40, "epochs_done": 40, "engine": "lab8widgets"}
    assert lab.kernel("[h['epoch'] for h in lab.history]") == list(range(1, 41))
    # the page's last valid point is the kernel's last valid MSE
    mse = lab.kernel("lab.runs[0]['valid_mse']")
    assert f"{mse:.4f}" in page.locator(".lab8-runs").inner_text()
    # biases are shown for the trained model
    lowest = lab.kernel("lab.movie_bias(6, lowest=True).title.tolist()")
    assert lowest[0] in page.locator(".lab8-bias-tables").inner_text()


def test_stop_mid_run_keeps_the_finished_steps(open_lab):
    lab = open_lab("collab")
    page = lab.page
    lab.enter(".lab8-setting-epochs", 500)
    lab.wait_kernel("lab.settings.epochs", 500)
    page.click(".lab8-train")
    lab.wait_kernel("lab.progress", until=lambda v: v > 0.005, timeout=60, every=0.1)
    page.locator(".lab8-stop").click()
    lab.wait_kernel("lab.busy", False, timeout=30)
    run = lab.kernel(
        "{k: lab.runs[-1][k] for k in ('status', 'epochs', 'epochs_done')} | "
        "{'partial': lab.history[-1].get('partial', False), 'n': len(lab.history)}"
    )
    assert run["status"] == "stopped"
    assert 0 < run["epochs_done"] < 500
    # a Stop inside an epoch records the cut epoch as partial; one that lands just as an epoch ends
    # has nothing to cut, and the last entry is that whole epoch (the offline set's epochs are short)
    last_epoch = lab.kernel("lab.history[-1]['epoch']")
    assert run["partial"] is True or float(last_epoch).is_integer(), (run, last_epoch)
    # the model holds the weights of the last finished step: its valid MSE is the one recorded
    assert lab.kernel(
        "abs(__import__('lab8widgets.models.collab', fromlist=['x']).valid_mse("
        "lab.model, lab.data.x[lab.data.valid_idx], lab.data.y[lab.data.valid_idx])"
        " - lab.history[-1]['valid_mse']) < 1e-6"
    )
    assert "stopped" in page.locator(".lab8-runs").inner_text()
    assert not page.locator(".lab8-train").is_disabled()


def test_change_weight_decay_and_train_again(open_lab):
    lab = open_lab("collab")
    page = lab.page
    lab.enter(".lab8-setting-epochs", 3)
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 1 and not lab.busy", True, timeout=60)
    lab.enter(".lab8-setting-wd", 0.02)
    lab.wait_kernel("lab.settings.wd", 0.02)  # exactly what was typed
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 2 and not lab.busy", True, timeout=60)
    assert lab.kernel("[r['wd'] for r in lab.runs]") == [0.1, 0.02]
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 3")
    cells = page.locator(".lab8-runs tr").nth(2).inner_text()
    assert "0.02" in cells
    # both runs' curves are overlaid: two lines (train, valid) per run
    assert len(curve_points(page)) == 4


def test_similar_movies_and_an_unknown_title(open_lab):
    lab = open_lab("collab")
    page = lab.page
    lab.enter(".lab8-setting-epochs", 5)
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 1 and not lab.busy", True, timeout=60)
    title = lab.kernel("lab.movie_bias(1, lowest=False).title[0]")
    box = page.locator(".lab8-similar-input input")
    box.fill(title)
    page.click(".lab8-similar-button")
    page.wait_for_function(
        "() => document.querySelectorAll('.lab8-similar-table tr').length === 6", timeout=15_000
    )
    shown = page.locator(".lab8-similar-table td:nth-child(1)").all_inner_texts()
    want = lab.kernel(f"lab.similar({title!r}, k=5).title.tolist()")
    assert shown == want
    assert title not in shown
    # an unknown title: a message with close matches, the last results stay on screen
    box.fill(title[:-3] + "xyz")
    page.click(".lab8-similar-button")
    page.wait_for_selector(".lab8-error:has-text('Did you mean')", timeout=10_000)
    assert page.locator(".lab8-similar-table td:nth-child(1)").all_inner_texts() == want


def test_compare_with_fastai_trains_fastai_on_the_same_split(open_lab):
    lab = open_lab("collab")
    page = lab.page
    lab.enter(".lab8-setting-epochs", 1)
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 1 and not lab.busy", True, timeout=60)
    page.click(".lab8-compare")
    lab.wait_kernel("len(lab.runs) == 2 and not lab.busy", True, timeout=180, every=0.5)
    run = lab.kernel("{k: lab.runs[-1][k] for k in ('engine', 'model', 'status', 'epochs_done')}")
    assert run == {
        "engine": "fastai",
        "model": "EmbeddingDotBias",
        "status": "done",
        "epochs_done": 1,
    }
    # fastai trained on our split: its validation set is our valid rows
    assert lab.kernel(
        "sorted(lab.fastai_learner.dls.valid.items.index.tolist()) == sorted(lab.data.valid_idx.tolist())"
    )
    # the kernel's state is final; the page follows a message later
    page.wait_for_function(
        "() => document.querySelector('.lab8-runs').innerText.includes('fastai')", timeout=30_000
    )
    assert "fastai" in page.locator(".lab8-runs").inner_text()
    deadline = time.monotonic() + 30
    while len(curve_points(page)) != 4 and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert len(curve_points(page)) == 4


def test_book_ablation_overlay_screenshot(open_lab):
    lab = open_lab("collab")
    page = lab.page
    page.click(".lab8-ablation")
    lab.wait_kernel("len(lab.runs) == 5 and not lab.busy", True, timeout=120, every=0.5)
    labels = lab.kernel("[r['label'] for r in lab.runs]")
    assert labels == ["dot product", "+ y_range", "+ bias", "+ weight decay", "neural net"]
    mse = lab.kernel("[r['valid_mse'] for r in lab.runs]")
    assert mse[1] < mse[0]  # y_range helps the plain dot product, as in the book
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 6")
    assert len(curve_points(page)) == 10
    # train the default model again: the same settings give the same curve as "+ weight decay"
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 6 and not lab.busy", True, timeout=60)
    assert lab.kernel("lab.runs[5]['valid_mse'] == lab.runs[3]['valid_mse']")
    box = page.locator(".lab8-similar-input input")
    box.fill(lab.kernel("str(lab.data.items[int(lab.data.item_counts.argmax())])"))
    page.click(".lab8-similar-button")
    page.wait_for_function("() => document.querySelectorAll('.lab8-similar-table tr').length === 6")
    page.evaluate("window.scrollTo(0, 0)")
    lab.screenshot(DOCS / "collab.png")
    assert (DOCS / "collab.png").stat().st_size > 10_000


CONTROLS = (
    ".lab8-model-kind, .lab8-lab .lab8-settings > *, .lab8-train, .lab8-compare, .lab8-ablation, "
    ".lab8-clear, .lab8-yscale, .lab8-min-ratings, .lab8-similar-input, .lab8-similar-k, "
    ".lab8-similar-button"
)


def boxes(page) -> list:
    return page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel)).map(e => {
              const r = e.getBoundingClientRect();
              return [e.className, Math.round(r.x), Math.round(r.y), Math.round(r.width),
                      Math.round(r.height)];
           })""",
        CONTROLS,
    )


def test_controls_keep_their_place_while_a_run_shows_progress_and_stop(open_lab):
    lab = open_lab("collab")
    page = lab.page
    lab.enter(".lab8-setting-epochs", 300)
    lab.wait_kernel("lab.settings.epochs", 300)
    before = boxes(page)
    assert len(before) >= 12
    page.click(".lab8-train")
    lab.wait_kernel("lab.progress", until=lambda v: v > 0.002, timeout=60, every=0.1)
    page.wait_for_selector(".lab8-stop", state="visible")
    during = boxes(page)
    assert during == before, "a control moved when the progress row appeared"
    page.locator(".lab8-stop").click()
    lab.wait_kernel("lab.busy", False, timeout=30)
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 2")
    assert boxes(page) == before


def test_typed_numbers_are_used_exactly_or_refused_with_the_range(open_lab):
    lab = open_lab("collab")
    page = lab.page
    cases = [
        ("lab8-setting-lr", "100", "lr must be a number in (0, 10], got 100", "0.005"),
        ("lab8-setting-lr", "1e309", "got inf", "0.005"),
        ("lab8-setting-lr", "NaN", "got nan", "0.005"),
        ("lab8-setting-lr", "abc", "got 'abc'", "0.005"),
        ("lab8-setting-wd", "1000", "wd must be a number in [0, 100], got 1000", "0.1"),
        ("lab8-setting-wd", "abc", "got 'abc'", "0.1"),
        (
            "lab8-setting-n_factors",
            "2.5",
            "n_factors must be an integer from 1 to 1000, got 2.5",
            "50",
        ),
        ("lab8-setting-n_factors", "0", "got 0", "50"),
        ("lab8-setting-n_factors", "100000", "got 100000", "50"),
        ("lab8-setting-epochs", "0", "epochs must be an integer from 1 to 1000, got 0", "5"),
    ]
    for cls, typed, says, back in cases:
        lab.refuses(f".{cls}", typed, says, back)
    settings = "(lab.settings.lr, lab.settings.wd, lab.settings.n_factors, lab.settings.epochs)"
    assert lab.kernel(settings) == (0.005, 0.1, 50, 5)  # the last good values
    # a valid value is used exactly, and the banner clears
    lab.enter(".lab8-setting-lr", "0.0031")
    lab.enter(".lab8-setting-epochs", "2")
    lab.wait_kernel("lab.settings.lr", 0.0031)
    assert lab.banner() == ""
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 1 and not lab.busy", True, timeout=60)
    assert lab.kernel("lab.runs[0]['lr']") == 0.0031
    # min ratings beyond every movie: said, not an empty table
    lab.enter(".lab8-min-ratings", "100000")
    page.wait_for_selector(".lab8-error:has-text('more than any movie has')", timeout=10_000)


def test_divergence_is_said_and_the_nan_guard_is_reachable(open_lab):
    lab = open_lab("collab")
    page = lab.page
    # lr 1 on the plain dot product: the loss runs away without ever being NaN
    page.locator(".lab8-setting-y_range input").uncheck()
    page.locator(".lab8-setting-bias input").uncheck()
    lab.enter(".lab8-setting-wd", "0")
    lab.enter(".lab8-setting-lr", "1")
    lab.wait_kernel(
        "(lab.settings.lr, lab.settings.wd, lab.settings.y_range, lab.settings.bias)",
        (1.0, 0.0, False, False),
    )
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 1 and not lab.busy", True, timeout=60)
    page.wait_for_selector(".lab8-error:has-text('grew to')", timeout=10_000)
    assert "diverged" in page.locator(".lab8-runs").inner_text()
    assert lab.kernel("lab.runs[0]['status']") == "diverged"
    # lr 10 with wd 100: the weights overflow within a few steps, the NaN/inf guard stops it
    lab.enter(".lab8-setting-wd", "100")
    lab.enter(".lab8-setting-lr", "10")
    lab.wait_kernel("lab.settings.lr", 10)
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 2 and not lab.busy", True, timeout=60)
    page.wait_for_selector(".lab8-error:has-text('Loss became')", timeout=10_000)
    assert lab.kernel("lab.runs[1]['status']") == "diverged"
    assert lab.kernel("all(bool(p.isfinite().all()) for p in lab.model.parameters())")


def y_ticks(page) -> list[str]:
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.lab8-chart g.axis'))
              .filter(g => g.querySelector('.tick'))
              .map(g => Array.from(g.querySelectorAll('.tick text')).map(t => t.textContent))
              .pop() || []"""
    )


def test_loss_chart_keeps_its_axes_across_scales_and_clearing(open_lab):
    """The harness fails this test on any console error (null paths, translate(0,NaN))."""
    lab = open_lab("collab")
    page = lab.page
    lab.enter(".lab8-setting-epochs", 3)
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 1 and not lab.busy", True, timeout=60)
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 2")
    page.locator(".lab8-yscale button", has_text="linear").click()
    lab.wait_kernel("lab.panel.yscale", "linear")
    page.wait_for_timeout(500)
    ticks = y_ticks(page)
    assert len([t for t in ticks if t.strip()]) >= 3, ticks
    assert not page.evaluate(
        "() => Array.from(document.querySelectorAll('.lab8-chart path')).some("
        "p => (p.getAttribute('d') || '').includes('null') || (p.getAttribute('d') || '').includes('NaN'))"
    )
    page.locator(".lab8-yscale button", has_text="log").click()
    lab.wait_kernel("lab.panel.yscale", "log")
    page.wait_for_timeout(500)
    ticks = [t for t in y_ticks(page) if t.strip()]
    assert len(set(ticks)) >= 2 and set(ticks) != {"0.00"}, ticks
    page.click(".lab8-clear")
    lab.wait_kernel("len(lab.runs)", 0)
    page.wait_for_timeout(500)
    page.locator(".lab8-yscale button", has_text="linear").click()
    page.wait_for_timeout(500)
    assert not page.evaluate(
        "() => Array.from(document.querySelectorAll('.lab8-chart [transform]')).some("
        "e => (e.getAttribute('transform') || '').includes('NaN'))"
    )
