"""The project's checks in place of a line limit: no import circle among lab8widgets' modules,
and the model layer never imports a widget or a view (it stays importable and testable alone).

The graph is read from the source with ``ast`` (nothing is imported), imports under
``if TYPE_CHECKING:`` included: a panel that names its lab's class for its types still depends on
that lab. A package's ``__init__`` importing its own submodules is how packages re-export, so a
strongly connected set made only of a package and its own submodules is not reported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lab8widgets

ROOT = Path(lab8widgets.__file__).resolve().parent
PKG = ROOT.name


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package (``pkg.sub`` for ``__init__``)."""
    found = {}
    for f in sorted(root.rglob("*.py")):
        parts = list(f.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = f
    return found


def imports(mod: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules that ``mod`` imports (``from a import b`` counts ``a.b`` when it is a
    module, else ``a``), TYPE_CHECKING blocks and function-level imports included."""
    here = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            stem = ".".join(base + ([node.module] if node.module else []))
            names = [f"{stem}.{a.name}" for a in node.names] + [stem]
        else:
            continue
        for name in names:
            if name.split(".")[0] != PKG:
                continue
            while name and name not in known:  # the longest module that name is or lies in
                name = name.rpartition(".")[0]
            if name and name != mod:
                out.add(name)
    return out


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    known = modules(root)
    return {m: imports(m, p, known) for m, p in known.items()}


def circles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected sets of more than one module (Tarjan, iterative), without the sets made
    only of a package and its own submodules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for start in g:
        if start in index:
            continue
        work = [(start, iter(sorted(g[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return [c for c in found if not all(a == c[0] or a.startswith(c[0] + ".") for a in c)]


def test_the_checker_finds_a_circle_and_reads_type_checking_imports(tmp_path):
    """The check itself: a planted circle through a TYPE_CHECKING import is found, a package's
    __init__ re-exporting its submodule is not."""
    pkg = tmp_path / PKG
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .inner import X\n")
    (pkg / "sub" / "inner.py").write_text(f"from {PKG}.sub import helper\nX = 1\n")
    (pkg / "a.py").write_text("from .b import B\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\nB = 1\n"
    )
    g = graph(pkg)
    assert g[f"{PKG}.a"] == {f"{PKG}.b"} and g[f"{PKG}.b"] == {f"{PKG}.a"}
    assert circles(g) == [[f"{PKG}.a", f"{PKG}.b"]]


def test_no_import_circle():
    found = circles(graph())
    assert not found, "import circles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_models_import_no_widget_or_view():
    g = graph()
    bad = {
        m: sorted(d for d in deps if d.startswith((f"{PKG}.widgets", f"{PKG}.views")))
        for m, deps in g.items()
        if m.startswith(f"{PKG}.models")
    }
    assert not {m: d for m, d in bad.items() if d}
