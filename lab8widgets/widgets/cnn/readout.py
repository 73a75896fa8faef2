"""What the live model does on the valid digits: a one-line summary (layers, parameters, accuracy,
loss) and a gallery of the digits it gets wrong. Given the numbers, it only draws them."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import ipywidgets as W
import numpy as np
from torch import nn

from ...models.cnn import CNNData
from ...models.train import model_device

__all__ = ["GALLERY", "ModelReadout"]

GALLERY = 24  # misclassified digits shown


class ModelReadout:
    """Two HTML panes the lab places: ``summary`` (under the chart) and ``gallery``."""

    def __init__(self) -> None:
        self.summary = W.HTML(layout=W.Layout(max_width="560px"))
        self.summary.add_class("lab8-cnn-model")
        self.gallery = W.HTML()
        self.gallery.add_class("lab8-misclassified")

    def show(
        self,
        model: nn.Module,
        data: CNNData,
        valid_loss: float,
        accuracy: float,
        wrong: Sequence[tuple[int, int, int]],
    ) -> None:
        """Draw ``model``'s summary and up to ``GALLERY`` of its ``wrong`` (index, true, predicted)."""
        layers = " → ".join(html.escape(n) for n, _ in model.named_children())
        total = sum(p.numel() for p in model.parameters())
        dev = model_device(model)
        where = "" if dev.type == "cpu" else f" · on {dev}"
        self.summary.value = (
            f'<div class="lab8-note"><b>lab.model</b>: {layers or type(model).__name__} · '
            f"{total:,} parameters{where}<br>On the {len(data.valid_y):,} valid digits: accuracy "
            f"<b>{accuracy:.1%}</b>, loss {valid_loss:.4f} (eval mode: dropout off)</div>"
        )
        if not wrong:
            self.gallery.value = (
                '<div class="lab8-section">Misclassified valid digits</div>'
                '<div class="lab8-note">None: every valid digit is classified right.</div>'
            )
            return
        cells = "".join(
            f'<figure style="margin:0;text-align:center" title="valid #{i}: a {t}, predicted {p}">'
            f'<img src="{_png(data.valid_x[i, 0].numpy())}" width="56" height="56" '
            f'style="image-rendering:pixelated;border:1px solid #ddd"/>'
            f'<figcaption class="lab8-note">{t} → <b style="color:#b00">{p}</b></figcaption>'
            "</figure>"
            for i, t, p in wrong[:GALLERY]
        )
        self.gallery.value = (
            f'<div class="lab8-section">Misclassified valid digits ({len(wrong)} '
            f"of {len(data.valid_y)}; true → predicted)</div>"
            f'<div style="display:flex;flex-wrap:wrap;gap:6px">{cells}</div>'
        )


def _png(img: np.ndarray) -> str:
    """A grayscale digit in [0, 1] as a PNG data URI (white ink on black, as MNIST stores it)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
