"""The README and docs/ say what is true: their commands are CI's, their code runs as written, their
figures come from the benchmarks' recorded output, and CONTRIBUTING names every package."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lab8widgets.labs import LABS
from tests.prereqs import PREREQS

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
sys.path.insert(0, str(ROOT / "benchmarks"))
import figures  # noqa: E402  (benchmarks/figures.py: the performance table's generator)


def blocks(path: Path, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


# --- the commands -----------------------------------------------------------------------------


def test_readme_commands_are_what_ci_runs():
    serve, test = blocks(README, "bash")[:2]
    assert serve.strip() == "pip install . && lab8widgets serve"
    lines = test.strip().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert lines[-1] == ci[-1] == 'pip install -e ".[test]" && python -m pytest'
    # the prerequisites named on the command's lines are the ones the check checks
    system = [p.install for p in PREREQS if not p.install.startswith("pip ")]
    assert lines[0] == " && ".join(system)
    assert ci[-2] == "python -m tests.prereqs" and "`python -m tests.prereqs`" in README.read_text()
    for p in PREREQS:
        assert p.install in test, p.name


def test_the_prerequisites_check_passes_here():
    """The README's prerequisites, checked on this machine as CI checks them before the tests."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.prereqs"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok ") >= len(PREREQS)


def test_cpu_only_note_names_torchvision_and_ci_runs_it():
    """The note takes torch and torchvision from the CPU index within pyproject's torch range (a
    newer CPU torch would be swapped for PyPI's CUDA build by `pip install .`); CI runs it."""
    note = re.search(
        r'^pip install "torch<=([\d.]+)" "torchvision<=([\d.]+)" --index-url (\S+) && pip install \.$',
        README.read_text(),
        re.M,
    )
    assert note, "the README's CPU-only install line"
    torch_pin = re.search(r'"torch>=[\d.]+,<=([\d.]+)"', (ROOT / "pyproject.toml").read_text())
    assert torch_pin and note.group(1) == torch_pin.group(1)
    assert note.group(3) == "https://download.pytorch.org/whl/cpu"
    ci = (ROOT / ".ci" / "run").read_text()
    assert "torchvision.* --index-url" in ci and "nvidia-" in ci and '"+cpu"' in ci


# --- every Python block runs as written -------------------------------------------------------

PREAMBLE = """\
import inspect, os, sys, tempfile
os.environ["LAB8WIDGETS_OFFLINE"] = "1"                     # offline, as on a plane
os.environ["FASTAI_HOME"] = tempfile.mkdtemp()              # an empty fastai cache
import numpy as np
my_array = np.random.default_rng(0).random((28, 28))      # "your own image"
folder = tempfile.mkdtemp()                                 # "a folder of yours"
_ran = set()
def _run_tests():
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn) and name not in _ran:
            _ran.add(name)
            if not inspect.signature(fn).parameters:        # fixtures need pytest: defined only
                fn()
"""


def script(path: Path) -> str:
    """``path``'s Python blocks, in order, after the hidden preamble; a line that needs a GPU
    becomes ``pass`` where there is none; each block's argument-free ``test_*`` functions run."""
    parts = [PREAMBLE]
    for i, block in enumerate(blocks(path, "python")):
        lines = []
        for line in block.splitlines():
            if ".cuda()" in line and not torch.cuda.is_available():
                indent = line[: len(line) - len(line.lstrip())]
                line = f"{indent}pass  # needs a GPU: {line.strip()}"
            lines.append(line)
        parts += [f"print('block {i + 1} starts', flush=True)", *lines, "_run_tests()"]
    parts.append("print('all blocks ran', flush=True)")
    return "\n".join(parts) + "\n"


