"""The reference data beside the repository (``../shared/data``), and one rule for every test of it.

Tests that only need the *format* of a data set read the small fixtures in ``tests/fixtures/``
(exactly the real formats, invented numbers). Tests of the real files ask for them here:

- where the files are, the test runs;
- on a fresh clone (no ``../shared``), it skips and says where it looked and how to make it run;
- with ``LAB8_REQUIRE_SHARED_DATA=1`` (``.ci/run`` sets it), a missing file FAILS, so CI can never
  pass with those tests silently unrun.

``LAB8_SHARED_DATA`` points at another copy of the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
REQUIRE_ENV = "LAB8_REQUIRE_SHARED_DATA"
LOCATION_ENV = "LAB8_SHARED_DATA"


def shared_data_dir() -> Path:
    """``$LAB8_SHARED_DATA``, else ``shared/data`` beside the repository."""
    return Path(os.environ.get(LOCATION_ENV) or ROOT.parent / "shared" / "data")


def required() -> bool:
    """True where missing reference data must fail the run (CI)."""
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def missing_message(path: Path) -> str:
    if required():
        return (
            f"reference data not at {path}, and {REQUIRE_ENV}=1 makes it required: put the "
            f"shared data folder beside the repository or point {LOCATION_ENV} at it"
        )
    return (
        f"reference data not at {path} (the shared data folder beside the repository, or "
        f"{LOCATION_ENV}); set {REQUIRE_ENV}=1 to make its absence a failure"
    )


def shared_file(*parts: str) -> Path:
    """The reference file ``parts`` under the shared data folder; skips or fails (see above)."""
    path = shared_data_dir().joinpath(*parts)
    if path.exists():
        return path
    if required():
        pytest.fail(missing_message(path), pytrace=False)
    pytest.skip(missing_message(path))
