"""EntityLab in Chromium under ``lab8widgets serve entity`` (synthetic store sales): train one
epoch with the real button, click a state on the map and see it highlighted in the embedding view
and in ``lab.selected``; switch to the weekday/month tab and see the rings drawn."""

from __future__ import annotations

import urllib.request

import pytest

from lab8widgets.testing import Server

from .harness import SCREENSHOTS  # build/screenshots: a test run leaves the tree clean

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module", autouse=True)
def warm_server(lab8_servers):
    """Render the page once so a first kernel's imports don't count against a page-load timeout."""
    key = ("entity", False)
    if key not in lab8_servers:
        lab8_servers[key] = Server("entity")
    with urllib.request.urlopen(lab8_servers[key].url, timeout=300) as r:
        r.read()


def texts(page, selector: str) -> list[str]:
    """textContent of SVG text (Playwright's inner_text is None for SVG)."""
    return page.evaluate(
        "(s) => Array.from(document.querySelectorAll(s)).map(t => t.textContent)", selector
    )


def dot_opacities(page, cls: str) -> list[float]:
    return page.evaluate(
        """(cls) => Array.from(document.querySelectorAll(`.${cls} .dot`))
              .map(d => parseFloat(getComputedStyle(d).opacity))""",
        cls,
    )


def test_train_click_a_state_and_see_the_rings(open_lab):
    lab = open_lab("entity", timeout=180_000)
    page = lab.page
    assert "synthetic" in page.locator(".lab8-source").inner_text().lower()
    # the default plants no geography, and an untrained model's map reads as chance
    assert "plants no geography" in page.locator(".lab8-entity-data-note").inner_text()
    assert "no better than chance" in page.locator(".lab8-entity-score").inner_text()
    assert page.locator(".lab8-entity-data select").count() == 1
    lab.enter(".lab8-setting-epochs", 1)
    page.click(".lab8-train")
    lab.wait_kernel("len(lab.history)", 1, timeout=180, every=0.5)
    lab.wait_kernel("lab.busy", False)
    assert not lab.kernel("lab.error")
    page.wait_for_selector(".lab8-runs-table")

    # click HH's dot on the map: selected there, in the embedding view and in Python
    i = lab.kernel("lab.state_map.all_keys.index('HH')")
    j = lab.kernel("lab.state_emb.all_keys.index('HH')")
    page.locator(".lab8-entity-map .dot").nth(i).click()
    lab.wait_kernel("lab.selected", ["HH"])
    page.wait_for_function(
        """(j) => { const d = document.querySelectorAll('.lab8-entity-emb .dot');
                    return d.length > j && parseFloat(getComputedStyle(d[j]).opacity) === 1
                      && parseFloat(getComputedStyle(d[(j + 1) % d.length]).opacity) < 0.5; }""",
        arg=j,
        timeout=20_000,
    )
    ops = dot_opacities(page, "lab8-entity-emb")
    assert ops[j] == 1 and sum(o == 1 for o in ops) == 1
    assert "HH" in page.locator(".lab8-entity-nearest").inner_text()
    labels = texts(page, ".lab8-entity-map .dot_text")
    assert "HH" in labels and "BY" in labels

    # the weekday and month rings
    page.locator(".lab8-entity-views button", has_text="Weekdays").click()
    page.wait_for_function(
        """() => { const p = document.querySelector('.lab8-entity-ring-weekday path.line');
                   return p && ((p.getAttribute('d') || '').match(/[ML]/g) || []).length === 8; }""",
        timeout=20_000,
    )
    assert page.locator(".lab8-entity-ring-weekday .dot").count() == 7
    assert page.locator(".lab8-entity-ring-month .dot").count() == 12
    assert "Mon" in texts(page, ".lab8-entity-ring-weekday .dot_text")
    assert "Calendar score" in page.locator(".lab8-lab").inner_text()
    assert lab.kernel("lab.view_pick.value") == "Weekdays and months"

    # the embeddings inside other models, and the projector's files
    page.locator(".lab8-entity-views button", has_text="Other models").click()
    page.click(".lab8-entity-other")
    lab.wait_kernel("len(lab.use_panel.other_table.frame)", 7, timeout=180, every=1)
    page.wait_for_function(
        "() => (document.querySelector('.lab8-entity-other-table') || {}).textContent"
        "?.includes('KNeighborsRegressor')",
        timeout=30_000,
    )
    assert page.locator('.lab8-entity-projector a[download="State_vectors.tsv"]').count() == 1
    assert not lab.kernel("lab.error")

    # the layout fits from 1280 down to 850 px: panels wrap, nothing sticks out on the right
    for width in (1280, 850):
        page.set_viewport_size({"width": width, "height": 900})
        page.locator(".lab8-entity-views button", has_text="States").click()
        page.wait_for_selector(".lab8-entity-map .dot")
        page.wait_for_timeout(500)
        right = page.evaluate(
            """() => Math.max(...Array.from(document.querySelectorAll(
                   '.lab8-lab .bqplot, .lab8-runs, .lab8-entity-views, .lab8-table-view'))
                   .map(e => e.getBoundingClientRect().right))"""
        )
        assert right <= width, f"something reaches x={right} at a {width}px wide window"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"entity-{width}.png"), full_page=True)