def run_blocks(path: Path, timeout: float) -> None:
    done = subprocess.run(
        [sys.executable, "-c", script(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    started = re.findall(r"block (\d+) starts", done.stdout)
    where = f"{path.name} block {started[-1] if started else '?'}"
    assert done.returncode == 0, f"{where} failed:\n{done.stderr[-3000:]}"
    assert "all blocks ran" in done.stdout


def test_readme_python_blocks_run_in_order_offline():
    assert len(blocks(README, "python")) >= 2
    run_blocks(README, timeout=600)


def test_lab_guide_python_blocks_run_in_order_offline():
    assert len(blocks(DOCS / "labs.md", "python")) == 7
    run_blocks(DOCS / "labs.md", timeout=1200)


def test_gpu_lines_are_skipped_without_a_gpu(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("```python\nimport torch\nt = torch.ones(1)\nt = t.cuda()\n```\n")
    if torch.cuda.is_available():
        assert "pass  # needs a GPU" not in script(doc)
    else:
        assert "\npass  # needs a GPU: t = t.cuda()\n" in script(doc)
    run_blocks(doc, timeout=120)


# --- what the README shows --------------------------------------------------------------------


def test_readme_is_a_short_guide():
    assert len(README.read_text().splitlines()) <= 230


def test_readme_names_every_data_source_and_licence():
    readme = README.read_text()
    for needle in ("MNIST", "CC BY-SA 3.0", "MovieLens", "GroupLens", "no commercial use",
                   "synthetic", "Rossmann", "GeoNames", "CC BY 4.0"):  # fmt: skip
        assert needle in readme, needle


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.name for p in DOCS.glob("*.md"))])
def test_pictures_and_links_exist(doc):
    path = ROOT / doc if doc == "README.md" else DOCS / doc
    for target in re.findall(r"\]\(([^)#]+)\)", path.read_text()):
        if not target.startswith("http"):
            assert (path.parent / target).exists(), f"{doc} links to missing {target}"


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
    rows = lab_table(README.read_text())
    got = []
    for row in rows:
        serve = row[-1]
        name = "index" if serve == "*(no name)*" else serve.strip("`")
        got.append((name, row[0].strip("`")))
    want = [(lab.name, "index" if lab.name == "index" else lab.class_name) for lab in LABS]
    assert sorted(got) == sorted(want), "README's lab table and lab8widgets/labs.py disagree"


def test_readme_serve_paragraph_names_the_safety_options():
    readme = README.read_text()
    assert "--cull-idle" in readme and "0.0.0.0" in readme and "JupyterHub" in readme


# --- figures that cannot drift ----------------------------------------------------------------

SPEED = re.compile(r"\b\d[\d.,]*\s?(?:ms|×)|\b\d+\.\d+\s?s\b")


def test_speed_tables_are_generated_from_the_recorded_figures():
    assert figures.stale() == [], "run `python benchmarks/figures.py render`"
    records = json.loads((DOCS / "figures.json").read_text())
    assert {row.key for row in figures.ROWS} | {
        "roundtrip_jupyterlab",
        "classroom",
        "classroom_fork",
    } <= set(records)
    for key, rec in records.items():
        assert not rec["figures"].get("quick"), f"{key}: a --quick run's figures are recorded"
        assert (ROOT / rec["script"]).is_file(), key


def test_a_changed_figure_changes_the_table():
    records = figures.load()
    records["roundtrip"] = {**records["roundtrip"], "figures": {
        **records["roundtrip"]["figures"], "serve_p50_ms": 99.0, "ratio": 0.5}}  # fmt: skip
    text = (DOCS / "performance.md").read_text(encoding="utf-8")
    assert "99.0 ms (`lab8widgets serve`)" in figures.rendered(text, records, "performance")
    assert "99.0 ms (`lab8widgets serve`)" not in text


def test_readme_holds_no_speed_figure_but_generated_ones():
    """The README's speed figures are only those generated from the recorded runs (its class
    table); none is typed into its text, where it would drift."""
    text = README.read_text()
    generated = re.compile(r"<!-- figures:(\w+) start.*?<!-- figures:\1 end -->", re.S)
    assert generated.search(text), "the class table is generated (benchmarks/figures.py)"
    found = SPEED.findall(generated.sub("", text))
    assert found == [], f"speed figures in the README's text: {found}"


# --- CONTRIBUTING's layout --------------------------------------------------------------------


def test_contributing_layout_names_every_package():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    layout = text.split("## Layout", 1)[1].split("\n## ", 1)[0]
    pkg = ROOT / "lab8widgets"
    for init in sorted(pkg.rglob("__init__.py")):
        rel = init.parent.relative_to(pkg)
        if rel == Path(".") or "static" in rel.parts or "_notebooks" in rel.parts:
            continue
        parts = rel.parts
        # labs and model topics are named generically: widgets/<lab>/, models/<topic>/
        if parts[0] == "widgets" and len(parts) > 1:
            assert "widgets/<lab>/" in layout, rel
            continue
        assert f"{parts[-1]}/" in layout, f"CONTRIBUTING's layout does not name lab8widgets/{rel}/"
