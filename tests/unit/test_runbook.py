"""RunBook on a TrainingPanel with a tiny torch model (no lab): numbered, coloured, overlaid runs,
the best run, and the one divergence policy every lab shares."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab8widgets.models.train import FitSettings, Run, RunRecord, fit, snapshot
from lab8widgets.views.training import COLORS, Column, RunBook, TrainingPanel, best_run


def data(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]]) + 0.1 * torch.randn(n, 1, generator=g)
    return (x[:192], y[:192]), (x[192:], y[192:])


def tiny(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))


def book(**kw):
    panel = TrainingPanel(FitSettings, columns=[Column("run", "#"), Column("status", "status")])
    return RunBook(panel, **kw)


def train(b: RunBook, model, lr, epochs=3, label="", on_event=None):
    train_d, valid_d = data()
    s = FitSettings(epochs=epochs, lr=lr, wd=0.0, bs=32)
    rec = b.start(label, settings=s.asdict(), model="tiny")
    events = []

    def cb(ev):
        events.append(ev)
        b.event(rec, ev, on_event)

    run = fit(model, F.mse_loss, train_d, valid_d, s, optimizer="dense", callback=cb)
    return b.finish(rec, run), events


def hand_run(status, losses, message=""):
    hist = [dict(epoch=i + 1, train_loss=v, valid_loss=v) for i, v in enumerate(losses)]
    return Run(history=hist, status=status, message=message or status, seconds=1.0, steps=3)


def test_runs_are_numbered_coloured_overlaid_and_tabled():
    b = book()
    reports = []
    r1, events = train(b, tiny(), 1e-2, label="first", on_event=lambda f, t: reports.append((f, t)))
    r2, _ = train(b, tiny(1), 3e-2)
    assert [r.run for r in b.runs] == [1, 2]
    assert [r.color for r in b.runs] == list(COLORS[:2])
    assert isinstance(r1, RunRecord) and r1.status == "done" and r1.label == "first"
    assert r1.settings["lr"] == 1e-2 and r1["lr"] == 1e-2 and r1["model"] == "tiny"
    # the record's numbers are the fit's own: the last epoch's valid loss, whole epochs
    last = [e for e in events if e.kind == "epoch"][-1]
    assert r1.valid_loss == pytest.approx(last.valid_loss) and r1["valid_loss"] == r1.valid_loss
    assert r1.epochs_done == 3 and isinstance(r1.epochs_done, int)
    assert {**r1}["status"] == "done" and "history" in dict(r1)
    # both runs overlay on one chart, each curve in its run's colour, ending at its last epoch
    shown = b.panel.visible_marks
    assert len(shown) == 4
    assert [m.colors[0] for m in shown] == [COLORS[0]] * 2 + [COLORS[1]] * 2
    assert float(shown[1].x[-1]) == 3.0 and float(shown[1].y[-1]) == pytest.approx(r1.valid_loss)
    # progress: fraction and a line of text per step/epoch
    assert reports and reports[-1][0] == pytest.approx(1.0) and "run #1" in reports[-1][1]
    # the table lists both, the best marked
    assert b.panel.runs_html.value.count("<tr") == 3
    assert b.best is min(b.runs, key=lambda r: r.valid_loss)
    assert b.panel.best_row == b.best_index
    assert "Run #2" in b.panel.message.value
    frame = b.frame(["run", "status", "lr", "valid_loss"])
    assert frame["run"].tolist() == [1, 2] and frame["lr"].tolist() == [1e-2, 3e-2]


def test_clear_forgets_runs_and_numbering_restarts():
    b = book()
    train(b, tiny(), 1e-2, epochs=1)
    b.clear()
    assert b.runs == [] and b.best is None and b.panel.best_row == -1
    assert b.panel.visible_marks == []
    rec = b.start("again")
    assert rec.run == 1 and rec.color == COLORS[0]


def test_divergence_policy_stop_mark_restore_banner_warn_return():
    """The one policy: the run stops, is marked "diverged", the last good weights come back,
    the banner says so, the Python call warns and returns the run."""
    banner = []
    b = book(on_diverged=banner.append)
    model = tiny()
    good = snapshot(model)  # a model that diverges in its first epoch keeps its starting weights
    rec, events = train(b, model, 10.0, epochs=4)
    assert rec.status == "diverged" and rec.diverged
    assert events[-1].kind == "diverged"
    assert all(e.kind != "done" for e in events)  # it stopped
    for k, v in model.state_dict().items():
        assert torch.equal(v, good[k]), k
    assert banner == [rec.message] and "too high" in rec.message
    assert "Run #1" in b.panel.message.value and "too high" in b.panel.message.value
    with pytest.warns(RuntimeWarning, match="too high"):
        back = RunBook.outcome(rec)
    assert back is rec
    assert b.best is None  # nothing that diverged is best


def test_a_finished_run_does_not_warn_and_a_list_warns_per_diverged():
    b = book()
    ok = b.finish(b.start(), hand_run("done", [0.5]))
    bad = b.finish(b.start(), hand_run("diverged", [0.4], "lr too high"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert RunBook.outcome(ok) is ok
    with pytest.warns(RuntimeWarning) as caught:
        assert RunBook.outcome([ok, bad]) == [ok, bad]
    assert [str(w.message) for w in caught] == ["lr too high"]


def test_a_diverged_run_with_a_lower_loss_is_never_best():
    """Issue 24 item 7: the diverged run's kept epochs end lower than the good run's."""
    b = book(score="valid_loss")
    b.finish(b.start("good"), hand_run("done", [0.9, 0.6]))
    b.finish(b.start("diverged"), hand_run("diverged", [0.5, 0.1]))
    b.finish(b.start("stopped"), hand_run("stopped", [0.8, 0.7]))
    assert [r.value for r in b.runs] == [0.6, 0.1, 0.7]
    assert b.best_index == 0 and b.best.label == "good"
    assert b.panel.best_row == 0
    rows = b.panel.runs_html.value.split("<tr")
    assert 'class="best"' in rows[2] and 'class="best"' not in rows[3]
    assert best_run(b.runs) == 0


def test_score_names_the_ranking_metric():
    b = book(score="valid_mse", score_label="valid MSE")
    r1 = b.start()
    run = hand_run("done", [0.1])
    run.history[0]["valid_mse"] = 0.9
    b.finish(r1, run)
    run2 = hand_run("done", [0.5])
    run2.history[0]["valid_mse"] = 0.3
    b.finish(b.start(), run2)
    assert b.best.run == 2 and b.runs[0]["valid_mse"] == 0.9
    assert "Valid MSE 0.3000" in b.panel.message.value


def test_a_record_refuses_an_unknown_status():
    with pytest.raises(ValueError, match="status must be one of"):
        RunRecord(run=1, status="exploded")
    rec = RunRecord(run=1)
    assert math.isnan(rec.value) and rec.epochs_done == 0
    with pytest.raises(ValueError, match="done, stopped or diverged"):
        rec.finish(Run(status="running"))
