"""TrainingPanel outside a kernel: form from a settings dataclass, buttons, streaming curves from
TrainEvents, overlaid runs, a chart whose axes always have a finite domain, and the runs table."""

from __future__ import annotations

import math

import bqplot as bq
import ipywidgets as W
import numpy as np
import pytest
import traitlets

from lab8widgets.models.train import FitSettings, TrainEvent
from lab8widgets.views.controls import NumberField
from lab8widgets.views.ticks import log_ticks
from lab8widgets.views.training import COLORS, Column, TrainingPanel, runs_table_html


def step(epoch, loss):
    return TrainEvent("step", epoch=epoch, train_loss=loss, step=1, total=10)


def epoch(e, train, valid, **metrics):
    return TrainEvent(
        "epoch", epoch=e, train_loss=train, valid_loss=valid, window_loss=train, metrics=metrics
    )


def domain(panel):
    y = panel.y_scale
    return y.min, y.max


def finite_domain(panel):
    lo, hi = domain(panel)
    assert lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi)
    assert lo < hi
    if isinstance(panel.y_scale, bq.LogScale):
        assert lo > 0
    return lo, hi


def test_form_comes_from_the_settings_dataclass_and_train_calls_back():
    pressed, errors = [], []
    panel = TrainingPanel(
        FitSettings, on_train=lambda: pressed.append(panel.settings()), on_error=errors.append
    )
    assert set(panel.form.controls) == {"epochs", "lr", "wd", "bs"}
    assert tuple(panel.form.controls["bs"].options) == FitSettings.spec("bs").choices
    lr = panel.form.controls["lr"]
    assert isinstance(lr, NumberField)
    lr.value = "100"
    assert errors[-1] == "lr must be a number in (0, 10], got 100" and lr.value == "0.005"
    lr.value = "0.0031"
    panel.train_button.click()
    assert pressed[-1] == FitSettings(lr=0.0031)


def test_busy_disables_buttons_and_the_progress_row_is_reserved():
    extra = W.Button(description="Other")
    stops = []
    panel = TrainingPanel(FitSettings, buttons=[extra], on_stop=lambda: stops.append(1))
    assert panel.progress_row in panel.settings_box.children
    before = list(panel.settings_box.children)
    assert panel.progress_row.layout.visibility == "hidden"
    panel.busy, panel.progress, panel.status = True, 0.4, "epoch 2"
    assert list(panel.settings_box.children) == before  # nothing appears or moves
    assert panel.progress_row.layout.visibility == "visible"
    assert all(b.disabled for b in (panel.train_button, extra, panel.clear_button))
    panel.stop_button.click()
    assert stops == [1]
    panel.busy = False
    assert not panel.train_button.disabled and panel.progress_row.layout.visibility == "hidden"
    lab_owned = TrainingPanel(FitSettings, progress=False)
    assert lab_owned.progress_row not in lab_owned.settings_box.children


def test_events_stream_into_one_pair_of_curves_per_run():
    panel = TrainingPanel(FitSettings)
    assert finite_domain(panel)  # an empty chart still has a domain
    c1 = panel.add_run("a", "#1", epochs=2)
    c2 = panel.add_run("b", "#2")
    assert (c1, c2) == COLORS[:2] and len(panel.chart.marks) == 4
    train, valid = panel.chart.marks[:2]
    assert train.colors == [c1] and train.line_style == "dashed"
    for ev in (step(0.5, 2.0), epoch(1, 1.5, 1.2), step(1.5, 1.0), epoch(2, 0.9, 1.1)):
        panel.on_event("a", ev)
    np.testing.assert_allclose(train.x, [0.5, 1, 1.5, 2])
    np.testing.assert_allclose(train.y, [2.0, 1.5, 1.0, 0.9])
    np.testing.assert_allclose(valid.y, [1.2, 1.1])
    lo, hi = finite_domain(panel)
    assert lo < 0.9 and hi > 2.0
    assert panel.chart.axes[0].scale.max == 2.0
    panel.on_event("missing", step(1, 1))  # an unknown run is ignored


def test_non_finite_points_never_reach_the_chart_and_a_history_trims_a_diverged_run():
    panel = TrainingPanel(FitSettings)
    panel.add_run(1, "#1")
    for ev in (epoch(1, 1.0, 0.8), step(1.5, float("inf")), epoch(2, float("nan"), float("inf"))):
        panel.on_event(1, ev)
    train, valid = panel.chart.marks
    assert np.isfinite(train.y).all() and np.isfinite(valid.y).all()
    assert list(valid.y) == [0.8]
    finite_domain(panel)
    panel.end_run(1, history=[dict(epoch=1, valid_loss=0.8)])
    assert list(train.x) == [1.0] and list(valid.x) == [1.0]


