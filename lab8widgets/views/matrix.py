"""A matrix product on screen: ``matrix × vector = product``, each a heatmap, as one widget.

For the unrolled convolution (a matrix of tied kernel weights, each weight one colour and every
structural zero grey) or a one-hot matrix times an embedding. Groups shown before or after the
product (the crop and kernel, the reshaped result beside ``F.conv2d``) come in ``before``/``after``
as ``(key, values, props)``. No lesson knowledge: the caller computes, this shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .heatmap import HeatmapStack, nice_limit

__all__ = ["MatrixView"]

Extra = tuple[str, Any, dict[str, Any]]


def _cell(rows: int, cols: int, budget: int = 420) -> int:
    return int(max(4, min(22, budget // max(rows, cols, 1))))


class MatrixView(HeatmapStack):
    """``show(matrix, vector, product, ties=…)``: keys ("matrix",), ("vector",), ("product",)."""

    def show(
        self,
        matrix: Any,
        vector: Any,
        product: Any,
        *,
        ties: Any = None,
        titles: Sequence[str] = ("matrix", "vector", "product"),
        before: Sequence[Extra] = (),
        after: Sequence[Extra] = (),
        vector_scale: tuple[float, float] | None = None,
    ) -> None:
        """Lay out and fill the product in one message; ``ties`` colours the matrix by shared weight."""
        m = np.asarray(matrix, dtype=np.float32)
        v = np.asarray(vector, dtype=np.float32).reshape(-1, 1)
        p = np.asarray(product, dtype=np.float32).reshape(-1, 1)
        if m.ndim != 2 or m.shape[1] != v.shape[0] or m.shape[0] != p.shape[0]:
            raise ValueError(f"shapes do not multiply: {m.shape} × {v.shape[0]} = {p.shape[0]}")
        cell = _cell(*m.shape)
        text = cell >= 16
        pmax = nice_limit(float(np.abs(p).max(initial=0.0)))
        vlo, vhi = vector_scale if vector_scale is not None else (None, None)

        def extra_group(key: str, values: Any, props: dict[str, Any]) -> dict:
            props = {k: v for k, v in props.items() if k != "ties"}
            part = {k: props.pop(k) for k in ("cmap", "vmin", "vmax", "legend") if k in props}
            return {"key": key, "parts": [{**part, "grids": [{"key": (key,), **props}]}]}

        groups = [extra_group(*e) for e in before]
        groups += [
            {
                "key": "matrix",
                "parts": [
                    {
                        "grids": [
                            {
                                "key": ("matrix",),
                                "cell": cell,
                                "show_values": text,
                                "title": titles[0],
                                "subtitle": f"{m.shape[0]}×{m.shape[1]}",
                            }
                        ]
                    }
                ],
            },
            {
                "key": "vector",
                "symbol": "×",
                "parts": [
                    {
                        "cmap": "gray",
                        "vmin": vlo,
                        "vmax": vhi,
                        "grids": [
                            {
                                "key": ("vector",),
                                "cell": cell,
                                "show_values": text,
                                "title": titles[1],
                                "subtitle": f"{v.shape[0]}×1",
                            }
                        ],
                    }
                ],
            },
            {
                "key": "product",
                "symbol": "=",
                "parts": [
                    {
                        "vmin": -pmax,
                        "vmax": pmax,
                        "grids": [
                            {
                                "key": ("product",),
                                "cell": cell,
                                "show_values": text,
                                "title": titles[2],
                                "subtitle": f"{p.shape[0]}×1",
                            }
                        ],
                    }
                ],
            },
        ]
        groups += [extra_group(*e) for e in after]
        with self.batch():
            self.set_layout(groups)
            self.set(("matrix",), m, ties=ties)
            self.set(("vector",), v)
            self.set(("product",), p)
            for key, values, props in (*before, *after):
                self.set((key,), np.asarray(values, dtype=np.float32), ties=props.get("ties"))
