"""CNNLab in Chromium under ``lab8widgets serve cnn`` (offline: the shipped MNIST digits): press the
real buttons, pick and type in the real controls, then check the page *and* the kernel's state."""

from __future__ import annotations

import pytest

from .harness import SCREENSHOTS as DOCS  # build/; `python -m tests.e2e.screens`: docs/
from .test_layout_e2e import measure  # the layout suite's one overflow check

pytestmark = pytest.mark.e2e


def pick(page, name: str, value: str) -> None:
    page.locator(f".lab8-setting-{name} select").select_option(value)


def table_rows(page) -> list[list[str]]:
    """The runs table as text cells, header row left out."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('.lab8-runs tr')).slice(1)
              .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()))"""
    )


def test_train_stop_and_the_runs_table_agrees_with_history(open_lab):
    lab = open_lab("cnn")
    page = lab.page
    assert "shipped with lab8widgets" in page.locator(".lab8-source").inner_text()
    lab.enter(".lab8-setting-epochs", 300)
    lab.wait_kernel("lab.settings.epochs", 300)
    page.click(".lab8-train")
    lab.wait_kernel("lab.busy", True, timeout=20, every=0.05)
    # the valid curve streams in while the run goes on
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.lab8-chart path.line'))
              .some(p => ((p.getAttribute('d') || '').match(/L/g) || []).length >= 2)""",
        timeout=60_000,
    )
    assert lab.kernel("lab.busy") is True, "the run ended before Stop could be pressed"
    page.locator(".lab8-stop").click()
    lab.wait_kernel("lab.busy", False, timeout=30)
    page.wait_for_function("() => document.querySelectorAll('.lab8-runs tr').length === 2")
    run = lab.kernel(
        "{k: lab.runs[-1][k] for k in ('status', 'epochs', 'epochs_done')} | "
        "{'same': lab.runs[-1]['history'] == lab.history, 'last': lab.history[-1]}"
    )
    assert run["status"] == "stopped" and run["same"] is True
    assert 0 < run["epochs_done"] < 300 and run["last"]["epoch"] == run["epochs_done"]
    # the row on the page is lab.history's last entry
    (row,) = table_rows(page)
    last = run["last"]
    assert f"{run['epochs_done']:.2f}/300" in row
    assert f"{last['valid_loss']:.4f}" in row and f"{last['train_loss']:.4f}" in row
    assert f"{last['accuracy']:.1%}" in row and "stopped" in row
    # the model holds the last finished step: its valid loss is the one recorded
    assert lab.kernel(
        "abs(__import__('lab8widgets.models.cnn', fromlist=['x']).evaluate(lab.model, "
        "lab.data.valid_x, lab.data.valid_y)[0] - lab.history[-1]['valid_loss']) < 1e-5"
    )
    assert not page.locator(".lab8-train").is_disabled()


def test_pick_head_bad_dropout_then_train_shows_misclassified(open_lab):
    lab = open_lab("cnn")
    page = lab.page
    pick(page, "head", "concatpool")
    pick(page, "activation", "mish")
    lab.enter(".lab8-setting-dropout", 1)
    page.wait_for_function(
        "() => document.querySelector('.lab8-error').innerText.includes('dropout must be')"
    )
    assert "got 1" in lab.banner()
    lab.enter(".lab8-setting-dropout", 0.25)
    lab.enter(".lab8-setting-epochs", 3)
    settings = "(lab.settings.head, lab.settings.dropout, lab.settings.epochs)"
    lab.wait_kernel(settings, ("concatpool", 0.25, 3))
    assert lab.banner() == ""
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.runs) == 1 and not lab.busy", True, timeout=90)
    assert lab.kernel("type(lab.model.pool).__name__") == "AdaptiveConcatPool2d"
    assert lab.kernel("type(lab.model.act1).__name__") == "Mish"
    shown = min(lab.kernel("len(lab.misclassified)"), 24)
    page.wait_for_function(
        "(n) => document.querySelectorAll('.lab8-misclassified img').length === n", arg=shown
    )
    acc = lab.kernel("lab.accuracy")
    assert f"{acc:.1%}" in page.locator(".lab8-cnn-model").inner_text()
    lab.screenshot(DOCS / "cnn.png")
    # after Train, in JupyterLab's ~850 px column and on a Voila page: the chart keeps its last
    # epoch and title, the runs table keeps accuracy and status, nothing overflows its box
    for width in (850, 1280):
        problems = measure(page, width)
        lab.screenshot(DOCS / f"cnn-trained-{width}.png")
        assert not problems, f"CNNLab at {width} px:\n" + "\n".join(problems)
        ticks = page.evaluate(
            "() => [...document.querySelectorAll('.lab8-chart .axis text')]"
            ".map(t => t.textContent.trim())"
        )
        assert "3" in ticks, ticks  # the x axis reaches the last epoch
        header = page.locator(".lab8-runs th").all_inner_texts()
        assert "accuracy" in header and "status" in header
        for sel in (".lab8-chart", ".lab8-runs"):
            box = page.locator(sel).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (sel, box, width)


def test_dropout_off_vs_on_preset_overlays_two_runs(open_lab):
    lab = open_lab("cnn")
    page = lab.page
    page.click(".lab8-dropout-compare")
    lab.wait_kernel("len(lab.runs) == 2 and not lab.busy", True, timeout=300)
    rows = table_rows(page)
    assert [r[1] for r in rows] == ["1 dropout off", "2 dropout 0.5"]
    assert "off" in rows[0] and "0.5 at head" in rows[1]
    page.wait_for_function("() => document.querySelectorAll('.lab8-chart path.line').length === 4")
    runs = lab.kernel(
        "[(r['accuracy'], r['history'][-1]['valid_loss'] - min(h['valid_loss'] "
        "for h in r['history'])) for r in lab.runs]"
    )
    (acc_off, rise_off), (acc_on, rise_on) = runs
    assert rise_off > 0.05 and rise_on < rise_off and acc_on >= acc_off
    # the page says what the preset trained on and what came out
    said = page.locator(".lab8-message").inner_text()
    assert "10 digits of each class" in said and f"{acc_on:.1%} with dropout" in said
