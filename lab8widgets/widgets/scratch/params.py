"""Section 1 of ScratchLab: what a module tracks (``nn.Parameter``), and one SGD step that shows
which tensors moved. Callbacks in, HTML out; the module and the step come from the lab."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from ...models import embedding as M
from ...views.layout import row, section
from . import views as V

__all__ = ["ParameterView"]


class ParameterView(W.VBox):
    """The wrap toggle (``on_toggle(bool)``), the step button (``on_step()``), the module's code, its
    ``named_parameters()`` table and the last step's before/after table."""

    def __init__(
        self, use_parameter: bool, on_toggle: Callable[[bool], None], on_step: Callable[[], None]
    ):
        self.toggle = V.tagged(
            W.Checkbox(value=use_parameter, description="wrap a in nn.Parameter", indent=False),
            "lab8-scratch-toggle",
        )
        self.toggle.observe(lambda ch: on_toggle(bool(ch["new"])), "value")
        self.step_button = V.button("One SGD step", "step-forward", "lab8-scratch-step", on_step)
        self.code = V.html_box("lab8-scratch-code", width="430px", max_width="100%")
        self.params = V.html_box("lab8-scratch-params", width="380px", max_width="100%")
        self.moved = V.html_box("lab8-scratch-moved")
        super().__init__(
            [
                section("1 · What a module tracks: <code>nn.Parameter</code>"),
                W.HTML(
                    V.note(
                        "<code>parameters()</code> lists only tensors wrapped in <code>nn.Parameter"
                        "</code> (or held by a sub-module such as <code>nn.Linear</code>), and the "
                        "optimizer only moves what <code>parameters()</code> lists. Flip the wrap "
                        "and take a step."
                    )
                ),
                row(self.toggle, self.step_button, align_items="center"),
                row(self.code, self.params),
                self.moved,
            ]
        )

    def show(self, model: M.ToggleModule, last_step: M.StepResult | None) -> None:
        if self.toggle.value != model.use_parameter:
            self.toggle.value = model.use_parameter
        self.code.value = V.code_html(model)
        self.params.value = V.params_html(model)
        self.moved.value = V.step_html(last_step)
