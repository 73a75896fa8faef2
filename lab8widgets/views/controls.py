"""Controls and traits generated from a settings dataclass, so no default or limit is written twice.

- :class:`SettingTrait`: a widget trait that accepts exactly what the dataclass field accepts; a bad
  value (``lab.stride = "a"``) shows the field's message in the owner's banner (``owner.fail``) and
  raises ``TraitError`` with the same text.
- :func:`control_for` / :class:`SettingsForm`: sliders, dropdowns, checkboxes and typed-number
  fields whose bounds are the field's. A typed value is used exactly or refused: out of range, not a
  number or not whole where a whole number is needed gives a message naming the field, the value and
  the range, and the field returns to its last good value (never silently clamped or rounded).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as W
import traitlets

from ..models.settings import Settings, Spec

__all__ = [
    "NumberField",
    "SettingError",
    "SettingTrait",
    "SettingsForm",
    "SliderReadout",
    "control_for",
    "with_readout",
]

SLIDER_MAX_STEPS = (
    16  # whole-number ranges up to this many values get a slider, wider ones a text field
)


class SettingError(traitlets.TraitError, ValueError):
    """A refused setting: a ``TraitError`` for traitlets and a ``ValueError`` for the Python API."""


class SettingTrait(traitlets.TraitType):
    """A trait checked by ``settings_cls``'s field (``field`` defaults to the trait's own name)."""

    info_text = "a valid setting"

    def __init__(self, settings_cls: type[Settings], field: str | None = None, **kwargs: Any):
        self.settings_cls = settings_cls
        self.field = field
        if field is not None:
            kwargs.setdefault("default_value", settings_cls.default(field))
        super().__init__(**kwargs)

    def class_init(self, cls, name):
        super().class_init(cls, name)
        if self.field is None:
            self.field = name
            self.default_value = self.settings_cls.default(name)

    def validate(self, obj, value):
        try:
            return self.settings_cls.check(self.field, value)
        except ValueError as e:
            fail = getattr(obj, "fail", None)
            if callable(fail):
                fail(str(e))
            raise SettingError(str(e)) from None


def _label(name: str, spec: Spec) -> str:
    return spec.label or name.replace("_", " ")


def _fmt(v: Any) -> str:
    """A field's value as text that reads back to the same number: 2147483647, 0.001, 1e-05
    (``:g`` would show 2.14748e+09 and lose digits)."""
    if isinstance(v, float):
        return f"{v:.15g}"
    return "" if v is None else str(v)


class NumberField(W.Text):
    """A typed number: checked by its Spec on Enter/blur; bad text returns to the last good value."""

    number = traitlets.Any()

    def __init__(self, name: str, spec: Spec, value: Any, on_error: Callable[[str], None] | None):
        super().__init__(
            value=_fmt(value),
            description=_label(name, spec),
            continuous_update=False,
            tooltip=f"{name}: {spec.describe()}",
            placeholder="none" if spec.optional else "",
            style={"description_width": "initial"},
            layout=W.Layout(width="150px"),
        )
        self._name, self._spec, self._on_error = name, spec, on_error
        self.number = value
        self.observe(self._typed, "value")

    def _typed(self, change) -> None:
        text = change["new"].strip()
        if text == _fmt(self.number):
            return
        try:
            if text.lower() in ("", "none") and self._spec.optional:
                value = None
            else:
                # whole numbers stay ints, so a message quotes "100" as typed, not "100.0"
                raw = _parse(text)
                value = self._spec.check(self._name, raw)
        except ValueError as e:
            self.value = _fmt(self.number)  # back to the last good value
            if self._on_error is not None:
                self._on_error(str(e))
            return
        self.number = value

    @traitlets.observe("number")
    def _show(self, change) -> None:
        self.value = _fmt(change["new"])


def _parse(text: str) -> Any:
    """Typed text as a number where it is one (whole numbers stay ints), else the text itself."""
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return text


class SliderReadout(W.Text):
    """A slider's readout that uses exactly what was typed, or refuses it.

    ipywidgets' own readout turns "2.5" into 2 and "1e309" into 1 and clamps what is out of range,
    so the kernel never sees what was typed. This field checks the text against the slider's own
    bounds (read when it is typed, so bounds that move are followed), sets ``slider.value`` when it
    fits, and otherwise reports field, value and range through ``on_error`` and shows the slider's
    value again. Use it with ``readout=False`` on the slider (:func:`with_readout`).
    """

    def __init__(self, slider: W.Widget, name: str, on_error=None):
        super().__init__(
            value=self._fmt(slider.value, slider),
            continuous_update=False,
            layout=W.Layout(width="46px"),
            tooltip=f"type a value for {name}",
        )
        self.add_class("lab8-readout")
        self.slider, self.name, self.on_error = slider, name, on_error
        self.observe(self._typed, "value")
        slider.observe(lambda ch: self._show(ch["new"]), "value")
        W.dlink((slider, "disabled"), (self, "disabled"))

    @staticmethod
    def _fmt(v: Any, slider: W.Widget) -> str:
        return str(int(v)) if isinstance(slider, W.IntSlider) else f"{v:g}"

    @property
    def spec(self) -> Spec:
        """What the slider accepts now: its kind and its current bounds."""
        s = self.slider
        return Spec(kind=int if isinstance(s, W.IntSlider) else float, lo=s.min, hi=s.max)

    def _show(self, v: Any) -> None:
        text = self._fmt(v, self.slider)
        if self.value != text:
            self.value = text

    def _typed(self, change) -> None:
        text = str(change["new"]).strip()
        if text == self._fmt(self.slider.value, self.slider):
            return
        spec = self.spec
        try:
            value = spec.check(self.name, _parse(text))
        except ValueError:
            self._show(self.slider.value)  # back to the last good value
            if self.on_error is not None:
                self.on_error(f"{self.name} must be {spec.describe()}, got {text!r}")
            return
        self.slider.value = value


def with_readout(slider: W.Widget, name: str, on_error=None) -> tuple[W.HBox, SliderReadout]:
    """``slider`` (its own readout off) beside a :class:`SliderReadout`; (the row, the readout)."""
    slider.readout = False
    readout = SliderReadout(slider, name, on_error)
    box = W.HBox([slider, readout], layout=W.Layout(align_items="center", flex="0 0 auto"))
    return box, readout


def control_for(
    settings_cls: type[Settings],
    name: str,
    value: Any = None,
    on_error: Callable[[str], None] | None = None,
    step: float | None = None,
) -> W.Widget:
    """The control for one field; its current value is on ``.value`` (or ``.number`` for text).

    ``step``: a bounded float field gets a slider with this step (else a typed number field).
    """
    spec = settings_cls.spec(name)
    value = settings_cls.default(name) if value is None else value
    desc = _label(name, spec)
    style = {"description_width": "initial"}
    if spec.choices:
        w = W.Dropdown(options=list(spec.choices), value=value, description=desc, style=style)
        w.layout.width = "auto"
    elif spec.kind is bool:
        w = W.Checkbox(value=bool(value), description=desc, indent=False)
        w.layout.width = "auto"
    elif (
        spec.kind is int
        and spec.lo is not None
        and spec.hi is not None
        and spec.hi - spec.lo <= SLIDER_MAX_STEPS
    ):
        # bounds are the field's, so dragging can only give allowed values
        w = W.IntSlider(
            value=value,
            min=int(spec.lo),
            max=int(spec.hi),
            description=desc,
            readout=True,
            readout_format="d",
            continuous_update=False,
            style=style,
            layout=W.Layout(width="220px"),
        )
    elif step is not None and spec.kind is float and spec.lo is not None and spec.hi is not None:
        w = W.FloatSlider(
            value=value,
            min=float(spec.lo),
            max=float(spec.hi),
            step=step,
            description=desc,
            readout=True,
            continuous_update=False,
            style=style,
            layout=W.Layout(width="220px"),
        )
    else:
        w = NumberField(name, spec, value, on_error)
    w.add_class(f"lab8-setting-{name}")
    w.tooltip = f"{name}: {spec.describe()}" if hasattr(w, "tooltip") else None
    return w


def _value(w: W.Widget) -> Any:
    return w.number if isinstance(w, NumberField) else w.value


class SettingsForm(W.Box):
    """A row of controls (wrapping) for the given fields of ``settings_cls``.

    ``form.settings()`` is a validated instance (base values from ``base`` plus the controls);
    ``on_change(name, value)`` runs after each accepted change; ``on_error(text)`` gets refusals.
    """

    def __init__(
        self,
        settings_cls: type[Settings],
        names: Iterable[str] | None = None,
        base: Settings | None = None,
        on_change: Callable[[str, Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ):
        self.settings_cls = settings_cls
        self.base = base if base is not None else settings_cls()
        names = list(names) if names is not None else list(settings_cls.specs())
        self.controls: dict[str, W.Widget] = {
            n: control_for(settings_cls, n, getattr(self.base, n), on_error) for n in names
        }
        super().__init__(
            list(self.controls.values()),
            layout=W.Layout(flex_flow="row wrap", align_items="center", gap="4px 14px"),
        )
        self.add_class("lab8-settings")
        self._on_change = on_change
        for n, w in self.controls.items():
            w.observe(
                lambda ch, n=n: self._changed(n),
                "number" if isinstance(w, NumberField) else "value",
            )

    def _changed(self, name: str) -> None:
        if self._on_change is not None:
            self._on_change(name, _value(self.controls[name]))

    @property
    def values(self) -> dict[str, Any]:
        return {n: _value(w) for n, w in self.controls.items()}

    def settings(self, **overrides: Any) -> Settings:
        """A validated settings value from the base, the controls and ``overrides``."""
        return self.base.replace(**{**self.values, **overrides})

    def show(self, settings: Settings) -> None:
        """Put ``settings``' values in the controls (after an API call or a cell changed them)."""
        self.base = settings
        for n, w in self.controls.items():
            v = getattr(settings, n)
            if isinstance(w, NumberField):
                w.number = v
            elif w.value != v:
                w.value = v

    def set_disabled(self, disabled: bool, names: Iterable[str] | None = None) -> None:
        for n in names if names is not None else self.controls:
            self.controls[n].disabled = disabled
