"""ConvLab's chain (kernels → conv1 → … → dense → softmax) as one ``HeatmapStack``: its layout (cell
sizes, titles, notes), painting ``lab.activations`` into it, the receptive-field highlights, and the
one-line summary above it. Views only: every number comes from the model and its stages."""

from __future__ import annotations

import html
import math
from collections import OrderedDict

import numpy as np

from ...models.conv import SpreadsheetCNN, StageMeta
from ...models.layers import FORMULAS
from ...views.heatmap import HeatmapStack, nice_limit

__all__ = [
    "chain_layout",
    "highlight_chain",
    "paint_chain",
    "shape_text",
    "stage_title",
    "summary_html",
]

MAP_STAGES = ("conv1", "act1", "conv2", "act2", "mask", "dropout", "pool")
# Width budget (px) for the chain at 1280 px: beyond it, the chain scrolls inside its own box.
CHAIN_WIDTH, MIN_COL = 1000, 92
KERNEL_HEIGHT = 430  # px: the kernel editors' column never grows taller than this


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _note(stage: str, m: StageMeta, model: SpreadsheetCNN) -> list[str]:
    """Two short lines under a column title: how it is computed, and its parameter count."""
    if stage == "conv1":
        return [
            f"{m.kernel}×{m.kernel}, stride {m.stride}, pad {m.padding}",
            f"{m.params:,} params",
        ]
    if stage == "conv2":
        return [f"{m.kernel}×{m.kernel}×{model.n_filters}, pad {m.padding}", f"{m.params:,} params"]
    if stage == "pool":
        if model.pool_type == "none":
            return ["none: = its input"]
        return [f"{model.pool_type} {m.kernel}×{m.kernel}, stride {m.stride}"]
    if stage == "mask":
        p = model.dropout
        if not model.training:
            return [f"p = {p:g}", "eval: no mask"]
        return [f"p = {p:g}, seed {model.drop.seed}", f"kept × 1/(1−p) = ×{1 / (1 - p):.3g}"]
    if stage == "dropout":
        return ["mask · act2 / (1−p)" if model.training else "eval: = act2"]
    return [FORMULAS.get(model.activation, model.activation)]


ACTIVATION_TITLES = {
    "relu": "ReLU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "mish": "Mish",
}


def stage_title(stage: str, model: SpreadsheetCNN) -> str:
    """A stage's name on screen: 'act1'/'act2' (the activation's outputs, whichever function it is)
    carry the function's name ("act1: Mish"), as the same keys do in ``lab.activations``."""
    if stage in ("act1", "act2"):
        return f"{stage}: {ACTIVATION_TITLES.get(model.activation, model.activation)}"
    return {"mask": "dropout mask", "dropout": "dropout"}.get(stage, stage)


