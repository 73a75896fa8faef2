"""EmbeddingExplorer as a package: ``lab`` (state, views, public API) and ``sources`` (where its
factors come from: a followed lab through the ``CollabSource`` protocol, a module, a fastai
Learner or a plain matrix)."""

from .lab import EmbeddingExplorer

__all__ = ["EmbeddingExplorer"]
