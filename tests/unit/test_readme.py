"""The README's two quick-start commands are the ones CI and users actually run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    assert blocks[0].strip() == "pip install . && lab8widgets serve"
    assert blocks[1].strip() == ci[-1].strip() == 'pip install -e ".[test]" && python -m pytest'


def test_readme_names_every_data_source_and_licence():
    readme = (ROOT / "README.md").read_text()
    for needle in (
        "MNIST",
        "CC BY-SA 3.0",
        "MovieLens",
        "GroupLens",
        "no commercial use",
        "synthetic",
    ):
        assert needle in readme


def test_readme_pictures_exist():
    readme = (ROOT / "README.md").read_text()
    for pic in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme):
        assert (ROOT / pic).is_file(), pic
