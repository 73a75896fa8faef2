"""CollabLab as a package: ``lab`` (state, public API, the live model) and ``readers`` (the
bias tables and similar movies panel)."""

from .lab import CollabLab

__all__ = ["CollabLab"]
