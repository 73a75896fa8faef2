"""The "dropout off vs on" preset, five seeds for every head, through the lab's API (what the button
runs): without dropout the train loss falls to ~0 while the valid loss climbs; with dropout the
climb is smaller, and for the flatten heads (maxpool, stride2) the valid accuracy is at least as
high. For the global-pool heads (avgpool, concatpool) the accuracy half does not hold yet with
this preset (measured numbers in the module docstring of ``models.cnn.preset``)."""

from __future__ import annotations

import statistics

import pytest

from lab8widgets.models.cnn import HEADS, OVERFIT, PER_CLASS, preset_text
from lab8widgets.widgets.cnn import CNNLab

SEEDS = range(5)
FLATTEN_HEADS = ("maxpool", "stride2")  # the heads whose last layer sees every position


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai_home"))  # the shipped digits
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")


def _rise(run: dict) -> float:
    """How far the valid loss climbed from its lowest epoch to the last."""
    losses = [h["valid_loss"] for h in run["history"]]
    return losses[-1] - min(losses)


@pytest.fixture(scope="module", params=HEADS)
def compared(request):
    """Each head's five comparisons through the lab's API."""
    lab = CNNLab(head=request.param)
    return request.param, lab, [lab.compare_dropout(p=0.5, seed=s) for s in SEEDS]


def test_without_dropout_it_memorises_with_dropout_the_valid_loss_rises_less(compared):
    head, lab, pairs = compared
    for off, on in pairs:
        assert off["status"] == on["status"] == "done" and off["head"] == on["head"] == head
        assert (off["dropout"], on["dropout"], on["dropout_at"]) == (0.0, 0.5, "head")
        assert off["train_n"] == on["train_n"] == 10 * PER_CLASS
        # without dropout the model memorises its digits: train loss ~0 while valid loss rises
        first, last = off["history"][0], off["history"][-1]
        assert last["train_loss"] < 0.1 * first["train_loss"] and _rise(off) > 0
    off_rises = [_rise(off) for off, _ in pairs]
    on_rises = [_rise(on) for _, on in pairs]
    assert sum(a < b for a, b in zip(on_rises, off_rises, strict=True)) >= 4, (off_rises, on_rises)
    assert statistics.mean(on_rises) < 0.75 * statistics.mean(off_rises)
    # every run's curves are on the chart, labelled, and the page says which data it trained on
    assert len(lab.runs) == 2 * len(SEEDS)
    assert len(lab.panel.visible_marks) == 2 * len(lab.runs)
    assert [r["label"] for r in lab.runs[:2]] == ["dropout off", "dropout 0.5"]
    n_train = f"{10 * PER_CLASS} train / 1,000 valid images of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"
    assert n_train in lab.source


def test_with_dropout_the_valid_accuracy_is_at_least_as_high(compared):
    head, _lab, pairs = compared
    gaps = [on["accuracy"] - off["accuracy"] for off, on in pairs]
    if head in FLATTEN_HEADS:
        assert sum(g >= 0 for g in gaps) >= 4, gaps
        assert statistics.median(gaps) >= 0, gaps
    else:  # the known shortfall, asserted so that a change to it is noticed and reported
        assert sum(g >= 0 for g in gaps) < 4, gaps


def test_preset_says_what_it_trains_on(compared):
    _head, lab, pairs = compared
    assert f"{PER_CLASS} digits of each class" in lab.preset.text
    assert lab.compare_button.tooltip == lab.preset.text == preset_text(0.5)
    assert f"{OVERFIT['epochs']} epochs" in lab.preset.text
    off, on = pairs[-1]  # the page's note is the last comparison's outcome
    said = lab.panel.message.value
    assert f"{PER_CLASS} digits of each class, {OVERFIT['epochs']} epochs" in said
    assert f"{off['accuracy']:.1%} off, {on['accuracy']:.1%} with dropout 0.5" in said
    assert f"rise {_rise(off):.3f} off, {_rise(on):.3f} with" in said
