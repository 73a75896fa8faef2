"""What ScratchLab's sections share and that needs no lab state: boxes that scroll instead of
clipping, bqplot and HeatmapGrid factories, and HTML renderers that turn results of
``lab8widgets.models.embedding`` into tables and notes. No math: every number is read from a result."""

from __future__ import annotations

import html
from typing import Any

import bqplot as bq
import ipywidgets as W
import torch
from torch import nn

from ...models import embedding as M
from ...views.heatmap import HeatmapGrid

GREEN, PURPLE = "#2ca02c", "#9467bd"


# --- layout and widget factories ------------------------------------------------------------------


def scroll(child: W.Widget, max_height: str = "360px") -> W.Box:
    """A box that scrolls its (possibly huge) matrix instead of clipping it or the page.

    The child keeps its own size (no stretching or shrinking to the box, where its own
    ``overflow: hidden`` would cut it with no scrollbar); the box scrolls past ``max_height``."""
    child.layout.flex = "0 0 auto"
    return W.Box(
        [child],
        layout=W.Layout(
            max_width="100%", max_height=max_height, overflow="auto", align_items="flex-start"
        ),
    )


def op(symbol: str, operand: W.Widget) -> W.HBox:
    """An operator glued to its right operand, so a wrapping row never leaves it alone at an end."""
    return W.HBox(
        [W.HTML(f'<div class="lab8-op">{symbol}</div>'), operand],
        layout=W.Layout(align_items="flex-start", max_width="100%"),
    )


def tagged(widget: W.Widget, name: str) -> Any:
    """``widget`` with the CSS class ``name`` (tests and styles find it by that)."""
    widget.add_class(name)
    return widget


def html_box(name: str, value: str = "", **layout: Any) -> W.HTML:
    return tagged(W.HTML(value, layout=W.Layout(**layout)), name)


def button(description: str, icon: str, name: str, on_click) -> W.Button:
    b = tagged(W.Button(description=description, icon=icon), name)
    b.on_click(lambda _b: on_click())
    return b


def grid(name: str, title: str, decimals: int = 2, **kw: Any) -> HeatmapGrid:
    """A matrix that shows its numbers with ``decimals`` places when its cells are big enough."""
    return tagged(HeatmapGrid(title=title, decimals=decimals, **kw), name)


