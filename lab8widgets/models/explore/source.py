"""What an explorer reads from a lab it follows: a small protocol, so the explorer never imports
the lab (CollabLab satisfies it; any object with these members can be followed)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from torch import nn

from ..collab import CollabData


@runtime_checkable
class CollabSource(Protocol):
    """A trained recommender that changes: its live ``model`` on ``data``, its ``runs`` so far,
    ``genres`` (title -> "A|B", or None), and ``on_change(callback)``: call ``callback()`` after
    every finished run and whenever ``model`` is replaced or changed."""

    @property
    def model(self) -> nn.Module: ...

    @property
    def data(self) -> CollabData: ...

    @property
    def runs(self) -> list: ...

    @property
    def genres(self) -> Mapping | None: ...

    def on_change(self, callback: Callable[[], Any]) -> None: ...
