"""CNNLab: training through its API and its buttons, public state, bad input, Stop, the live model."""

from __future__ import annotations

import copy
import time

import pytest
import torch
from torch import nn

from lab8widgets import labs
from lab8widgets.models.cnn import CNNSettings, evaluate, make_cnn
from lab8widgets.testing import simulate
from lab8widgets.widgets.cnn import CNNLab


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai_home"))  # the shipped digits
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def trained():
    lab = CNNLab(head="stride2")
    lab.fit(epochs=3, lr=1e-2)
    return lab


def typed(w, text) -> None:
    """A front-end edit of a text field, as the browser sends it."""
    simulate(w, value=text)


def test_registered_and_says_which_data():
    assert labs.get("cnn").load() is CNNLab
    lab = CNNLab()
    assert "shipped with lab8widgets" in lab.source and "800 train / 200 valid" in lab.source
    assert lab.settings == CNNSettings()
    assert isinstance(lab.model, nn.Sequential) and lab.model.fc.out_features == 2


def test_fit_history_runs_and_live_model(trained):
    lab = trained
    h = lab.history
    assert [e["epoch"] for e in h] == [1, 2, 3]
    assert {"epoch", "train_loss", "valid_loss", "accuracy"} <= set(h[0])
    run = lab.runs[-1]
    assert run["head"] == "stride2" and run["status"] == "done" and run["history"] == h
    assert run["valid_loss"] == h[-1]["valid_loss"] and run["accuracy"] == h[-1]["accuracy"]
    # every number comes from lab.model
    loss, acc, pred = evaluate(lab.model, lab.data.valid_x, lab.data.valid_y)
    assert h[-1]["valid_loss"] == pytest.approx(loss, rel=1e-5) and acc > 0.95
    assert lab.accuracy == pytest.approx(acc)
    wrong = (pred != lab.data.valid_y).nonzero().flatten().tolist()
    assert [i for i, _, _ in lab.misclassified] == wrong
    assert lab.gallery.value.count("<img") == min(len(wrong), 24)
    # the chart: one train and one valid line per run, valid = history
    valid = lab.panel.chart.marks[1]
    assert list(valid.y) == pytest.approx([e["valid_loss"] for e in h])
    assert "stride2" in lab.panel.runs_html.value


def test_preset_refuses_a_bad_p_and_changes_nothing():
    lab = CNNLab()
    for bad in (0, 1.0, -0.5, "half", True):
        with pytest.raises(ValueError, match=r"p must be a dropout probability in \(0, 0.99\]"):
            lab.compare_dropout(p=bad)
        assert "p must be" in lab.error and lab.runs == []
    with pytest.raises(ValueError, match="seed must be"):
        lab.compare_dropout(seed=-1)
    assert lab.runs == []


@pytest.mark.parametrize(
    "kwargs, says",
    [
        (dict(dropout=1.0), "dropout must be a number in [0, 0.99], got 1.0"),
        (dict(dropout=-0.2), "dropout must be"),
        (dict(head="resnet"), "head must be one of 'maxpool', 'stride2', 'avgpool', 'concatpool'"),
        (dict(activation="swish"), "activation must be one of 'relu'"),
        (dict(channels=0), "channels must be an integer from 1 to 128, got 0"),
        (dict(lr=float("nan")), "lr must be"),
        (
            dict(digits="0-9", train_size=5),
            "train_size must be 0 (all) or at least one image per class (10), got 5",
        ),
    ],
)
def test_bad_input_is_a_value_error_and_a_banner_and_nothing_changes(trained, kwargs, says):
    with pytest.raises(ValueError) as err:
        CNNLab(**kwargs)
    assert says in str(err.value)
    lab = trained
    runs, model, state = len(lab.runs), lab.model, copy.deepcopy(lab.model.state_dict())
    with pytest.raises(ValueError) as err:
        lab.fit(**kwargs)
    assert says in str(err.value) and says in lab.error
    assert len(lab.runs) == runs and lab.model is model
    assert all(torch.equal(v, state[k]) for k, v in lab.model.state_dict().items())
    lab.clear_error()


def test_unknown_keywords_are_type_errors():
    with pytest.raises(TypeError, match="'colour'"):
        CNNLab(colour="red")
    with pytest.raises(TypeError, match="'colour'"):
        CNNLab().fit(colour="red")


