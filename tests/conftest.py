"""Fixtures every test layer may use: the real reference data, under one rule (see reference_data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference_data import shared_file


@pytest.fixture
def ml_latest_small() -> Path:
    """The real MovieLens ml-latest-small folder (100,004 ratings): runs where it is, skips on a
    fresh clone, fails under LAB8_REQUIRE_SHARED_DATA=1."""
    shared_file("ml-latest-small", "movies.csv")
    return shared_file("ml-latest-small", "ratings.csv").parent
