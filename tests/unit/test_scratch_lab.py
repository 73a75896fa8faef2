"""ScratchLab outside a kernel: its Python API, gestures simulated as front-end messages, what the
views show, and bad input (banner + ValueError from Python, banner only from the page, nothing lost)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from lab8widgets import labs
from lab8widgets.testing import click, send_custom
from lab8widgets.testing import simulate as send
from lab8widgets.widgets.scratch import ScratchLab

ROOT = Path(__file__).resolve().parents[2]
ML_100K = ROOT / "tests" / "fixtures" / "ml-100k"


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network and an empty fastai cache: ids come from the synthetic set, and it says so."""
    monkeypatch.setenv("LAB8WIDGETS_OFFLINE", "1")
    monkeypatch.setenv("FASTAI_HOME", str(tmp_path / "fastai"))


@pytest.fixture
def lab(offline):
    return ScratchLab()


def test_registry_notebook_and_unknown_kwargs():
    assert labs.get("scratch").load() is ScratchLab
    assert (ROOT / "notebooks" / "scratch.ipynb").is_file()
    with pytest.raises(TypeError, match="'colour'"):
        ScratchLab(colour="red")


def test_defaults_say_where_everything_comes_from(lab):
    assert "synthetic" in lab.source and "Dickinson" in lab.source
    assert lab.vocab[:5] == ["hope", "is", "the", "thing", "with"]
    assert lab.ids[:5] == [0, 1, 2, 3, 4]
    assert lab.error == ""


def test_movielens_ids_when_present(offline):
    lab = ScratchLab(path=ML_100K)
    assert "MovieLens 100k" in lab.source
    rows = lab.init.x
    lab.set_table("users")
    lab.pick("196, 22")
    assert lab.indices == [lab.users.index(196), lab.users.index(22)]
    E = lab.init.create_params_model.user_factors.detach()
    torch.testing.assert_close(lab.lookup, E[lab.indices])
    assert rows.shape[1] == 2
    with pytest.raises(ValueError, match="user id 99999 is not in the ratings"):
        lab.pick("99999")
    assert "99999" in lab.error and lab.indices == [lab.users.index(196), lab.users.index(22)]


# --- 1. nn.Parameter ------------------------------------------------------------------------------


def test_toggle_from_page_and_from_python(lab):
    assert lab.use_parameter and lab.parameter_names == ["a", "lin.weight", "lin.bias"]
    send(lab.parameter_view.toggle, value=False)
    assert not lab.use_parameter
    assert lab.parameter_names == [n for n, _ in lab.model.named_parameters()]
    assert lab.parameter_names == ["lin.weight", "lin.bias"]
    assert 'data-name="a"' not in lab.parameter_view.params.value
    assert "Not listed: <code>a</code>" in lab.parameter_view.params.value
    lab.use_parameter = True
    assert (
        lab.parameter_view.toggle.value is True
        and 'data-name="a"' in lab.parameter_view.params.value
    )


def test_refresh_follows_changes_made_in_a_notebook_cell(lab):
    lab.model.set_use_parameter(False)
    lab.table_matrix("toy").data[3] = 7.0
    lab.refresh()
    assert lab.use_parameter is False and lab.parameter_view.toggle.value is False
    assert 'data-name="a"' not in lab.parameter_view.params.value
    assert (
        lab.lookup[0].tolist() == [7.0] * 4
        and lab.lookup_view.lookup.values[0].tolist() == [7.0] * 4
    )


def test_the_page_follows_a_cell_that_changes_the_model(lab):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        follower = ScratchLab()  # registers with the running shell, as in a notebook
        shell.user_ns["lab"] = follower
        shell.run_cell("lab.model.set_use_parameter(False)")
        assert follower.use_parameter is False and follower.parameter_view.toggle.value is False
        assert 'data-name="a"' not in follower.parameter_view.params.value
        shell.run_cell("lab.table_matrix('toy').data.fill_(2.0)")
        assert follower.lookup_view.E.values.tolist() == [[2.0] * 4] * 8
    finally:
        InteractiveShell.clear_instance()


def test_sgd_step_shows_what_moved(lab):
    lab.use_parameter = False
    a = lab.model.a.clone()
    click(lab.parameter_view.step_button)
    assert lab.last_step.moved == {"a": False, "lin.weight": True, "lin.bias": True}
    assert torch.equal(lab.model.a, a)
    assert 'data-name="a" data-moved="false"' in lab.parameter_view.moved.value
    assert lab.step() == {"a": False, "lin.weight": True, "lin.bias": True}
    lab.use_parameter = True
    assert lab.step()["a"] is True
    with pytest.raises(ValueError, match="lr"):
        lab.step(lr=-1)
    assert "lr" in lab.error


# --- 2. lookup ------------------------------------------------------------------------------------


