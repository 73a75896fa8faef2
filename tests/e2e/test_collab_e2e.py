"""CollabLab in Chromium under ``lab8widgets serve collab`` (offline, so on synthetic ratings):
press the real buttons, type in the real inputs, then check the page *and* the kernel's state."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e
from .harness import SCREENSHOTS as DOCS  # noqa: E402  (build/; `python -m tests.e2e.screens`: docs/)


def wait_kernel(lab, expr: str, ok, timeout: float = 60.0, every: float = 0.2):
    """Poll ``expr`` in the kernel until ``ok(value)``; return the value."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = lab.kernel(expr)
        if ok(got):
            return got
        time.sleep(every)
    raise AssertionError(f"{expr} = {got!r} did not satisfy the condition in {timeout}s")


def set_number(page, cls: str, value) -> None:
    """Type into an ipywidgets number box and commit it (Enter), as a learner would."""
    box = page.locator(f".{cls} input")
    box.fill(str(value))
    box.press("Enter")


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
    set_number(page, "lab8-epochs", 40)
    wait_kernel(lab, "lab.controls['epochs'].value", lambda v: v == 40)

    page.click(".lab8-train")
    wait_kernel(lab, "lab.busy", lambda v: v is True, timeout=20, every=0.05)
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
    wait_kernel(lab, "lab.busy", lambda v: v is False, timeout=120)
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
    set_number(page, "lab8-epochs", 500)
    wait_kernel(lab, "lab.controls['epochs'].value", lambda v: v == 500)
    page.click(".lab8-train")
    wait_kernel(lab, "lab.progress", lambda v: v > 0.005, timeout=60, every=0.1)
    page.locator(".lab8-stop").click()
    wait_kernel(lab, "lab.busy", lambda v: v is False, timeout=30)
    run = lab.kernel(
        "{k: lab.runs[-1][k] for k in ('status', 'epochs', 'epochs_done')} | "
        "{'partial': lab.history[-1].get('partial', False), 'n': len(lab.history)}"
    )
    assert run["status"] == "stopped"
    assert 0 < run["epochs_done"] < 500
    assert run["partial"] is True
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
    set_number(page, "lab8-epochs", 3)
    page.click(".lab8-train")
    wait_kernel(lab, "len(lab.runs) == 1 and not lab.busy", bool, timeout=60)
    set_number(page, "lab8-wd", 0.02)
    wait_kernel(lab, "lab.controls['wd'].value", lambda v: abs(v - 0.02) < 1e-12)
    page.click(".lab8-train")
    wait_kernel(lab, "len(lab.runs) == 2 and not lab.busy", bool, timeout=60)
    assert lab.kernel("[r['wd'] for r in lab.runs]") == [0.1, 0.02]
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 3")
    cells = page.locator(".lab8-runs tr").nth(2).inner_text()
    assert "0.02" in cells
    # both runs' curves are overlaid: two lines (train, valid) per run
    assert len(curve_points(page)) == 4


def test_similar_movies_and_an_unknown_title(open_lab):
    lab = open_lab("collab")
    page = lab.page
    set_number(page, "lab8-epochs", 5)
    page.click(".lab8-train")
    wait_kernel(lab, "len(lab.runs) == 1 and not lab.busy", bool, timeout=60)
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
    set_number(page, "lab8-epochs", 1)
    page.click(".lab8-train")
    wait_kernel(lab, "len(lab.runs) == 1 and not lab.busy", bool, timeout=60)
    page.click(".lab8-compare")
    wait_kernel(lab, "len(lab.runs) == 2 and not lab.busy", bool, timeout=180, every=0.5)
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
    assert "fastai" in page.locator(".lab8-runs").inner_text()
    assert len(curve_points(page)) == 4


def test_book_ablation_overlay_screenshot(open_lab):
    lab = open_lab("collab")
    page = lab.page
    page.click(".lab8-ablation")
    wait_kernel(lab, "len(lab.runs) == 5 and not lab.busy", bool, timeout=120, every=0.5)
    labels = lab.kernel("[r['label'] for r in lab.runs]")
    assert labels == ["dot product", "+ y_range", "+ bias", "+ weight decay", "neural net"]
    mse = lab.kernel("[r['valid_mse'] for r in lab.runs]")
    assert mse[1] < mse[0]  # y_range helps the plain dot product, as in the book
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 6")
    assert len(curve_points(page)) == 10
    # train the default model again: the same settings give the same curve as "+ weight decay"
    page.click(".lab8-train")
    wait_kernel(lab, "len(lab.runs) == 6 and not lab.busy", bool, timeout=60)
    assert lab.kernel("lab.runs[5]['valid_mse'] == lab.runs[3]['valid_mse']")
    box = page.locator(".lab8-similar-input input")
    box.fill(lab.kernel("str(lab.data.items[int(lab.data.item_counts.argmax())])"))
    page.click(".lab8-similar-button")
    page.wait_for_function("() => document.querySelectorAll('.lab8-similar-table tr').length === 6")
    page.evaluate("window.scrollTo(0, 0)")
    lab.screenshot(DOCS / "collab.png")
    assert (DOCS / "collab.png").stat().st_size > 10_000
