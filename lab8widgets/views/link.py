"""``link_selection``: keep several views' ``selected`` in step (scatters, tables, a lab).

Links follow jupyter-scatter: each view's observer is removed while the others are written, so a
change never comes back to the view it came from. The linked views are all written under
``hold_sync`` before any of them is sent, then sent in the order they were linked: list the views
that draw fast (scatters) before those that lay out text (a lab and its tables), so the page paints
the dots without waiting a frame for the table.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from contextlib import ExitStack
from typing import Any

__all__ = ["SelectionLink", "link_selection"]


class SelectionLink:
    """Keeps ``selected`` equal (through ``key``) across views; ``unlink()`` stops it."""

    def __init__(self, views: Sequence[Any], key: Callable[[Hashable], Hashable] | None = None):
        if len(views) < 2:
            raise ValueError(f"link_selection needs at least two views, got {len(views)}")
        for v in views:
            if not (hasattr(v, "selected") and hasattr(v, "all_keys") and hasattr(v, "observe")):
                raise TypeError(
                    f"{type(v).__name__} is not a selectable view (needs .selected, .all_keys, observe)"
                )
        self.views = list(views)
        self.key = key
        self._same = key is None  # keys shared as they are: no key() call per point
        self._sets: dict[int, tuple[list, set]] = {}
        self._handlers = {id(v): self._handler(v) for v in self.views}
        for v in self.views:
            v.observe(self._handlers[id(v)], "selected")

    def _handler(self, source):
        def on_change(change) -> None:
            self._spread(source, change["new"])

        return on_change

    def _spread(self, source, selected: list) -> None:
        others = [v for v in self.views if v is not source]
        if self._same:  # each view's own keys among the selected, in the source's order
            chosen = {}
            for v in others:
                have = self._keys_of(v)
                chosen[id(v)] = [k for k in selected if k in have]
        else:
            shared = {self.key(k) for k in selected}
            chosen = {id(v): [k for k in v.all_keys if self.key(k) in shared] for v in others}
        for v in others:  # jupyter-scatter: unobserve, write, observe again
            v.unobserve(self._handlers[id(v)], "selected")
        try:
            with ExitStack() as held:  # every view written before any of them is sent,
                for v in reversed(others):  # then sent in the link's order (held last, sent first)
                    if hasattr(v, "hold_sync"):
                        held.enter_context(v.hold_sync())
                for v in others:
                    v.selected = chosen[id(v)]
        finally:
            for v in others:
                v.observe(self._handlers[id(v)], "selected")

    def _keys_of(self, view) -> set:
        """The view's keys as a set, built again only when ``all_keys`` is a new list (a view
        that keeps one list per set of points spares the link a set of thousands per gesture)."""
        keys = view.all_keys
        kept = self._sets.get(id(view))
        if kept is None or kept[0] is not keys:
            kept = self._sets[id(view)] = (keys, set(keys))
        return kept[1]

    def unlink(self) -> None:
        for v in self.views:
            try:
                v.unobserve(self._handlers[id(v)], "selected")
            except ValueError:
                pass


def link_selection(*views: Any, key: Callable[[Hashable], Hashable] | None = None) -> SelectionLink:
    """Keep the views' ``selected`` in step, each view selecting its own keys whose ``key(k)``
    is selected elsewhere (views may show different subsets). Returns a link with ``unlink()``."""
    return SelectionLink(views, key)
