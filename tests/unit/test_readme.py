"""The README's two quick-start commands are the ones CI and users actually run."""

from __future__ import annotations

import re
from pathlib import Path

from lab8widgets.labs import LABS

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


def lab_table(readme: str) -> list[list[str]]:
    """The rows of the table under "## The labs" (cells stripped, header and rule dropped)."""
    section = readme.split("## The labs", 1)[1]
    rows = []
    for line in section.splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[2:]


def test_readme_lab_table_lists_exactly_the_registry():
    """One row per registry lab: its class in the first column, its `serve` name in the last."""
    rows = lab_table((ROOT / "README.md").read_text())
    got = []
    for row in rows:
        serve = row[-1]
        name = "index" if serve == "*(no name)*" else serve.strip("`")
        got.append((name, row[0].strip("`")))
    want = [(lab.name, "index" if lab.name == "index" else lab.class_name) for lab in LABS]
    assert sorted(got) == sorted(want), "README's lab table and lab8widgets/labs.py disagree"


def test_readme_serve_paragraph_names_the_safety_options():
    readme = (ROOT / "README.md").read_text()
    assert "--cull-idle" in readme and "0.0.0.0" in readme and "JupyterHub" in readme
    assert "download.pytorch.org/whl/cpu" in readme  # the CPU-only torch wheel
