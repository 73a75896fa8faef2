"""The registry of labs: one line per lab. ``serve``, ``list``, the index page, the lazy exports in
``lab8widgets`` and CI's wheel check all read it, so adding a lab means one lab module, one notebook
and one line here."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Lab:
    """A lab: its ``serve`` name, its class as ``module:Class``, and what it teaches in one line."""

    name: str
    target: str  # "lab8widgets.widgets.conv:ConvLab"
    description: str

    @property
    def notebook(self) -> str:
        """The notebook's file name in ``notebooks/`` (shipped as ``lab8widgets/_notebooks``)."""
        return f"{self.name}.ipynb"

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]

    @property
    def class_name(self) -> str:
        return self.target.partition(":")[2]

    def load(self) -> type:
        """Import and return the lab's class (heavy: pulls in torch and the widgets)."""
        return getattr(importlib.import_module(self.module), self.class_name)


LABS: tuple[Lab, ...] = (
    Lab("index", "lab8widgets.widgets.index:LabIndex", "The lab index: every lab with a one-line description"),
    Lab("conv", "lab8widgets.widgets.conv:ConvLab", "ConvLab: the conv-example spreadsheet as a live, draggable torch model"),
    Lab("collab", "lab8widgets.widgets.collab:CollabLab", "CollabLab: retrain collaborative filtering on MovieLens, side by side with fastai"),
    Lab("scratch", "lab8widgets.widgets.scratch:ScratchLab", "ScratchLab: embeddings from scratch: nn.Parameter, lookup = one-hot matmul, words as rows"),
    Lab("explorer", "lab8widgets.widgets.explorer:EmbeddingExplorer", "EmbeddingExplorer: PCA map, biases and neighbours of a trained recommender, linked; play the new user"),
    Lab("cnn", "lab8widgets.widgets.cnn:CNNLab", "CNNLab: train a small CNN on MNIST digits live; heads, activations and dropout off vs on"),
    Lab("entity", "lab8widgets.widgets.entity:EntityLab", "EntityLab: train fastai's tabular model on store sales; its state embeddings redraw the map of Germany"),
    Lab("feedback", "lab8widgets.widgets.feedback:FeedbackLab", "FeedbackLab: a small group of heavy raters takes over a recommender's suggestions, round by round; try a cap, equal weights or exploration"),
)  # fmt: skip


def get(name: str) -> Lab:
    """The lab called ``name``; KeyError when there is none."""
    for lab in LABS:
        if lab.name == name:
            return lab
    raise KeyError(name)


def names() -> list[str]:
    return [lab.name for lab in LABS]