def test_diverging_lr_stops_says_so_and_keeps_last_good_weights():
    lab = CNNLab(head="stride2")
    start = make_cnn(lab.settings.replace(lr=10.0))
    # the labs' one divergence policy (RunBook): marked, banner, last good weights, warn and return
    with pytest.warns(RuntimeWarning, match=r"lr=10 \(wd=0.01\) is too high") as caught:
        run = lab.fit(epochs=3, lr=10.0)
    message = str(caught[0].message)
    assert "restored" in message and lab.error == message
    assert run is lab.runs[-1] and run["status"] == "diverged" and lab.history == run["history"]
    if not lab.history:  # diverged in epoch 1: back to the initial weights
        for p, q in zip(lab.model.parameters(), start.parameters(), strict=True):
            assert torch.equal(p, q)
    assert all(torch.isfinite(p).all() for p in lab.model.parameters())
    assert "diverged" in lab.panel.runs_html.value and lab.panel.best_row == -1
    lab.fit(epochs=1, lr=1e-2)  # the lab keeps working
    assert lab.runs[-1]["status"] == "done" and lab.error == ""
    assert lab.panel.best_row == 1  # a diverged run is never best


def test_stop_keeps_the_weights_and_history_of_the_last_finished_step():
    lab = CNNLab(head="stride2")
    lab.fit(epochs=100, bs=16, wait=False)
    deadline = time.monotonic() + 60
    while lab.progress < 0.02 and time.monotonic() < deadline:
        time.sleep(0.02)
    with pytest.raises(ValueError, match="Still busy"):
        lab.fit(epochs=1)
    lab.stop()
    assert lab.wait(30)
    run = lab.runs[-1]
    assert run["status"] == "stopped" and 0 < run["epochs_done"] < 100
    assert lab.history == run["history"] and lab.history[-1]["epoch"] == run["epochs_done"]
    loss, _, _ = evaluate(lab.model, lab.data.valid_x, lab.data.valid_y)
    assert lab.history[-1]["valid_loss"] == pytest.approx(loss, rel=1e-5)
    assert not lab.busy and not lab.panel.train_button.disabled


def test_buttons_and_typed_values_drive_the_api():
    lab = CNNLab()
    lab.controls["head"].value = "concatpool"
    lab.controls["activation"].value = "mish"
    typed(lab.controls["epochs"], "2")
    typed(lab.controls["dropout"], "0.25")
    lab.panel.train_button.click()
    assert lab.wait(60) and lab.error == ""
    r = lab.runs[-1]
    assert (r["head"], r["activation"], r["epochs"], r["dropout"]) == (
        "concatpool",
        "mish",
        2,
        0.25,
    )
    assert type(lab.model.act1) is nn.Mish and lab.model.drop.p == 0.25
    typed(lab.controls["dropout"], "1")
    assert lab.error == "dropout must be a number in [0, 0.99], got 1"
    assert lab.settings.dropout == 0.25  # the last good value stays
    typed(lab.controls["channels"], "0")
    assert "channels must be an integer from 1 to 128, got 0" in lab.error
    lab.panel.clear_button.click()
    assert lab.runs == [] and not [m for m in lab.panel.chart.marks if m.visible]


def test_changing_the_model_in_a_cell_is_followed(trained):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    lab = CNNLab(head="stride2")
    lab.fit(epochs=2)
    try:
        shell.user_ns["lab"] = lab
        assert lab.accuracy > 0.9
        shell.run_cell("import torch\nwith torch.no_grad(): lab.model.fc.weight.zero_(); "
                       "lab.model.fc.bias.copy_(torch.tensor([0.0, 1.0]))")  # fmt: skip
        assert lab.accuracy == 0.5  # every digit is now called a 7
        assert {p for _, _, p in lab.misclassified} == {7}
        shell.run_cell("lab.model = lab.model.double().float()")
        assert lab.accuracy == 0.5
    finally:
        InteractiveShell.clear_instance()
    # assigning a model that does not fit the digits is refused; the old one stays
    old = lab.model
    with pytest.raises(ValueError, match=r"\(N, 2\) class scores"):
        lab.model = make_cnn(n_classes=10)
    assert lab.model is old and "class scores" in lab.error
    with pytest.raises(ValueError, match="nn.Module"):
        lab.model = "resnet"
    # fresh=False keeps training the live module
    mine = make_cnn(CNNSettings(head="avgpool"))
    lab.model = mine
    lab.fit(epochs=1, fresh=False)
    assert lab.model is mine and lab.runs[-1]["status"] == "done"
