"""The one PCA and the one cosine (models/project.py) against a hand-written SVD, scikit-learn's
PCA and torch's cosine, and every lab's caller using them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA as SkPCA

from lab8widgets.models.project import cosine_similarity, pca, pca2, top_k


def table(seed=0, n=40, d=6):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * [5, 3, 1, 1, 0.5, 0.1][:d] + rng.normal(size=d)


def test_pca_is_the_svd_of_the_centred_rows_with_fixed_signs():
    x = table()
    p = pca(x, 3)
    c = x - x.mean(0)
    u, s, vt = np.linalg.svd(c, full_matrices=False)
    for i in range(3):
        sign = np.sign(vt[i, np.argmax(np.abs(vt[i]))])
        np.testing.assert_allclose(p.components[i], sign * vt[i], atol=1e-12)
        np.testing.assert_allclose(p.coords[:, i], sign * u[:, i] * s[i], atol=1e-10)
        assert p.components[i, np.argmax(np.abs(p.components[i]))] > 0
    np.testing.assert_allclose(p.explained, (s**2 / (s**2).sum())[:3], rtol=1e-12)
    np.testing.assert_allclose(p.mean, x.mean(0))


def test_pca_equals_scikit_learn_signs_included():
    x = table(1, 60, 5)
    p, ref = pca(x, 4), SkPCA(4, svd_solver="full").fit(x)
    np.testing.assert_allclose(p.coords, ref.transform(x), atol=1e-10)
    np.testing.assert_allclose(p.explained, ref.explained_variance_ratio_, rtol=1e-10)


def test_pca2_pads_a_one_wide_table_and_takes_tensors():
    x = table(2, 12, 1)
    out = pca2(x)
    assert out.shape == (12, 2) and np.allclose(out[:, 1], 0)
    np.testing.assert_allclose(np.abs(out[:, 0]), np.abs(x[:, 0] - x[:, 0].mean()))
    t = torch.tensor(table(3), dtype=torch.float32)
    np.testing.assert_allclose(pca2(t), pca2(t.double().numpy()), atol=1e-6)
    with pytest.raises(ValueError, match="2-D table"):
        pca(np.zeros(5))


def test_cosine_is_torchs_and_top_k_keeps_only_allowed_rows_in_order():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(20, 4, generator=g)
    sims = cosine_similarity(v, v[3])
    by_hand = (v @ v[3]).numpy() / (np.linalg.norm(v.numpy(), axis=1) * float(v[3].norm()))
    np.testing.assert_allclose(sims, by_hand, atol=1e-6)
    assert sims.dtype == np.float64 and sims[3] == pytest.approx(1.0)
    keep = np.ones(20, dtype=bool)
    keep[[3, 5]] = False
    order = top_k(sims, keep, 4)
    want = [i for i in np.argsort(-sims, kind="stable") if keep[i]][:4]
    assert order.tolist() == want
    tie = top_k(np.array([0.5, 0.9, 0.5, 0.9]), np.ones(4, dtype=bool), 4)
    assert tie.tolist() == [1, 3, 0, 2]


def test_every_lab_uses_the_one_pca_and_cosine():
    """The explorer's map, the entity lab's map and both neighbour look-ups call models.project."""
    import lab8widgets.models.collab.inspect as inspect
    import lab8widgets.models.explore.maps as maps
    import lab8widgets.models.project as project
    import lab8widgets.models.tabular.project as tabular

    assert tabular.pca2 is project.pca2
    assert maps.pca is project.pca and maps.cosine_similarity is project.cosine_similarity
    assert inspect.cosine_similarity is project.cosine_similarity and inspect.top_k is project.top_k
