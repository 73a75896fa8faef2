"""The "Dropout off vs on" button: it says what the preset trains (how many digits of each class,
how many epochs, where the dropout sits for the chosen head and why) and calls the lab back when
pressed."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W

from ...models.cnn import preset_text

__all__ = ["DropoutPreset"]


class DropoutPreset:
    """``button`` for the training panel's button row; ``on_compare()`` runs when it is pressed.
    ``text`` (also the button's tooltip) follows the head: call ``show(head)`` when it changes."""

    def __init__(self, on_compare: Callable[[], None], p: float = 0.5, head: str = "maxpool"):
        self.p = p
        self.button = W.Button(
            description="Dropout off vs on",
            icon="clone",
            layout=W.Layout(width="170px"),
        )
        self.button.add_class("lab8-dropout-compare")
        self.button.on_click(lambda _b: on_compare())
        self.show(head)

    def show(self, head: str) -> None:
        """Say what the preset does for ``head`` (the dropout position differs by head)."""
        self.head = head
        self.text = preset_text(self.p, head)
        self.button.tooltip = self.text
