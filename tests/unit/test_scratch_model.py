"""models.embedding against torch's own ops: one-hot @ E is F.embedding in value and gradient,
parameters() follows the nn.Parameter wrap, create_params and nn.Embedding start where the lesson
says, words keep their rows, and bad input is refused with a useful message."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lab8widgets.models import collab
from lab8widgets.models import embedding as M

# --- nn.Parameter ---------------------------------------------------------------------------------


def test_parameters_listing_follows_the_toggle():
    m = M.ToggleModule(use_parameter=True)
    assert [n for n, _ in m.named_parameters()] == ["a", "lin.weight", "lin.bias"]
    assert any(p is m.a for p in m.parameters())
    m.a.data.fill_(2.0)
    m.set_use_parameter(False)
    assert [n for n, _ in m.named_parameters()] == ["lin.weight", "lin.bias"]
    assert not isinstance(m.a, nn.Parameter) and torch.equal(m.a, torch.full((3,), 2.0))
    assert "a" not in m.state_dict()  # a plain attribute is not even saved
    m.set_use_parameter(True)
    assert isinstance(m.a, nn.Parameter) and torch.equal(m.a.detach(), torch.full((3,), 2.0))
    assert len(list(m.parameters())) == 3


def test_linear_shapes_as_the_lesson_reads_them():
    m = M.ToggleModule(n_in=5, n_out=2)
    assert m.lin.weight.shape == (2, 5) and m.lin.bias.shape == (2,)
    x = torch.randn(4, 5)
    torch.testing.assert_close(m(x), x * m.a.detach() @ m.lin.weight.T + m.lin.bias)


@pytest.mark.parametrize("wrapped", [True, False])
def test_sgd_moves_exactly_the_parameters(wrapped):
    m = M.ToggleModule(use_parameter=wrapped)
    r = M.sgd_step(m, lr=0.1)
    assert r.tracked == {"a": wrapped, "lin.weight": True, "lin.bias": True}
    assert r.moved == r.tracked
    # the step is torch's SGD: after = before - lr * grad
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 3, generator=gen), torch.randn(8, 2, generator=gen)
    ref = M.ToggleModule(use_parameter=wrapped)
    F.mse_loss(ref(x), y).backward()
    want = r.before["lin.weight"] - 0.1 * ref.lin.weight.grad
    torch.testing.assert_close(r.after["lin.weight"], want)
    with pytest.raises(ValueError, match="lr"):
        M.sgd_step(m, lr=float("nan"))


def test_a_plain_tensor_is_left_behind_by_to():
    m = M.ToggleModule(use_parameter=False).double()
    assert m.lin.weight.dtype == torch.float64 and m.a.dtype == torch.float32
    with pytest.raises(ValueError, match="left behind"):
        M.sgd_step(m)
    m.set_use_parameter(True)  # wrapping it puts it with the other parameters
    assert m.a.dtype == torch.float64 and M.sgd_step(m).moved["a"]
    m = M.ToggleModule(use_parameter=True).double()
    assert m.a.dtype == torch.float64 and M.sgd_step(m).moved == dict.fromkeys(m.tensors(), True)


def test_compare_paths_keeps_the_table_dtype():
    E = torch.randn(6, 3, dtype=torch.float64)
    c = M.compare_paths(E, [2, 5])
    assert c.lookup.dtype == c.grad_one_hot.dtype == torch.float64
    torch.testing.assert_close(c.product, E[[2, 5]], rtol=0, atol=0)


# --- lookup = one-hot × matrix --------------------------------------------------------------------


@pytest.mark.parametrize("idx", [[3, 1, 3], [0], list(range(10)), [9, 9, 9, 2]])
def test_one_hot_product_equals_embedding_in_value_and_gradient(idx):
    E = torch.randn(10, 6, generator=torch.Generator().manual_seed(1))
    c = M.compare_paths(E, idx, seed=4)
    ref = F.embedding(torch.tensor(idx), E)
    torch.testing.assert_close(c.lookup, ref, rtol=0, atol=0)
    torch.testing.assert_close(c.product, ref)
    assert torch.equal(c.one_hot, F.one_hot(torch.tensor(idx), 10).float())
    # E.grad from F.embedding with the same upstream gradient, computed here independently
    e = E.clone().requires_grad_(True)
    F.embedding(torch.tensor(idx), e).backward(c.upstream)
    torch.testing.assert_close(c.grad_lookup, e.grad, rtol=0, atol=0)
    torch.testing.assert_close(c.grad_one_hot, e.grad)
    assert c.nonzero_grad_rows == sorted(set(idx))
    untouched = [r for r in range(10) if r not in idx]
    assert c.grad_one_hot[untouched].abs().sum() == 0
    assert torch.equal(E, c.E)  # the caller's table is not changed


def test_compare_paths_leaves_a_parameter_alone():
    p = collab.create_params([5, 3])
    before = p.detach().clone()
    M.compare_paths(p, [1, 2])
    assert p.grad is None and torch.equal(p.detach(), before)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([10], "out of range.*0 to 9"),
        ([-1], "out of range"),
        ([1.5], "not an integer"),
        (["x"], "not an integer"),
        ([True], "not an integer"),
        ([], "at least one"),
        (list(range(65)), "at most 64"),
    ],
)
def test_bad_indices_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        M.compare_paths(torch.zeros(10, 2), bad)


def test_indices_accept_whole_numbers_in_any_form():
    assert M.check_indices([2.0, "3", torch.tensor(1)], 5) == [2, 3, 1]
    assert M.check_indices(torch.tensor([[0, 4]]), 5) == [0, 4]
    assert M.parse_ints("3, 1;3  0") == [3, 1, 3, 0]
    with pytest.raises(ValueError, match="'1.5' is not an integer"):
        M.parse_ints("1, 1.5")
    with pytest.raises(ValueError, match="at least one"):
        M.parse_ints("  ")


def test_ids_numbered_as_categorify_and_unknown_ids_refused():
    classes, lookup = M.id_classes([196, 22, 196, 5])
    assert classes == ["#na#", 5, 22, 196] and lookup == {5: 1, 22: 2, 196: 3}
    assert M.rows_for_ids(["196", 5], lookup, "user id") == [3, 1]
    with pytest.raises(ValueError, match="user id 7 is not in the ratings"):
        M.rows_for_ids([7], lookup, "user id")
    with pytest.raises(ValueError, match="not an integer"):
        M.rows_for_ids(["abc"], lookup, "user id")


def test_timing_covers_each_size_and_stops():
    rows = M.time_paths(sizes=(10, 1000), repeats=2)
    assert [r["vocab"] for r in rows] == [10, 1000]
    assert all(r["one_hot_ms"] > 0 and r["lookup_ms"] > 0 for r in rows)
    seen = []
    rows = M.time_paths(
        sizes=(10, 20, 30), repeats=1, should_stop=lambda: len(seen) >= 1,
        progress=lambda f, t: seen.append(f),
    )  # fmt: skip
    assert len(rows) == 1 and seen == [pytest.approx(1 / 3)]


# --- create_params vs nn.Embedding ----------------------------------------------------------------


def test_create_params_is_the_collab_one():
    assert M.create_params is collab.create_params


def test_init_statistics_match_the_lesson():
    torch.manual_seed(0)
    ref = nn.Embedding(2000, 50).weight.detach()
    gen = torch.Generator().manual_seed(1)
    x = torch.stack([torch.randint(1, 2000, (500,), generator=gen),
                     torch.randint(1, 1000, (500,), generator=gen)], 1)  # fmt: skip
    c = M.init_comparison(x, torch.full((500,), 3.0), 2000, 1000, n_factors=50)
    small, big = c.weights("create_params"), c.weights("nn.Embedding")
    assert small.numel() == big.numel() == 3000 * 50
    assert abs(float(small.mean())) < 1e-3 and float(small.std()) == pytest.approx(0.01, rel=0.03)
    assert abs(float(big.mean())) < 0.02 and float(big.std()) == pytest.approx(1.0, rel=0.03)
    assert float(big.std()) == pytest.approx(float(ref.std()), rel=0.03)
    assert isinstance(c.create_params_model, collab.DotProductBias)
    # first predictions: create_params starts near the middle of y_range, N(0,1) saturates
    p1, p2 = c.preds["create_params"], c.preds["nn.Embedding"]
    want = c.create_params_model(c.x).detach()
    torch.testing.assert_close(p1, want)
    assert float((p1 - 2.75).abs().max()) < 0.1
    assert float(p2.std()) > 1.5 and c.mse("nn.Embedding") > 2 * c.mse("create_params")
    assert float(((p2 < 0.1) | (p2 > 5.4)).float().mean()) > 0.5  # most predictions saturated
    with pytest.raises(KeyError):
        c.weights("xavier")


def test_histogram_counts_every_value():
    v = torch.randn(1000)
    centres, counts = M.histogram(v, bins=20)
    assert len(centres) == len(counts) == 20 and sum(counts) == 1000
    assert counts == torch.histc(v, bins=20, min=float(v.min()), max=float(v.max())).int().tolist()


# --- words ----------------------------------------------------------------------------------------


def test_tokenise_keeps_words_and_contractions():
    assert M.tokenise("I've heard it, in the CHILLEST land;") == [
        "i've", "heard", "it", "in", "the", "chillest", "land",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="string"):
        M.tokenise(3)


def test_words_grow_and_keep_their_rows():
    w = M.Words(n_factors=4)
    ids = w.update("the cat saw the dog")
    assert w.vocab == ["the", "cat", "saw", "dog"] and ids == [0, 1, 2, 0, 3]
    rows = w.emb.detach().clone()
    torch.testing.assert_close(w.matrix, F.embedding(torch.tensor(ids), rows))
    assert float(rows.std()) < 0.05  # create_params' normal(0, 0.01)
    ids = w.update("the dog saw a bird")
    assert w.vocab == ["the", "cat", "saw", "dog", "a", "bird"] and ids == [0, 3, 2, 4, 5]
    assert torch.equal(w.emb.detach()[:4], rows)  # old words kept their rows
    assert w.matrix.shape == (5, 4)
    for bad in ("", "  ,;!  ", None):
        with pytest.raises(ValueError):
            w.update(bad)
    assert w.ids == [0, 3, 2, 4, 5]  # nothing lost
    assert w.rows_for_words(["Bird", " the "]) == [5, 0]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        w.rows_for_words(["zebra"])


def test_rating_ids_number_users_and_movies_as_rows():
    import pandas as pd

    frame = pd.DataFrame({"user": [196, 22, 196], "movie": [5, 9, 9], "rating": [3.0, 4.0, 1.0]})
    r = M.rating_ids(frame, n=2)
    assert r.users == ["#na#", 22, 196] and r.movies == ["#na#", 5, 9]
    assert r.x.tolist() == [[2, 1], [1, 2]] and r.y.tolist() == [3.0, 4.0]


def test_prediction_histograms_share_y_range():
    x = torch.tensor([[1, 1], [2, 2], [3, 1]])
    c = M.init_comparison(x, torch.tensor([3.0, 4.0, 5.0]), 4, 3, n_factors=5)
    h = c.prediction_histograms(bins=11)
    assert h["create_params"][0] == h["nn.Embedding"][0]  # the same bins
    assert h["create_params"][0][0] == pytest.approx(0.25) and sum(h["nn.Embedding"][1]) == 3
    s = c.summary("create_params")
    assert s["mse"] == pytest.approx(float(F.mse_loss(c.preds["create_params"], c.y)))
    assert s["weight_std"] == pytest.approx(float(c.weights("create_params").std()))


def test_words_rows_for_mixed_input_and_toy_table():
    w = M.Words()
    w.update("to be or not to be")
    assert w.rows_for("be, 0 NOT") == [1, 0, 3]
    with pytest.raises(ValueError, match="out of range"):
        w.rows_for("9")
    with pytest.raises(ValueError, match="at least one"):
        w.rows_for(" , ")
    t = M.toy_table(8, 3, seed=0)
    torch.manual_seed(0)
    assert torch.equal(t, nn.Embedding(8, 3).weight)  # nn.Embedding's own N(0, 1) draw
