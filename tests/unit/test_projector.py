"""The Embedding Projector's TSV files: read back, they give the same vectors, order and labels."""

import base64
import re

import numpy as np
import pandas as pd
import pytest
import torch

from lab8widgets.models.projector import projector_files, write_projector
from lab8widgets.views.download import download_links


def test_files_read_back_in_order(tmp_path):
    v = torch.randn(5, 3)
    titles = ["Toy Story (1995)", "Heat\t(1995)", "Se7en", "Fargo", "Babe"]
    vec, meta = write_projector(tmp_path / "out", "movies", v, {"title": titles, "n": range(5)})
    assert vec.name == "movies_vectors.tsv" and meta.name == "movies_metadata.tsv"
    back = np.loadtxt(vec, delimiter="\t")
    assert back.shape == (5, 3)
    np.testing.assert_allclose(back, v.numpy(), rtol=1e-5, atol=1e-6)
    table = pd.read_csv(meta, sep="\t")
    assert list(table.columns) == ["title", "n"]
    assert list(table["title"]) == ["Toy Story (1995)", "Heat (1995)", "Se7en", "Fargo", "Babe"]


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="3 rows for 2 vectors"):
        projector_files("x", np.zeros((2, 2)), ["a", "b", "c"])
    with pytest.raises(ValueError, match="NaN"):
        projector_files("x", np.array([[np.nan, 1.0]]), ["a"])
    with pytest.raises(ValueError, match="file name"):
        projector_files("../x", np.zeros((1, 2)), ["a"])


def test_download_links_carry_the_files():
    files = projector_files("w", np.eye(2), ["a", "b"])
    page = download_links(files).value
    assert page.count("<a ") == 2
    for name, text in files.items():
        data = re.search(rf'download="{name}" href="[^,]*,([^"]*)"', page).group(1)
        assert base64.b64decode(data).decode() == text
