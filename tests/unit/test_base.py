"""The lab base and the heatmap component, driven the way the front end drives them."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from lab8widgets.widgets import HeatmapGrid, LabBase, LabInputError, reject_unknown


def test_unknown_keyword_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="'colour'"):
        LabBase(title="x", colour="red")
    with pytest.raises(TypeError, match=r"'strid'.*expected: padding, stride"):
        reject_unknown("ConvLab", {"strid": 2}, ["stride", "padding"])


def test_guard_turns_bad_input_into_a_banner_and_keeps_working():
    lab = LabBase(title="t")
    with lab.guard():
        raise LabInputError("Kernel values must be finite")
    assert lab.error == "Kernel values must be finite"
    assert 'role="alert"' in lab._banner.value and "finite" in lab._banner.value
    with lab.guard():
        pass
    assert lab.error == "" and lab._banner.value == ""
    with lab.guard():
        raise RuntimeError("boom")
    assert lab.error == "RuntimeError: boom"  # a bug becomes a message, never a traceback


def test_background_task_reports_progress_and_stops():
    lab = LabBase(title="t")
    steps = []
    started = threading.Event()

    def work(task):
        for i in range(1000):
            if task.stopped:
                return "stopped"
            steps.append(i)
            task.report((i + 1) / 1000, f"step {i}")
            started.set()
            time.sleep(0.005)
        return "finished"

    task = lab.run_task(work)
    assert lab.busy and lab._busy_row.layout.visibility == "visible"
    started.wait(5)
    with pytest.raises(LabInputError, match="Still busy"):
        lab.run_task(work)
    lab.stop_button.click()
    assert lab.wait(5)
    assert task.result == "stopped" and 0 < len(steps) < 1000
    assert not lab.busy and lab._busy_row.layout.visibility == "hidden"
    assert 0 < lab.progress < 1


def test_background_task_error_lands_in_banner():
    lab = LabBase(title="t")

    def work(task):
        raise LabInputError("learning rate 10 made the loss infinite")

    lab.run_task(work)
    assert lab.wait(5)
    assert "infinite" in lab.error and not lab.busy


def test_grid_values_roundtrip_as_float32_buffer():
    a = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    g = HeatmapGrid(a)
    assert g.shape == [3, 4] and len(g.data) == 12 * 4
    np.testing.assert_allclose(g.values, a.astype(np.float32))
    with pytest.raises(ValueError, match="2-D"):
        g.values = np.zeros(5)


def test_grid_reports_gestures_from_front_end_messages():
    g = HeatmapGrid(np.zeros((3, 3)), editable=True)
    clicks, edits, draws = [], [], []
    g.on_click(lambda r, c: clicks.append((r, c)))
    g.on_edit(lambda r, c, v, done: edits.append((r, c, v, done)))
    g.on_draw(lambda cells, done: draws.append((cells, done)))
    g._handle_msg(
        {
            "content": {
                "data": {"method": "custom", "content": {"event": "click", "row": 2, "col": 1}}
            },
            "buffers": [],
        }
    )
    for content in (
        {"event": "edit", "row": 0, "col": 1, "value": "abc", "done": True},
        {"event": "draw", "cells": [[1, 1, 1.0]], "done": False},
        {"event": "edit", "row": "x"},  # malformed: ignored, never raised
    ):
        g._handle_msg(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        )
    assert clicks == [(2, 1)] and g.selected == [2, 1]
    assert edits == [(0, 1, "abc", True)]
    assert draws == [([(1, 1, 1.0)], False)]


def test_grid_front_end_state_update_is_accepted():
    """A state update from the front end (as ipywidgets sends it) changes the Python trait."""
    g = HeatmapGrid(np.zeros((2, 2)))
    g._handle_msg({"content": {"data": {"method": "update", "state": {"cell": 30}}}})
    assert g.cell == 30


def test_shipped_front_end_is_the_one_python_loads():
    """The module anywidget loads is the built file in the package (module-relative path)."""
    from lab8widgets.views.heatmap import STATIC

    assert (STATIC / "grid.js").is_file() and (STATIC / "grid.css").is_file()
    assert "lab8-grid" in str(HeatmapGrid._esm)