def test_switching_scales_and_clearing_keep_finite_axes():
    panel = TrainingPanel(FitSettings)
    panel.add_run(1, "#1")
    for ev in (epoch(1, 600000.0, 500000.0), epoch(2, 3.0, 2.0)):
        panel.on_event(1, ev)
    log_lo, log_hi = finite_domain(panel)
    assert log_hi > 500000 and log_lo < 2.0  # large values stay inside the axis
    panel.yscale = "linear"
    assert isinstance(panel.y_scale, bq.LinearScale)
    assert panel.chart.axes[1].scale is panel.y_scale
    assert all(m.scales["y"] is panel.y_scale for m in panel.chart.marks)
    lo, hi = finite_domain(panel)
    assert lo == 0.0 and hi > 500000
    panel.yscale = "log"  # back to log: the same finite, positive domain as before
    assert domain(panel) == (log_lo, log_hi)
    panel.clear()
    assert panel.visible_marks == [] and "No runs yet" in panel.runs_html.value
    assert all(len(m.y) == 0 for m in panel.chart.marks)
    finite_domain(panel)
    panel.yscale = "linear"
    assert finite_domain(panel) == (0.0, 1.0)
    assert panel.chart.axes[1].tick_format == ".3g"  # 500000 reads "5.00e+5", not 500000.00


def test_log_axis_drops_points_at_or_below_zero():
    panel = TrainingPanel(FitSettings)
    panel.add_run(1, "#1")
    panel.on_event(1, epoch(1, 0.0, -1.0))
    panel.on_event(1, epoch(2, 0.5, 0.4))
    train, valid = panel.chart.marks
    assert list(valid.y) == [0.4] and list(train.y) == [0.5]
    panel.yscale = "linear"
    assert list(valid.y) == [-1.0, 0.4]
    lo, _ = finite_domain(panel)
    assert lo < -1.0


def test_runs_table_has_no_lesson_knowledge():
    cols = [
        Column("color", ""),
        Column("run", "#"),
        Column("accuracy", "accuracy", lambda v: f"{v:.1%}"),
        Column("note", "note"),
    ]
    panel = TrainingPanel(FitSettings, columns=cols)
    assert "No runs yet" in panel.runs_html.value
    rows = [
        dict(color="#1f77b4", run=1, accuracy=0.91, note="<b>x</b>"),
        dict(color="#ff7f0e", run=2, accuracy=0.95, note="ok"),
    ]
    panel.show_runs(rows, best=1)
    html = panel.runs_html.value
    assert "91.0%" in html and "95.0%" in html and "&lt;b&gt;x&lt;/b&gt;" in html
    assert html.count('class="best"') == 1 and "background:#ff7f0e" in html
    assert runs_table_html(rows, cols).count("<tr") == 3


@pytest.mark.parametrize("bad", ["sqrt", "", None])
def test_yscale_is_log_or_linear(bad):
    panel = TrainingPanel(FitSettings)
    with pytest.raises(traitlets.TraitError):
        panel.yscale = bad
    assert panel.yscale == "log"


def test_cleared_lines_are_reused_for_the_next_runs():
    panel = TrainingPanel(FitSettings)
    panel.add_run(1, "#1")
    panel.on_event(1, epoch(1, 1.0, 0.9))
    first = list(panel.chart.marks)
    panel.clear()
    assert panel.visible_marks == [] and len(panel.chart.marks) == 2
    color = panel.add_run(2, "#2", color="#abcdef")
    assert panel.chart.marks == first and panel.visible_marks == first
    assert first[0].colors == [color] and first[1].labels == ["#2 valid"] and len(first[1].y) == 0
    panel.add_run(3, "#3")
    assert len(panel.chart.marks) == 4 and len(panel.visible_marks) == 4


def test_log_axis_ticks_are_few_round_and_apart():
    """After several runs of close losses (0.75–1.25) d3's own log ticks piled up as
    1.00/0.900/0.800…; the axis gets a few round values, each a sixth of the axis apart."""
    panel = TrainingPanel(FitSettings)
    for i, (train, valid) in enumerate([(1.2, 0.95), (0.8, 0.9), (0.76, 0.88), (1.1, 1.0)]):
        key = f"run{i}"
        panel.add_run(key, f"#{i}", epochs=1)
        panel.on_event(key, epoch(1, train, valid))
    panel.draw("run3", force=True)
    lo, hi = finite_domain(panel)
    ticks = list(panel.chart.axes[1].tick_values)
    assert ticks == log_ticks(lo, hi) and 2 <= len(ticks) <= 6
    assert all(lo <= t <= hi for t in ticks)
    assert all(float(f"{t:.2g}") == t for t in ticks)  # round numbers, not 0.722
    span = math.log10(hi / lo)
    assert all(
        math.log10(b / a) >= span / 6 - 1e-12 for a, b in zip(ticks[:-1], ticks[1:], strict=True)
    )
    panel.yscale = "linear"  # a linear axis lets bqplot choose its ticks
    assert len(panel.chart.axes[1].tick_values) == 0
    assert log_ticks(0.7, 0.95) == [0.7, 0.8, 0.9] and log_ticks(0.01, 10)[0] == 0.01
