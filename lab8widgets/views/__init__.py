"""Reusable views with no lesson knowledge: each lab composes them (see CONTRIBUTING.md)."""

from __future__ import annotations

from .scatter import LinkedScatter, link_selection
from .table import TableView

__all__ = ["LinkedScatter", "TableView", "link_selection"]
