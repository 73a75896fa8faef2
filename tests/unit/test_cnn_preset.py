"""The "dropout off vs on" preset, five seeds for every head, through the lab's API (what the button
runs): without dropout the train loss falls to ~0 while the valid loss climbs; with dropout the
climb is smaller AND the valid accuracy is at least as high (issue 20, item 2), for every head,
with dropout where the head's preset puts it (``PRESET_AT``: measured numbers in
``models.cnn.preset``)."""

from __future__ import annotations

import html
import statistics

import pytest

from lab8widgets.models.cnn import HEADS, OVERFIT, PER_CLASS, PRESET_AT, preset_text, preset_where
from lab8widgets.widgets.cnn import CNNLab

SEEDS = range(5)


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
        assert (off["dropout"], on["dropout"], on["dropout_at"]) == (0.0, 0.5, PRESET_AT[head])
        # the two runs differ only in dropout
        same = {k: v for k, v in off.settings.items() if k != "dropout"}
        assert same == {k: v for k, v in on.settings.items() if k != "dropout"}
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
    assert sum(g >= 0 for g in gaps) >= 4, (head, gaps)
    assert statistics.median(gaps) >= 0, (head, gaps)


def test_preset_says_what_it_trains_on_and_where_the_dropout_sits(compared):
    head, lab, pairs = compared
    assert f"{PER_CLASS} digits of each class" in lab.preset.text
    assert lab.compare_button.tooltip == lab.preset.text == preset_text(0.5, head)
    assert f"{OVERFIT['epochs']} epochs" in lab.preset.text
    where = {"head": "before the last linear layer", "conv1": "first conv layer's feature maps"}
    assert where[PRESET_AT[head]] in lab.preset.text and "dropping half" in preset_where("avgpool")
    off, on = pairs[-1]  # the page's note is the last comparison's outcome
    said = lab.panel.message.value
    assert f"{PER_CLASS} digits of each class, {OVERFIT['epochs']} epochs" in said
    assert f"{off['accuracy']:.1%} off, {on['accuracy']:.1%} with dropout 0.5" in said
    assert f"rise {_rise(off):.3f} off, {_rise(on):.3f} with" in said
    assert html.escape(f"For {head} the dropout sits {preset_where(head)}") in said


def test_every_head_has_a_preset_position_and_the_button_follows_the_head():
    assert set(PRESET_AT) == set(HEADS)
    lab = CNNLab()
    assert lab.preset.text == preset_text(0.5, "maxpool")
    lab.controls["head"].value = "concatpool"  # as the page's dropdown does
    assert lab.compare_button.tooltip == preset_text(0.5, "concatpool")
    assert "dropout_at=conv1" in lab.compare_button.tooltip