def test_lookup_equals_one_hot_product_in_value_and_gradient(lab):
    lab.indices = [5, 0, 5, 7]
    E = lab.table_matrix().detach()
    ref = F.embedding(torch.tensor([5, 0, 5, 7]), E)
    torch.testing.assert_close(lab.lookup, ref, rtol=0, atol=0)
    torch.testing.assert_close(lab.one_hot_product, ref)
    g = lab.grads
    torch.testing.assert_close(g["one_hot"], g["lookup"])
    e = E.clone().requires_grad_(True)
    F.embedding(torch.tensor([5, 0, 5, 7]), e).backward(lab.comparison.upstream)
    torch.testing.assert_close(g["lookup"], e.grad)
    assert torch.nonzero(g["lookup"].abs().sum(1)).flatten().tolist() == [0, 5, 7]
    # what the page shows is those tensors
    torch.testing.assert_close(torch.from_numpy(lab.lookup_view.lookup.values), ref)
    assert lab.lookup_view.one_hot.shape == [4, 8] and lab.lookup_view.one_hot.values.sum() == 4
    assert lab.lookup_view.E.highlight == [[0, 0, 0, 3], [5, 0, 5, 3], [7, 0, 7, 3]]
    assert 'data-equal="true"' in lab.lookup_view.equal.value


def test_typed_indices_and_tables(lab):
    send(lab.lookup_view.indices, value="2 6")
    assert lab.indices == [2, 6] and lab.error == ""
    send(lab.lookup_view.table, index=3)  # a Dropdown syncs its index
    assert lab.table == "words" and lab.lookup_view.indices.value == "hope, is, the, hope"
    send(lab.lookup_view.indices, value="feathers, 0")
    assert lab.indices == [lab.vocab.index("feathers"), 0]
    torch.testing.assert_close(lab.lookup, lab.words.emb.detach()[lab.indices])
    send(lab.lookup_view.table, index=2)
    assert lab.lookup_view.indices.description == "movie ids"
    m = lab.movies[lab.indices[0]]
    assert lab.lookup_view.indices.value.split(", ")[0] == str(m)


@pytest.mark.parametrize("typed, match", [("3, 8", "out of range"), ("1.5", "not an integer"),
                                          ("x", "not an integer"), ("", "at least one")])  # fmt: skip
def test_bad_typed_indices_banner_and_nothing_lost(lab, typed, match):
    lab.indices = [1, 2]
    send(lab.lookup_view.indices, value=typed)  # from the page: no exception, a message
    assert match in lab.error
    assert lab.indices == [1, 2] and lab.lookup_view.indices.value == typed  # what they typed stays
    with pytest.raises(ValueError, match=match):
        lab.pick(typed)
    send(lab.lookup_view.indices, value="0")
    assert lab.indices == [0] and lab.error == ""


def test_bad_indices_from_python(lab):
    for bad in ([8], [-1], [1.5], ["two"], []):
        with pytest.raises(ValueError):
            lab.indices = bad
        assert lab.error and lab.indices == [3, 1, 3]
    with pytest.raises(ValueError, match="unknown table"):
        lab.set_table("pixels")
    assert lab.table == "toy"


def test_timing_runs_in_the_background(lab):
    lab.time_paths(sizes=(10, 100, 1000), wait=True)
    assert [r["vocab"] for r in lab.timings] == [10, 100, 1000]
    assert (
        list(lab.lookup_view.time_lines.x) == [10, 100, 1000]
        and len(lab.lookup_view.time_lines.y) == 2
    )
    assert "lab8-scratch-timing-table" in lab.lookup_view.timing.value and not lab.busy
    with pytest.raises(ValueError, match="vocabulary sizes"):
        lab.time_paths(sizes=(0,))


def test_stop_ends_the_timing_early(lab):
    lab.time_paths(sizes=(100_000,) * 40)
    lab.stop()
    assert lab.wait(30) and not lab.busy
    assert len(lab.timings) < 40
    assert lab.error == ""


def test_bad_constructor_arguments(offline):
    for kw in ({"n_factors": 0}, {"n_factors": 2.5}, {"seed": "x"}, {"text": ""}):
        with pytest.raises(ValueError):
            ScratchLab(**kw)
    lab = ScratchLab(text="one two two", n_factors=3)
    assert lab.vocab == ["one", "two"] and lab.ids == [0, 1, 1] and "your text" in lab.source
    assert lab.table_matrix("toy").shape == (8, 3)


# --- 3. init --------------------------------------------------------------------------------------


def test_init_histograms_come_from_the_models(lab):
    fig, line = lab.init_view.histograms["create_params"]
    w = lab.init.weights("create_params")
    assert sum(line.y) == w.numel() and "std 0.01" in fig.title
    _, line2 = lab.init_view.histograms["nn.Embedding"]
    assert sum(line2.y) == lab.init.weights("nn.Embedding").numel()
    assert float(lab.init.weights("nn.Embedding").std()) == pytest.approx(1.0, rel=0.05)
    before = lab.init.weights("create_params").clone()
    click(lab.init_view.reinit_button)
    assert not torch.equal(before, lab.init.weights("create_params"))


# --- 4. words -------------------------------------------------------------------------------------


