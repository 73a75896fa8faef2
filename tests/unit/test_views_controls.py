"""Ranges and values read as a person writes them, in messages, tooltips and typed fields."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from lab8widgets.models.settings import Settings, readable, setting
from lab8widgets.views.controls import NumberField, control_for


@dataclass(frozen=True)
class Knobs(Settings):
    seed: int = setting(0, lo=0, hi=2**31 - 1)
    bs: int = setting(512, lo=2, hi=1 << 20, label="bs")
    lr: float = setting(1e-2, lo=0, hi=1e6, lo_open=True)
    p: float = setting(0.5, lo=0, hi=0.99)
    tiny: float = setting(1e-5, lo=1e-7, hi=1e-3)


@pytest.mark.parametrize(
    "value, text",
    [(2**31 - 1, "2,147,483,647"), (1 << 20, "1,048,576"), (1000, "1000"), (10_000, "10,000"),
     (1e6, "1,000,000"), (0.99, "0.99"), (1e-5, "1e-05"), (0, "0"), (-20_000, "-20,000")],
)  # fmt: skip
def test_readable_numbers(value, text):
    assert readable(value) == text


def test_messages_and_tooltips_state_ranges_in_full():
    with pytest.raises(ValueError) as err:
        Knobs(seed=-1)
    assert str(err.value) == "seed must be an integer from 0 to 2,147,483,647, got -1"
    with pytest.raises(ValueError, match=r"bs must be an integer from 2 to 1,048,576, got 1"):
        Knobs(bs=1)
    with pytest.raises(ValueError, match=r"lr must be a number in \(0, 1,000,000\], got 0"):
        Knobs(lr=0)
    for name, words in (("seed", "0 to 2,147,483,647"), ("bs", "2 to 1,048,576"),
                        ("tiny", "[1e-07, 0.001]")):  # fmt: skip
        tip = control_for(Knobs, name).tooltip
        assert words in tip and "e+" not in tip, tip


def test_a_typed_field_shows_every_digit_and_reads_back():
    errors: list[str] = []
    w = control_for(Knobs, "seed", on_error=errors.append)
    assert isinstance(w, NumberField)
    w.value = "2147483647"
    assert w.number == 2147483647 and w.value == "2147483647" and errors == []
    w.value = "2147483648"  # one past the top: refused, the last good value back
    assert w.number == 2147483647 and w.value == "2147483647"
    assert errors == ["seed must be an integer from 0 to 2,147,483,647, got 2147483648"]
    f = control_for(Knobs, "lr")
    f.value = "123456.5"  # ":g" showed 123456 (a different number)
    assert f.number == 123456.5 and f.value == "123456.5"
