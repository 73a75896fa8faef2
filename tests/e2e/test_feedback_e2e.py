"""FeedbackLab in Chromium under ``lab8widgets serve feedback`` (offline, so on the labelled
synthetic ratings): set a small group, press Run, then check the page's charts and runs table
*and* the kernel's ``lab.history``; brush the rounds and check both sides again."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e
from .harness import SCREENSHOTS  # noqa: E402  (build/; `python -m tests.e2e.screens`: docs/)

SHARE = ".lab8-feedback-group-share"


def test_run_streams_rounds_and_brushing_selects_them(open_lab):
    lab = open_lab("feedback")
    page = lab.page
    assert "synthetic" in page.locator(".lab8-source").inner_text().lower()
    lab.enter(".lab8-setting-group_size", 10)
    lab.wait_kernel("lab.settings.group_size", 10)
    lab.enter(".lab8-feedback-nrounds", 3)
    page.click(".lab8-feedback-run")
    lab.wait_kernel("lab.busy", False, timeout=120, every=0.2)
    lab.wait_kernel("len(lab.runs)", 1)
    history = lab.kernel(
        "[(h['round'], h['group_share'], h['coverage'], h['gini']) for h in lab.history]"
    )
    assert [h[0] for h in history] == [0, 1, 2, 3]
    # the share chart draws one point per round, and the runs table the kernel's final share
    page.wait_for_function(
        "(s) => document.querySelectorAll(s + ' .object_grp').length === 4",
        arg=SHARE,
        timeout=60_000,
    )
    page.wait_for_function(
        "(t) => document.querySelector('.lab8-feedback-runs').innerText.includes(t)",
        arg=f"{history[-1][1]:.1%}",
        timeout=60_000,
    )
    assert lab.kernel("lab.runs[0]['status']") == "done"

    # brush every round on the share chart: the three round views and the films follow
    lab.brush(SHARE, 0.02, 0.02, 0.98, 0.98)
    lab.wait_kernel("lab.selected_rounds", [0, 1, 2, 3], timeout=20)
    assert lab.kernel("lab.rounds_panel.views['gini'].selected") == [0, 1, 2, 3]
    page.wait_for_function(
        "() => document.querySelector('.lab8-feedback-items').innerText.includes('rounds 0, 1, 2, 3')",
        timeout=60_000,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    lab.screenshot(SCREENSHOTS / "feedback.png")
