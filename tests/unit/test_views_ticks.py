"""views/ticks: round tick values every chart uses (the log axis's are tested with the training
panel that draws them, tests/unit/test_views_training.py)."""

from __future__ import annotations

import numpy as np
import pytest

from lab8widgets.views.ticks import decades, linear_ticks, nice_range


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (-1.62, 195.03, (-50.0, 200.0, 50.0)),  # EntityLab's map: 0, 50, ... not -1.62, 195.03
        (0.13, 0.91, (0.0, 1.0, 0.2)),
        (-3.0, 3.0, (-4.0, 4.0, 2.0)),
    ],
)
def test_nice_range_widens_to_multiples_of_a_round_step(lo, hi, expected):
    a, b, step = nice_range(lo, hi)
    assert (a, b, step) == pytest.approx(expected)
    assert a <= lo and b >= hi
    mantissa = step / 10 ** np.floor(np.log10(step))
    assert mantissa == pytest.approx(1) or mantissa in (2, 5)


def test_linear_ticks_are_every_multiple_of_the_step_with_no_float_dust():
    ticks = linear_ticks(-0.4, 0.8, 0.2)
    assert ticks.tolist() == [-0.4, -0.2, 0.0, 0.2, 0.4, 0.6, 0.8]
    assert linear_ticks(*nice_range(-1.62, 195.03)).tolist() == [-50, 0, 50, 100, 150, 200]


def test_decades_cover_the_range_in_powers_of_ten():
    assert decades(10, 100_000) == [10.0, 100.0, 1000.0, 10_000.0, 100_000.0]
    assert decades(0.003, 0.04) == [0.001, 0.01, 0.1]
    assert decades(5, 5) == [1.0, 10.0]  # at least two ticks
