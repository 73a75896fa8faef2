"""The TensorFlow Embedding Projector's two TSV files (projector.tensorflow.org → Load): one row of
numbers per vector, and a metadata table with a header whose rows are in the same order.

Every lab that trains an embedding (movie and user factors, entity embeddings, word rows) writes
through ``projector_files``, so the files always agree in shape, order and labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["projector_files", "write_projector"]


def _cell(v: Any) -> str:
    """One metadata cell: tabs and newlines would break the table, so they become spaces."""
    return " ".join(str(v).split())


def projector_files(
    name: str, vectors: Any, metadata: Mapping[str, Sequence[Any]] | Sequence[Any]
) -> dict[str, str]:
    """``{"<name>_vectors.tsv": text, "<name>_metadata.tsv": text}`` for ``vectors`` (n × d) and
    ``metadata``: a label per row, or columns by name (each n long)."""
    if not isinstance(name, str) or not name.strip() or any(c in name for c in "/\\\0"):
        raise ValueError(f"name must be a plain file name stem, got {name!r}")
    v = np.asarray(vectors.detach().cpu() if hasattr(vectors, "detach") else vectors, dtype=float)
    if v.ndim != 2 or v.shape[0] == 0:
        raise ValueError(f"vectors must be a non-empty n × d matrix, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("vectors hold NaN or infinite values: the projector cannot place them")
    cols = dict(metadata) if isinstance(metadata, Mapping) else {"label": list(metadata)}
    for col, values in cols.items():
        if len(values) != len(v):
            raise ValueError(f"metadata column {col!r} has {len(values)} rows for {len(v)} vectors")
    vec_text = "".join("\t".join(f"{x:.6g}" for x in row) + "\n" for row in v)
    header = "\t".join(_cell(c) for c in cols)
    rows = zip(*cols.values(), strict=True)
    meta_text = header + "\n" + "".join("\t".join(_cell(x) for x in r) + "\n" for r in rows)
    return {f"{name}_vectors.tsv": vec_text, f"{name}_metadata.tsv": meta_text}


def write_projector(
    folder: str | Path, name: str, vectors: Any, metadata: Mapping | Sequence
) -> tuple[Path, Path]:
    """Write ``projector_files`` into ``folder`` (created if missing); return the two paths."""
    files = projector_files(name, vectors, metadata)
    out = Path(folder).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fname, text in files.items():
        (out / fname).write_text(text, encoding="utf-8")
        paths.append(out / fname)
    return paths[0], paths[1]
