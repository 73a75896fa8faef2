"""Typed settings and the controls/traits generated from them: one default, one range, one message."""

from dataclasses import dataclass

import ipywidgets as W
import pytest
import traitlets

from lab8widgets.models.settings import Settings, setting
from lab8widgets.views.controls import NumberField, SettingsForm, SettingTrait, control_for
from lab8widgets.widgets._base import LabBase, api_call


@dataclass(frozen=True)
class Knobs(Settings):
    stride: int = setting(1, lo=1, hi=3)
    lr: float = setting(5e-3, lo=0, hi=1, lo_open=True, log=True)
    pool: str = setting("max", choices=("max", "avg", "none"))
    n_factors: int = setting(50, lo=1, hi=1000)
    y_high: float = setting(None, kind=float, optional=True, lo=0, hi=10)
    bias: bool = setting(True)


@pytest.mark.parametrize(
    "bad, text",
    [
        (dict(stride="a"), "stride must be an integer from 1 to 3, got 'a'"),
        (dict(stride=2.5), "stride must be an integer from 1 to 3, got 2.5"),
        (dict(stride=True), "stride must be an integer from 1 to 3, got True"),
        (dict(lr=0), "lr must be a number in (0, 1], got 0"),
        (dict(lr=float("nan")), "lr must be a number in (0, 1], got nan"),
        (dict(lr=1e309), "lr must be a number in (0, 1], got inf"),
        (dict(pool="sum"), "pool must be one of 'max', 'avg', 'none', got 'sum'"),
        (dict(bias="yes"), "bias must be True or False, got 'yes'"),
    ],
)
def test_validate_names_field_value_and_range(bad, text):
    with pytest.raises(ValueError) as e:
        Knobs(**bad)
    assert str(e.value) == text


def test_exact_values_are_kept_and_whole_floats_become_ints():
    k = Knobs(stride=2.0, lr=0.0123, y_high=None)
    assert k.stride == 2 and type(k.stride) is int and k.lr == 0.0123
    assert k.replace(n_factors=7).n_factors == 7
    with pytest.raises(TypeError, match="'strde'"):
        k.replace(strde=2)


class _Lab(LabBase):
    stride = SettingTrait(Knobs)
    rate = SettingTrait(Knobs, "lr")

    @api_call
    def set_pool(self, pool):
        return Knobs(pool=pool)


def test_trait_takes_default_and_puts_wrong_types_in_the_banner():
    lab = _Lab()
    assert lab.stride == Knobs.default("stride") and lab.rate == Knobs.default("lr")
    with pytest.raises(traitlets.TraitError, match="stride must be an integer from 1 to 3"):
        lab.stride = "a"
    assert lab.error == "stride must be an integer from 1 to 3, got 'a'"
    assert lab.stride == 1
    lab.stride = 3
    assert lab.stride == 3


def test_api_calls_and_gestures_share_one_error_path():
    lab = _Lab()
    with pytest.raises(ValueError, match="pool must be one of"):
        lab.set_pool("sum")
    assert lab.error.startswith("pool must be one of")
    lab.set_pool("avg")
    assert lab.error == ""


def test_control_bounds_are_the_dataclass_bounds():
    for name, spec in Knobs.specs().items():
        w = control_for(Knobs, name)
        if isinstance(w, W.IntSlider):
            assert (w.min, w.max, w.value) == (spec.lo, spec.hi, Knobs.default(name))
        elif isinstance(w, W.Dropdown):
            assert tuple(w.options) == spec.choices
        elif isinstance(w, NumberField):
            assert w.number == Knobs.default(name)


def test_typed_numbers_are_used_exactly_or_refused_and_restored():
    errors = []
    form = SettingsForm(Knobs, on_error=errors.append)
    n = form.controls["n_factors"]
    for typed in ("2.5", "0", "100000", "abc", "nan"):
        n.value = typed
        assert form.values["n_factors"] == 50 and n.value == "50"
        assert errors[-1].startswith("n_factors must be an integer from 1 to 1000, got")
    n.value = "37"
    assert form.settings().n_factors == 37
    form.controls["lr"].value = "1e309"
    assert "lr must be a number in (0, 1]" in errors[-1] and form.values["lr"] == 5e-3
    form.controls["lr"].value = "0.0031"
    assert form.settings().lr == 0.0031
    form.controls["y_high"].value = "5.5"
    assert form.settings().y_high == 5.5


def test_busy_row_is_reserved_so_controls_never_move():
    lab = _Lab()
    before = list(lab.children)
    lab.busy = True
    assert list(lab.children) == before
    assert lab.busy_row.layout.display != "none"
    assert lab.busy_row.layout.visibility == "visible"
    lab.busy = False
    assert lab.busy_row.layout.visibility == "hidden"
