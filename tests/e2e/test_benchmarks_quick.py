"""Every script in benchmarks/ runs in its quick mode (tiny sizes, no targets) and ends with its JSON
line, so a change to the labs or the server cannot silently break a benchmark. The figures of a
quick run mean nothing; only that they are there and are numbers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))
KEYS = {
    "_common.py": {"cores"},
    "roundtrip.py": {"serve_p50_ms", "serve_p95_ms", "stock_p50_ms", "ratio"},
    "conv_latency.py": {
        "recompute_p50_ms",
        "drag_kernel_p95_ms",
        "drag_last_stage_p95_ms",
        "stock_drag_last_stage_p95_ms",
    },
    "collab_speed.py": {"ours_s", "ours_mse", "fastai_s", "fastai_mse", "ratio"},
    "cnn_speed.py": {"ours_s", "ours_accuracy", "fastai_s", "fastai_accuracy", "ratio"},
    "explorer_latency.py": {"brush_to_views_p50_ms", "brush_to_views_p95_ms", "n_points"},
    "scatter_latency.py": {"brush_p50_ms", "brush_p95_ms", "hover_p50_ms", "n_points"},
    "entity_speed.py": {"ours_s", "ours_valid_loss", "fastai_s", "fastai_valid_loss", "ratio"},
    "classroom.py": {"kernel_mb", "pss_mb_per_learner"},  # first_widget_p95_s: a dict per round
    "roundtrip_jupyterlab.py": {"jupyterlab_stock_p50_ms", "jupyterlab_nodelay_p50_ms"},
    "feedback_speed.py": {"ours_s", "truth_s", "fastai_s", "ratio"},
}


def test_every_benchmark_is_listed_here():
    assert {p.name for p in SCRIPTS} >= set(KEYS), "a benchmark script went missing"


@pytest.mark.parametrize("script", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_benchmark_quick_mode_ends_with_its_json(script):
    env = dict(os.environ, LAB8WIDGETS_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, str(script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    figures = json.loads(last)
    assert figures.get("quick") is True, last
    want = KEYS.get(script.name, set())
    assert want <= set(figures), f"{script.name} lacks {sorted(want - set(figures))}"
    for key in want:
        value = figures[key]
        assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (key, value)
