"""Typed settings: every knob's default, type and allowed range, written once.

A lab's settings are a frozen dataclass whose fields are made with :func:`setting`. ``validate()``
(run on construction) raises one ``ValueError`` that names the field, the value and the range, so
the model, the widget's controls and traits (``lab8widgets.views.controls``), the benchmarks and the
notebooks all refuse the same values with the same words.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = ["Settings", "Spec", "readable", "setting"]

_KEY = "lab8"


def readable(v: float) -> str:
    """A bound as a person writes it: 2,147,483,647 and 1,048,576 (never 2.14748e+09), 1000, 0.99,
    1e-05. Thousands are grouped from 10,000 up; fractions keep up to six significant digits."""
    if float(v).is_integer() and abs(v) < 1e15:
        n = int(v)
        return f"{n:,}" if abs(n) >= 10_000 else str(n)
    return f"{v:.6g}"


@dataclass(frozen=True)
class Spec:
    """What a setting accepts: its kind, bounds (``lo_open`` excludes ``lo``), or its choices."""

    kind: type  # int, float, bool or str
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple = ()
    log: bool = False  # shown on a log scale (learning rates)
    label: str = ""
    help: str = ""
    optional: bool = False  # None is allowed (e.g. "no y_range")

    def describe(self) -> str:
        """The allowed values in words, as error messages and tooltips say them."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        if self.kind is bool:
            return "True or False"
        what = "an integer" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:
            if self.kind is int:
                return f"{what} from {readable(self.lo)} to {readable(self.hi)}"
            lo, hi = readable(self.lo), readable(self.hi)
            return f"{what} in {'(' if self.lo_open else '['}{lo}, {hi}]"
        if self.lo is not None:
            return f"{what} {'>' if self.lo_open else '≥'} {readable(self.lo)}"
        return what

    def check(self, name: str, value: Any) -> Any:
        """``value`` as this setting's type, or a ValueError naming ``name``, the value and the range."""
        if value is None and self.optional:
            return None
        bad = ValueError(f"{name} must be {self.describe()}, got {value!r}")
        if self.choices:
            # text choices take text; number choices (batch sizes) take exactly those numbers
            if self.kind is str:
                if isinstance(value, str) and value in self.choices:
                    return value
            elif not isinstance(value, bool | str) and value in self.choices:
                return self.kind(value)
            raise bad
        if self.kind is bool:
            if isinstance(value, bool | int) and value in (0, 1):
                return bool(value)
            raise bad
        if self.kind is str:
            if isinstance(value, str):
                return value
            raise bad
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise bad
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                if not (math.isfinite(float(value)) and float(value).is_integer()):
                    raise bad
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise bad
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            raise bad
        if self.hi is not None and value > self.hi:
            raise bad
        return value


def setting(default: Any, kind: type | None = None, **spec: Any) -> Any:
    """A dataclass field with its :class:`Spec`: ``stride: int = setting(1, lo=1, hi=3)``."""
    if kind is None:
        kind = type(default) if default is not None else float
        if spec.get("choices"):
            kind = type(spec["choices"][0])
    return dataclasses.field(default=default, metadata={_KEY: Spec(kind=kind, **spec)})


class Settings:
    """Mixin for frozen dataclasses of settings: validated on construction, changed by ``replace``."""

    _specs: ClassVar[dict[str, Spec]]

    def __post_init__(self) -> None:
        self.validate()

    @classmethod
    def specs(cls) -> dict[str, Spec]:
        """Field name → Spec, in field order."""
        return {f.name: f.metadata[_KEY] for f in dataclasses.fields(cls) if _KEY in f.metadata}

    @classmethod
    def spec(cls, name: str) -> Spec:
        try:
            return cls.specs()[name]
        except KeyError:
            raise KeyError(f"{cls.__name__} has no setting {name!r}") from None

    @classmethod
    def default(cls, name: str) -> Any:
        return {f.name: f.default for f in dataclasses.fields(cls)}[name]

    @classmethod
    def check(cls, name: str, value: Any) -> Any:
        """One value checked as the field ``name`` would be (for traits and controls)."""
        return cls.spec(name).check(name, value)

    def validate(self) -> None:
        """Check every field; coerce exact types (2.0 → 2 for an int field). Raises ValueError."""
        for name, spec in self.specs().items():
            object.__setattr__(self, name, spec.check(name, getattr(self, name)))

    def replace(self, **changes: Any):
        """A validated copy with ``changes``; unknown names raise a TypeError that names them."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise TypeError(
                f"{type(self).__name__} has no setting(s) {', '.join(map(repr, unknown))}; "
                f"expected: {', '.join(f.name for f in dataclasses.fields(self))}"
            )
        return dataclasses.replace(self, **changes)

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
