"""How a course tests its own notebook with lab8widgets' pytest plugin (``pip install
'lab8widgets[testing]'``; the fixtures need no import). Copy this beside your notebook and adapt.

The first test runs the notebook in this process (no browser, a few seconds); the second serves it
like ``lab8widgets serve example_notebook.ipynb`` and drags a cell in Chromium. Console errors,
tracebacks on the page and requests off the machine fail a browser test on their own.
"""

from pathlib import Path

import numpy as np

from lab8widgets.testing import click, run_notebook, simulate

NOTEBOOK = Path(__file__).parent / "example_notebook.ipynb"


def test_the_exercise_without_a_browser():
    widgets = run_notebook(NOTEBOOK, env={"LAB8WIDGETS_OFFLINE": "1"})
    lab = widgets["lab"]
    # the preset took: channel 0 of conv1 is the digit, cropped by the 3×3 kernel
    assert np.allclose(lab.activations["conv1"][0], lab.image[1:-1, 1:-1], atol=1e-6)
    # pick "blur" in the dropdown and press "apply", as a learner would
    simulate(lab.preset_pick, index=list(lab.preset_pick.options).index("blur"))
    click(lab.preset_button)
    assert np.allclose(lab.model.conv1.weight[0, 0].detach().numpy(), 1 / 9)
    assert lab.error == ""


def test_the_exercise_in_chromium(lab_page):
    lab = lab_page(NOTEBOOK)
    lab.drag_cell(".lab8-conv-kernel-0", 1, 1, steps=-5)  # the centre: 1 → 0.5
    lab.wait_kernel("round(lab.model.conv1.weight[0, 0, 1, 1].item(), 4)", 0.5)
    scaled = "float(abs(lab.activations['conv1'][0] - 0.5 * lab.image[1:-1, 1:-1]).max())"
    assert lab.kernel(scaled) < 1e-6
    # a typed value is checked by Python: a banner, and the weight keeps its last good value
    lab.type_cell(".lab8-conv-kernel-0", 0, 0, "abc")
    assert "not a number" in lab.wait_banner()
    assert lab.kernel("lab.model.conv1.weight[0, 0, 0, 0].item()") == 0.0
    lab.click_button("apply")  # the preset dropdown still says top_edge, for filter 0
    lab.wait_kernel("lab.model.conv1.weight[0, 0, 0].tolist()", [-1.0, -1.0, -1.0])
    assert lab.wait_banner(gone=True) == ""