def test_new_line_grows_vocab_and_matrix(lab):
    old_vocab, old_ids = lab.vocab, lab.ids
    old_rows = lab.words.emb.detach().clone()
    n_tokens = lab.words_view.poem.shape[0]
    send(lab.words_view.text, value=lab.text + "\nThe zebra sings of hope")
    assert lab.vocab == old_vocab + ["zebra", "of"] or lab.vocab[: len(old_vocab)] == old_vocab
    assert "zebra" in lab.vocab and lab.ids[: len(old_ids)] == old_ids
    assert lab.ids[-5:] == [lab.vocab.index(w) for w in ("the", "zebra", "sings", "of", "hope")]
    assert lab.words_view.poem.shape == [n_tokens + 5, 8]
    assert lab.words_view.vocab.shape == [len(lab.vocab), 8]
    assert torch.equal(lab.words.emb.detach()[: len(old_vocab)], old_rows)
    torch.testing.assert_close(
        torch.from_numpy(lab.words_view.poem.values), lab.words.emb.detach()[lab.ids]
    )
    assert 'data-row="' + str(lab.vocab.index("zebra")) + '"' in lab.words_view.words.value


def test_hover_and_word_selection_link_words_to_rows(lab):
    r = lab.vocab.index("feathers")
    assert f'[data-row="{r}"]:hover' in lab.words_view.words.value
    assert f'<tr class="lab8-vrow" data-row="{r}">' in lab.words_view.words.value
    lab.select_word("the")
    the = lab.vocab.index("the")
    assert lab.words_view.vocab.highlight == [[the, 0, the, 7]]
    assert [h[0] for h in lab.words_view.poem.highlight] == [
        i for i, j in enumerate(lab.ids) if j == the
    ]
    send_custom(lab.words_view.vocab, {"event": "click", "row": r, "col": 0})  # a click on a row
    assert lab.selected_word == "feathers"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        lab.select_word("zebra")


@pytest.mark.parametrize("bad", ["", "   ...  !", 42])
def test_empty_text_keeps_the_last_good_one(lab, bad):
    text, vocab, ids = lab.text, lab.vocab, lab.ids
    with pytest.raises(ValueError):
        lab.text = bad
    assert lab.error and (lab.text, lab.vocab, lab.ids) == (text, vocab, ids)
    if isinstance(bad, str):
        send(lab.words_view.text, value=bad)
        assert "no words" in lab.error
        assert lab.words_view.text.value == bad  # what they typed stays in the box
        assert (lab.text, lab.vocab, lab.ids) == (text, vocab, ids)


def test_gradients_show_the_precision_of_the_values_beside_them(lab):
    """E.grad via one-hot is shown as E.grad via E[idx] and E are: two decimals (0.40, not "0")."""
    v = lab.lookup_view
    lab.indices = [5, 0, 5, 7]
    assert v.one_hot.decimals == 0  # 0/1 entries
    for g in (v.E, v.product, v.lookup, v.grad_one_hot, v.grad_lookup):
        assert g.decimals == 2 and g.show_values, g.title
    # what is shown is the gradient itself, fractional values included
    torch.testing.assert_close(torch.from_numpy(v.grad_one_hot.values), lab.grads["one_hot"])
    assert any(0 < abs(x) < 1 for x in v.grad_one_hot.values.flatten())


# --- the Embedding Projector ----------------------------------------------------------------------


def test_export_projector_writes_the_word_rows(lab, tmp_path):
    import base64
    import re

    send(lab.words_view.text, value=lab.text + "\nThe zebra sings of hope")
    vec_path, meta_path = lab.export_projector(tmp_path / "out", "poem")
    assert (vec_path.name, meta_path.name) == ("poem_vectors.tsv", "poem_metadata.tsv")
    vectors = [[float(x) for x in line.split("\t")] for line in vec_path.read_text().splitlines()]
    E = lab.words.emb.detach()
    assert len(vectors) == len(lab.vocab) and len(vectors[0]) == E.shape[1] == 8
    torch.testing.assert_close(torch.tensor(vectors), E, rtol=1e-5, atol=1e-6)
    meta = [line.split("\t") for line in meta_path.read_text().splitlines()]
    assert meta[0] == ["word", "id", "count"] and len(meta) == len(lab.vocab) + 1
    assert [m[0] for m in meta[1:]] == lab.vocab  # same order as the vectors
    assert [int(m[1]) for m in meta[1:]] == list(range(len(lab.vocab)))
    assert [int(m[2]) for m in meta[1:]] == [lab.ids.count(i) for i in range(len(lab.vocab))]
    assert meta[lab.vocab.index("zebra") + 1][2] == "1"
    # the page offers the same two files
    (links,) = lab.words_view.downloads.children
    got = dict(re.findall(r'download="([^"]+)" href="data:[^,]*base64,([^"]+)"', links.value))
    files = {k: base64.b64decode(v).decode() for k, v in got.items()}
    assert set(files) == {"words_vectors.tsv", "words_metadata.tsv"}
    assert files["words_metadata.tsv"].splitlines()[1:] == ["\t".join(m) for m in meta[1:]]
    assert len(files["words_vectors.tsv"].splitlines()) == len(lab.vocab)
    with pytest.raises(ValueError, match="name"):
        lab.export_projector(tmp_path, "a/b")
    assert "name" in lab.error
