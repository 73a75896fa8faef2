"""Training the small CNN through the labs' one fit loop: history, divergence, Stop, and fastai's
Learner on the same model, data and schedule (the dropout preset: test_cnn_preset.py)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from lab8widgets.models.cnn import (
    HEADS,
    CNNSettings,
    cnn_data,
    evaluate,
    fit_cnn,
    fit_fastai,
    make_cnn,
)


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai_home"))  # the shipped digits
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")


def test_history_and_valid_numbers_are_the_models():
    data = cnn_data("3 vs 7")
    s = CNNSettings(head="stride2", epochs=3)
    model = make_cnn(s)
    events = []
    run = fit_cnn(model, data, s, callback=events.append)
    assert [h["epoch"] for h in run.history] == [1, 2, 3]
    assert {"epoch", "train_loss", "valid_loss", "accuracy"} <= set(run.history[0])
    loss, acc, _ = evaluate(model, data.valid_x, data.valid_y)
    assert run.history[-1]["valid_loss"] == pytest.approx(loss, rel=1e-5)
    assert run.history[-1]["accuracy"] == pytest.approx(acc)
    assert acc > 0.95
    kinds = [e.kind for e in events]
    assert kinds.count("epoch") == 3 and "step" in kinds and kinds[-1] == "done"


def test_diverging_lr_stops_and_keeps_last_good_weights():
    data = cnn_data("3 vs 7")
    s = CNNSettings(head="stride2", epochs=3, lr=10.0)
    model = make_cnn(s)
    start = copy.deepcopy(model.state_dict())
    run = fit_cnn(model, data, s)
    assert run.status == "diverged"
    assert "lr=10 (wd=0.01) is too high" in run.message and "restored" in run.message
    kept = len(run.history)
    for k, v in model.state_dict().items():
        assert torch.isfinite(v).all()
        if kept == 0:
            assert torch.equal(v, start[k])
    assert all(math.isfinite(h["valid_loss"]) for h in run.history)


def test_stop_keeps_the_last_finished_step():
    data = cnn_data("3 vs 7")
    s = CNNSettings(head="stride2", epochs=5, bs=16)
    model = make_cnn(s)
    steps = []

    def stop_after_30():
        return len(steps) >= 30

    run = fit_cnn(model, data, s, callback=lambda e: steps.extend([e] * (e.kind == "step") * 10),
                  should_stop=stop_after_30)  # fmt: skip
    assert run.status == "stopped" and run.history[-1]["partial"]
    assert run.history[-1]["epoch"] < 5
    loss, acc, _ = evaluate(model, data.valid_x, data.valid_y)
    assert run.history[-1]["valid_loss"] == pytest.approx(loss, rel=1e-5)


@pytest.mark.parametrize("head", HEADS)
def test_same_steps_as_fastai_learner(head):
    """One batch per epoch (bs = the training set), so batch order cannot differ: after fastai's
    Learner.fit_one_cycle and ours on copies of one model, the weights and numbers agree."""
    data = cnn_data("3 vs 7", train_size=256)
    s = CNNSettings(head=head, epochs=4, bs=256, lr=1e-2, wd=0.1, dropout=0.0)
    ours_model = make_cnn(s)
    theirs_model = copy.deepcopy(ours_model)
    ours = fit_cnn(ours_model, data, s)
    theirs = fit_fastai(theirs_model, data, s)
    assert ours.steps == theirs.steps == 4
    for (name, p), q in zip(ours_model.state_dict().items(), theirs_model.state_dict().values(),
                            strict=True):  # fmt: skip
        torch.testing.assert_close(p, q, rtol=1e-3, atol=2e-5, msg=name)
    for a, b in zip(ours.history, theirs.history, strict=True):
        assert a["valid_loss"] == pytest.approx(b["valid_loss"], rel=1e-4)
        assert a["accuracy"] == pytest.approx(b["accuracy"])


def test_same_accuracy_as_fastai_learner():
    """A real run (shuffled batches of 64, 5 epochs): the same accuracy within 1.5 points."""
    data = cnn_data("3 vs 7")
    s = CNNSettings(head="stride2", epochs=5)
    ours_model = make_cnn(s)
    theirs_model = copy.deepcopy(ours_model)
    ours = fit_cnn(ours_model, data, s)
    theirs = fit_fastai(theirs_model, data, s)
    a, b = ours.history[-1]["accuracy"], theirs.history[-1]["accuracy"]
    assert a > 0.95 and abs(a - b) <= 0.015, (a, b)  # 200 valid digits: 0.5 points each
    # fastai's recorded valid loss is its model's
    loss, _, _ = evaluate(theirs_model, data.valid_x, data.valid_y)
    assert theirs.history[-1]["valid_loss"] == pytest.approx(loss, rel=1e-4)
