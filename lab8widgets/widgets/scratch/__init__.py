"""ScratchLab: the lesson's embeddings from scratch, each claim as something to poke.

``lab.py`` holds the state, public API and live objects; one view a section: ``params.py``
(``nn.Parameter``), ``lookup.py`` (lookup = one-hot × matrix), ``init.py`` (``create_params`` vs
``nn.Embedding``), ``words.py`` (words → ids → rows); ``views.py`` what they share.
"""

from .lab import ScratchLab

__all__ = ["ScratchLab"]