def cell_size(rows: int, cols: int, budget: int, lo: int, hi: int = 22) -> int:
    """Pixels a cell so the matrix's longer side fits ``budget`` (between ``lo`` and ``hi``)."""
    return int(min(hi, max(lo, budget // max(rows, cols, 1))))


def lines(colors: list[str], xscale=None, yscale=None, **kw: Any) -> bq.Lines:
    scales = {"x": xscale or bq.LinearScale(), "y": yscale or bq.LinearScale(min=0)}
    return bq.Lines(x=[], y=[], scales=scales, colors=colors, **kw)


def histogram_lines(colors: list[str]) -> bq.Lines:
    """Step lines filled to the axis: a histogram whose bins come from ``M.histogram``."""
    return lines(colors, fill="bottom", interpolation="step-after", fill_opacities=[0.4] * 2)


def figure(mark: bq.Lines, name: str, labels: tuple[str, str], title: str, size, **kw) -> bq.Figure:
    xaxis = kw.pop("xaxis", {})
    fig = bq.Figure(
        marks=[mark],
        axes=[
            bq.Axis(scale=mark.scales["x"], label=labels[0], **xaxis),
            bq.Axis(scale=mark.scales["y"], orientation="vertical", label=labels[1]),
        ],
        title=title,
        fig_margin=dict(top=40, bottom=45, left=60, right=10),
        layout=W.Layout(width=f"{size[0]}px", height=f"{size[1]}px"),
        **kw,
    )
    return tagged(fig, name)


# --- HTML renderers -------------------------------------------------------------------------------


def vec(t: torch.Tensor, n: int = 4) -> str:
    vals = [f"{v:+.3f}" for v in t.detach().flatten()[:n].tolist()]
    return "[" + ", ".join(vals) + (", …]" if t.numel() > n else "]")


def split(text: str) -> list[str]:
    """The items of a typed list (commas or spaces), to tell a new request from what is shown."""
    return [p for p in str(text).replace(",", " ").split() if p]


def short(xs: list[int], n: int) -> str:
    return "[" + ", ".join(map(str, xs[:n])) + (", …]" if len(xs) > n else "]")


def table(name: str, caption: str, head: list[str], rows: list[str]) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    return (
        f'<table class="lab8-table {name}"><caption>{caption}</caption><tr>{th}</tr>'
        f"{''.join(rows)}</table>"
    )


def note(text: str, **data: Any) -> str:
    attrs = "".join(f' data-{k}="{v}"' for k, v in data.items())
    return f'<div class="lab8-note"{attrs}>{text}</div>'


def code_html(m: M.ToggleModule) -> str:
    """The module as the lesson writes it, with ``a``'s line as it is now."""
    a_line = (
        "self.a = <b>nn.Parameter</b>(torch.ones(3))"
        if m.use_parameter
        else "self.a = torch.ones(3)  <i># plain tensor</i>"
    )
    return (
        '<pre class="lab8-code">class T(nn.Module):\n    def __init__(self):\n'
        f"        super().__init__()\n        {a_line}\n"
        f"        self.lin = nn.Linear({m.lin.in_features}, {m.lin.out_features})\n"
        "    def forward(self, x): return self.lin(x * self.a)</pre>"
    )


def params_html(m: M.ToggleModule) -> str:
    """``named_parameters()`` as a table, what it leaves out, and ``nn.Linear``'s shapes."""
    lin = m.lin
    rows = [
        f'<tr data-name="{n}"><td><code>{n}</code></td><td>{tuple(p.shape)}</td>'
        f"<td>{p.requires_grad}</td></tr>"
        for n, p in m.named_parameters()
    ]
    untracked = [k for k, v in m.tensors().items() if not isinstance(v, nn.Parameter)]
    missing = (
        note(
            f"Not listed: <code>{', '.join(untracked)}</code> (a plain tensor attribute), so the "
            "optimizer never sees it."
        )
        if untracked
        else ""
    )
    caption = f"<code>list(t.named_parameters())</code> · {len(rows)} tensors"
    return (
        table("lab8-scratch-param-table", caption, ["name", "shape", "requires_grad"], rows)
        + missing
        + note(
            f"<code>nn.Linear(in_features={lin.in_features}, out_features={lin.out_features})"
            f"</code> holds <code>weight</code> {tuple(lin.weight.shape)} = (out, in) and "
            f"<code>bias</code> {tuple(lin.bias.shape)} = (out,): it computes "
            "<code>x @ weight.T + bias</code>."
        )
    )


def step_html(st: M.StepResult | None) -> str:
    """Each tensor before and after one SGD step, and whether it moved."""
    if st is None:
        return note("Press <b>One SGD step</b> to see which numbers move.")
    rows = [
        f'<tr data-name="{k}" data-moved="{str(st.moved[k]).lower()}"><td><code>{k}</code></td>'
        f"<td>{'yes' if st.tracked[k] else 'no'}</td><td>{vec(st.before[k])}</td>"
        f"<td>{vec(st.after[k])}</td><td>{'<b>moved</b>' if st.moved[k] else 'unchanged'}</td></tr>"
        for k in st.before
    ]
    caption = f"one <code>SGD(t.parameters(), lr=0.1)</code> step, MSE loss {st.loss:.4f}"
    head = ["tensor", "in parameters()", "before", "after", ""]
    return table("lab8-scratch-step-table", caption, head, rows)


def lookup_html(c: M.Lookup) -> str:
    """Whether both paths agree, in value and in gradient, and which rows got a gradient."""

    def ok(same: bool) -> str:
        return '<span class="lab8-ok">equal</span>' if same else "<b>differ</b>"

    n_rows, k = c.E.shape
    return note(
        f"indices <code>{c.indices}</code> into a {n_rows} × {k} table.<br>"
        f"Values: {ok(c.values_equal)} (max |difference| {c.max_value_diff:.2e}).<br>"
        f"Gradients on <code>E</code> after <code>backward</code> with the same upstream gradient: "
        f"{ok(c.grads_equal)} (max |difference| {c.max_grad_diff:.2e}).<br>"
        f"Only rows <code>{c.nonzero_grad_rows}</code> have a non-zero gradient: a row is trained "
        "only when it is looked up (a repeated index adds its gradients).",
        equal=str(c.values_equal and c.grads_equal).lower(),
    )


TIMING_HINT = note(
    "Press <b>Time both paths</b>: both run on tables of 10 to 100,000 rows (a few seconds, in "
    "the background; Stop works)."
)


def timings_html(timings: list[dict[str, float]]) -> str:
    rows = [
        f'<tr><td class="num">{r["vocab"]:,}</td><td class="num">{r["one_hot_ms"]:.3f}</td>'
        f'<td class="num">{r["lookup_ms"]:.3f}</td><td class="num">{r["ratio"]:.0f}×</td></tr>'
        for r in timings
    ]
    return table(
        "lab8-scratch-timing-table",
        "median ms, one thread (64 ids, 50 factors)",
        ["vocab", "one-hot @ E", "E[idx]", "ratio"],
        rows,
    ) + note(
        "The one-hot path builds a 64 × vocab matrix of zeros and multiplies it; indexing only "
        "copies 64 rows."
    )


def init_html(c: M.InitComparison) -> str:
    a, b = c.summary("create_params"), c.summary("nn.Embedding")
    return note(
        f"First predictions on {len(c.y):,} ratings, 50 factors. "
        f'<span style="color:{GREEN}">■</span> <code>create_params</code> (normal(0, 0.01)): '
        f"predictions {a['mean']:.2f} ± {a['std']:.2f}, MSE {a['mse']:.2f}. "
        f'<span style="color:{PURPLE}">■</span> <code>nn.Embedding</code> (N(0, 1)): '
        f"{b['mean']:.2f} ± {b['std']:.2f}, MSE {b['mse']:.2f}: dot products of 50 N(0, 1) numbers "
        "are ~±7, so <code>sigmoid_range</code> starts saturated at 0 or 5.5, where its gradient "
        "vanishes. (fastai's own <code>Embedding</code> uses a truncated normal with std 0.01.)"
    )


def words_html(w: M.Words, text: str) -> str:
    """The text as words that link to their rows of the vocabulary table, both ways, on hover."""

    def span(t: str) -> str:
        r = w.index[t]
        return (
            f'<span class="lab8-word" data-row="{r}" title="{html.escape(t)} → id {r} → row {r} '
            f'of E: {vec(w.emb[r], 8)}">{html.escape(t)}</span>'
        )

    poem = "<br>".join(" ".join(span(t) for t in M.tokenise(line)) for line in text.splitlines())
    # CSS :has() ties a hovered word to its table row and a hovered row to its words
    rules = "".join(
        f'.lab8-scratch-words:has([data-row="{r}"]:hover) [data-row="{r}"]{{background:#ffe08a}}'
        for r in range(len(w.vocab))
    )
    rows = [
        f'<tr class="lab8-vrow" data-row="{i}"><td class="num">{i}</td>'
        f"<td>{html.escape(word)}</td><td><code>{vec(w.emb[i], 3)}</code></td></tr>"
        for i, word in enumerate(w.vocab)
    ]
    return (
        f"<style>{rules}</style>"
        + note("Hover a word: its row of the vocabulary lights up (and back).")
        + '<div style="display:flex;flex-wrap:wrap;gap:6px 16px;align-items:flex-start">'
        f'<div class="lab8-poem">{poem}</div><div class="lab8-vocab-box">'
        f"{table('lab8-scratch-vocab', '', ['id', 'word', 'row of E'], rows)}</div></div>"
    )


def words_summary(w: M.Words) -> str:
    return note(
        f"{len(w.tokens)} tokens, {len(w.vocab)} words in the vocabulary. ids: "
        f"<code>{short(w.ids, 24)}</code>",
        tokens=len(w.tokens),
        vocab=len(w.vocab),
    )