def chain_layout(meta: OrderedDict[str, StageMeta], model: SpreadsheetCNN) -> list[dict]:
    """The chain's groups for ``HeatmapStack``: kernels, one column per stage, dense → softmax.

    Cell sizes aim at CHAIN_WIDTH for the default network (no scrolling at 1280 px); larger ones
    keep readable cells and scroll inside the chain's box.
    """
    n, k = model.n_filters, model.kernel_size
    # kernel editors keep cells big enough to read and drag (≥ 20 px) and stack at most KERNEL_HEIGHT
    # high; more kernels go side by side (the chain scrolls sideways, never down the page)
    kcell = int(max(20, min(36, 150 // k)))
    rows = max(1, min(n, int(KERNEL_HEIGHT // (k * kcell + 32))))
    cols = math.ceil(n / rows)
    rows = math.ceil(n / cols)
    kernel_w = max(cols * (k * kcell + 14), 112)
    groups: list[dict] = [
        {
            "key": "kernels",
            "title": "layer-1 kernels",
            "notes": [f"{n}×{k}×{k}", "drag ↕ · double-click to type"],
            "parts": [
                {
                    "columns": cols,
                    "legend": True,
                    "grids": [
                        {
                            "key": ("kernel", i),
                            "cell": kcell,
                            "show_values": True,
                            "decimals": 2 if kcell >= 30 else 1,
                            "editable": True,
                            "step": 0.1,
                            "title": f"filter {i}",
                        }
                        for i in range(n)
                    ],
                }
            ],
        }
    ]
    stages = [s for s in MAP_STAGES if s in meta or (s == "mask" and "dropout" in meta)]
    shape = {s: meta["act2" if s == "mask" else s].shape for s in stages}
    mcols = {s: math.ceil(shape[s][0] / 2) for s in stages}  # at most two rows of maps
    spare = CHAIN_WIDTH - kernel_w - 170 - len(stages) * 14
    by_width = spare / sum(mcols[s] * (shape[s][2] + 3) for s in stages)
    for stage in stages:
        C, H, Wd = shape[stage]
        mrows = math.ceil(C / mcols[stage])
        budget = 430 if stage != "conv2" else 330
        cell = int(max(3, min(7, by_width, (budget / mrows - 36) // H)))
        label = (
            "filter" if stage in ("conv1", "conv2") else ("channel" if mcols[stage] == 1 else "ch")
        )
        gray = stage == "mask"
        maps = {
            "columns": mcols[stage],
            "legend": not gray,
            "cmap": "gray" if gray else "diverging",
            "vmin": 0.0 if gray else None,
            "vmax": 1.0 if gray else None,
            "grids": [
                {"key": (stage, ch), "cell": cell, "title": f"{label} {ch}"} for ch in range(C)
            ],
        }
        parts = [maps]
        if stage == "conv2":
            width = max(mcols[stage] * (Wd * cell + 12), MIN_COL)
            wcell = int(max(4, min(8, (width - 12) // (n * k))))
            weights = {
                "grids": [
                    {
                        "key": ("conv2w", j),
                        "cell": wcell,
                        "title": f"filter {j} weights",
                        "subtitle": f"{n} channels × {k}×{k}",
                    }
                    for j in range(C)
                ]
            }
            parts = [weights, maps]
        m = meta.get(stage) if stage != "mask" else meta["dropout"]
        notes = [shape_text(shape[stage]), *_note(stage, m, model)]
        groups.append(
            {"key": stage, "title": stage_title(stage, model), "notes": notes, "parts": parts}
        )
    cls = model.classes
    feats = math.prod(meta["pool"].shape)
    groups.append(
        {
            "key": "dense",
            "title": "dense → softmax",
            "notes": [f"{feats} → {len(cls)}", f"{meta['dense'].params:,} params"],
            "parts": [
                {
                    "grids": [
                        {
                            "key": ("dense",),
                            "cell": 40,
                            "show_values": True,
                            "decimals": 2,
                            "title": "dense (logits)",
                            "subtitle": " | ".join(cls),
                        }
                    ]
                },
                {
                    "cmap": "gray",
                    "vmin": 0.0,
                    "vmax": 1.0,
                    "grids": [
                        {
                            "key": ("output",),
                            "cell": 40,
                            "show_values": True,
                            "decimals": 2,
                            "title": "softmax",
                            "subtitle": " | ".join(cls),
                        }
                    ],
                },
            ],
        }
    )
    return groups


def paint_chain(
    chain: HeatmapStack,
    model: SpreadsheetCNN,
    acts: OrderedDict[str, np.ndarray],
    mask: np.ndarray | None,
) -> None:
    """Every grid of the chain from ``acts`` (what the lab displays) and the model's weights."""
    m = model
    kernels = m.conv1.weight.detach().cpu()[:, 0].numpy()
    kmax = nice_limit(float(np.abs(kernels).max(initial=0.0)), floor=1.0)
    chain.set_scale("kernels", 0, vmin=-kmax, vmax=kmax)
    for i in range(m.n_filters):
        chain.set(("kernel", i), kernels[i], subtitle=m.filter_presets[i] or "edited")
    for stage in ("conv1", "act1", "conv2", "act2", "dropout", "pool"):
        if stage not in acts:
            continue
        a = acts[stage]
        vmax = nice_limit(float(np.abs(a).max(initial=0.0)))  # one colour scale per stage
        chain.set_scale(stage, 1 if stage == "conv2" else 0, vmin=-vmax, vmax=vmax)
        for ch in range(a.shape[0]):
            chain.set((stage, ch), a[ch])
    if mask is not None and "dropout" in acts:
        for ch in range(mask.shape[0]):
            chain.set(("mask", ch), mask[ch])
    w2 = m.conv2.weight.detach().cpu().numpy()  # (c2, n, k, k) shown as k × (n·k)
    w2max = nice_limit(float(np.abs(w2).max(initial=0.0)))
    chain.set_scale("conv2", 0, vmin=-w2max, vmax=w2max)
    for j in range(w2.shape[0]):
        chain.set(("conv2w", j), np.concatenate(list(w2[j]), axis=1))
    dmax = nice_limit(float(np.abs(acts["dense"]).max(initial=0.0)))
    chain.set_scale("dense", 0, vmin=-dmax, vmax=dmax)
    chain.set(("dense",), acts["dense"])
    chain.set(("output",), acts["output"])


def highlight_chain(
    chain: HeatmapStack,
    meta: OrderedDict[str, StageMeta],
    sel: tuple[str, int, int, int] | None,
    windows: OrderedDict,
) -> None:
    """Orange windows of the selected cell's receptive field in every earlier stage, and the cell."""
    for key in chain.grid_keys:
        stage = "dropout" if key[0] == "mask" else key[0]
        if stage not in meta:  # kernels and conv2 weights
            continue
        ch = key[1] if len(key) > 1 else 0
        hl: list[list[int]] = []
        if sel is not None and stage in windows and stage != sel[0]:
            w = windows[stage]
            if w.channels is None or ch in w.channels:
                hl = [[w.r0, w.c0, w.r1, w.c1]]
        picked = sel is not None and sel[0] == stage and sel[1] == ch and key[0] != "mask"
        chain.set(key, highlight=hl, selected=[sel[2], sel[3]] if picked else [])


def summary_html(meta: OrderedDict[str, StageMeta], model: SpreadsheetCNN) -> str:
    """The network in one line: each stage's name, shape and parameters, and the total."""
    total = sum(s.params for s in meta.values())
    parts = []
    for name, s in meta.items():
        label = {"output": "softmax", "dropout": f"dropout p={model.dropout:g}"}.get(name, name)
        if name in ("act1", "act2"):
            label = stage_title(name, model)
        elif name == "pool":
            label = "no pool" if model.pool_type == "none" else f"{model.pool_type} pool {s.kernel}"
        params = f" ({s.params:,})" if s.params else ""
        parts.append(f"<b>{html.escape(label)}</b> {shape_text(s.shape)}{params}")
    return (
        f"<div class='lab8-conv-summary'>{' → '.join(parts)} · <b>{total:,}</b> parameters "
        f"(no conv bias)</div>"
    )
