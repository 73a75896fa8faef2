"""The lab base and the heatmap component, driven the way the front end drives them."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from lab8widgets.widgets import HeatmapGrid, LabBase, LabInputError, reject_unknown
from lab8widgets.widgets._base import STYLESHEET


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
    assert 'role="alert"' in lab.banner.value and "finite" in lab.banner.value
    with lab.guard():
        pass
    assert lab.error == "" and lab.banner.value == ""
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
    assert lab.busy and lab.busy_row.layout.visibility == "visible"
    started.wait(5)
    with pytest.raises(LabInputError, match="Still busy"):
        lab.run_task(work)
    lab.stop_button.click()
    assert lab.wait(5)
    assert task.result == "stopped" and 0 < len(steps) < 1000
    assert not lab.busy and lab.busy_row.layout.visibility == "hidden"
    assert 0 < lab.progress < 1
    # the row is fixed-width: a long status is cut on screen, so the whole text is its tooltip
    status = lab.busy_row.children[-1]
    assert status.value == lab.status and status.tooltip == lab.status


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


EXIT_SCRIPT = """
import sys, torch
from lab8widgets.widgets import LabBase

lab = LabBase(title="t")
log = open(sys.argv[1], "w")

def work(task):
    x = torch.randn(256, 256)
    n = 0
    while not task.stopped:
        x = torch.tanh(x @ x.T / 256)   # torch work in flight when the interpreter exits
        n += 1
    log.write(f"stopped after {n} steps"); log.flush()
    return n

lab.run_task(work)
import time; time.sleep(0.3)
print("exiting while the task runs", lab.busy, flush=True)
"""


def test_interpreter_exit_stops_a_running_task_cleanly(tmp_path):
    """A script that ends while a lab's background task runs torch must exit 0, not abort with
    "terminate called without an active exception" (code 134): the task is stopped and joined."""
    marker = tmp_path / "task.log"
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT, str(marker)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "exiting while the task runs True" in done.stdout
    assert "terminate called" not in done.stderr
    assert marker.read_text().startswith("stopped after"), "the task was not asked to stop"


def test_no_empty_band_under_the_header():
    """The busy row shares the title's line (placed there by lab8.css), so only the banner's one
    reserved row lies between the header and the body; the busy row's width is fixed, so showing
    it or changing its text never moves the title or the views."""
    lab = LabBase(title="t")
    assert [type(c).__name__ for c in lab.children] == [
        "HTML",
        "SectionRouter",
        "HBox",
        "HTML",
        "VBox",
    ]
    header, busy = lab.header_row.children

    def classes(w):
        return w.get_state()["_dom_classes"]

    assert "lab8-header" in classes(header) and "lab8-busy" in classes(busy)
    assert list(classes(lab.children[3])) == ["lab8-error"] and lab.children[4] is lab.body
    assert busy.layout.width == "360px" and busy.layout.visibility == "hidden"
    lab.busy = True
    assert busy.layout.visibility == "visible" and busy.layout.display is None
    css = STYLESHEET.read_text(encoding="utf-8")
    assert ".lab8-header-row > .lab8-busy { position: absolute" in css
