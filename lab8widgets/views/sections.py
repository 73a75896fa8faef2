"""Named sections of a page, and links that open them: ``#lab8-<name>`` in the page's address.

A ``SectionRouter`` sits (hidden) in a lab. Its front end reads the address's fragment when the page
renders and whenever it changes, and hands the name to Python, which opens the section (selects the
tab or view that holds it: Python stays the source of truth for what is shown). Python then asks the
front end to scroll to the widget that carries the class ``lab8-at-<name>``. The fragment works the
same in a Voila page, in JupyterLab and in Notebook 7, and needs no server route."""

from __future__ import annotations

from collections.abc import Callable

import anywidget
import ipywidgets as W
import traitlets

__all__ = ["SectionRouter", "anchor_class"]

_ESM = """
function nameOf(hash) {
  const h = decodeURIComponent((hash || "").replace(/^#/, ""));
  return h.startsWith("lab8-") ? h.slice(5) : "";
}
function scrollTo(name, tries) {
  const el = document.querySelector(".lab8-at-" + CSS.escape(name));
  if (el && el.offsetParent !== null) {
    el.scrollIntoView({ block: "start" });
  } else if (tries > 0) {
    setTimeout(() => scrollTo(name, tries - 1), 100);
  }
}
export default {
  render({ model, el }) {
    const read = () => {
      const name = nameOf(window.location.hash);
      if (name && name !== model.get("requested")) {
        model.set("requested", name);
        model.save_changes();
      }
    };
    const onMsg = (msg) => { if (msg && msg.scroll) scrollTo(msg.scroll, 40); };
    model.on("msg:custom", onMsg);
    window.addEventListener("hashchange", read);
    read();
    return () => {
      window.removeEventListener("hashchange", read);
      model.off("msg:custom", onMsg);
    };
  },
};
"""


def anchor_class(name: str) -> str:
    """The CSS class that marks the widget where section ``name`` starts."""
    return f"lab8-at-{name}"


class SectionRouter(anywidget.AnyWidget):
    """Opens a page's sections by name, from the address's ``#lab8-<name>`` or from Python."""

    _esm = _ESM
    requested = traitlets.Unicode("").tag(sync=True)  # the name the page's address asked for

    def __init__(self) -> None:
        super().__init__(layout=W.Layout(display="none"))
        self._widgets: dict[str, W.Widget] = {}
        self._openers: dict[str, Callable[[], None] | None] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._widgets)

    def widget(self, name: str) -> W.Widget:
        """The widget where section ``name`` starts."""
        return self._widgets[self._check(name)]

    def add(self, name: str, widget: W.Widget, opener: Callable[[], None] | None = None) -> None:
        """Name ``widget`` as section ``name``; ``opener`` shows it (selects its tab, its view)."""
        if name in self._widgets:
            raise ValueError(f"section {name!r} is named twice")
        widget.add_class(anchor_class(name))
        self._widgets[name] = widget
        self._openers[name] = opener

    def show(self, name: str) -> None:
        """Show section ``name`` and scroll the page to it."""
        opener = self._openers[self._check(name)]
        if opener is not None:
            opener()
        self.send({"scroll": name})

    def _check(self, name: str) -> str:
        if name not in self._widgets:
            known = ", ".join(self._widgets) or "none"
            raise KeyError(f"no section {name!r} on this page (its sections: {known})")
        return name

    @traitlets.observe("requested")
    def _on_requested(self, change) -> None:
        if change["new"] in self._widgets:
            self.show(change["new"])
