"""Section 4 of ScratchLab: words become ids, ids become rows of ``E``. Shows a
``models.embedding.Words``; calls back on the text typed and the word picked (or clicked)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as W

from ...models import embedding as M
from ...views.download import download_links
from ...views.layout import row, section
from . import views as V

__all__ = ["WordsView"]


class WordsView(W.VBox):
    """The text box (``on_text(text)``), the text with its vocabulary table, the word picker
    (``on_word(word)``, also a click on a row of ``E``), both matrices and the projector files."""

    def __init__(self, text: str, on_text: Callable[[str], None], on_word: Callable[[str], None]):
        self._vocab: list[str] = []
        self._syncing = False
        self.text = V.tagged(
            W.Textarea(text, rows=9, continuous_update=False, layout=W.Layout(width="360px")),
            "lab8-scratch-text",
        )
        self.text.observe(lambda ch: None if self._syncing else on_text(ch["new"]), "value")
        self.apply_button = V.button(
            "Turn into rows",
            "arrow-right",
            "lab8-scratch-apply-text",
            lambda: on_text(self.text.value),
        )
        self.words = V.html_box("lab8-scratch-words", flex="1 1 420px", max_width="100%")
        self.word = V.tagged(
            W.Dropdown(description="word", layout=W.Layout(width="220px")), "lab8-scratch-word"
        )
        self.word.observe(lambda ch: ch["new"] and on_word(ch["new"]), "value")
        self.vocab = V.grid("lab8-scratch-vocab-matrix", "E (one row a word)", cell=12)
        self.vocab.on_click(lambda r, _c: on_word(self._vocab[r]))
        self.poem = V.grid("lab8-scratch-poem-matrix", "the text as rows: E[ids]", cell=12)
        self.summary = V.html_box("lab8-scratch-words-summary")
        self.downloads = V.tagged(W.Box(), "lab8-scratch-projector")
        super().__init__(
            [
                section("4 · Words become ids, ids become rows"),
                row(W.VBox([self.text, self.apply_button]), self.words),
                row(self.word, self.summary, align_items="center"),
                row(V.scroll(self.vocab, "420px"), V.scroll(self.poem, "420px")),
                row(
                    W.HTML(
                        V.note(
                            "The rows of <code>E</code> with their words, as the two files the "
                            "Embedding Projector (projector.tensorflow.org → Load) reads:"
                        )
                    ),
                    self.downloads,
                    align_items="center",
                ),
            ]
        )

    def show(self, w: M.Words, text: str, files: Mapping[str, str]) -> None:
        """The text, its vocabulary, both matrices and the projector ``files`` (name → text)."""
        self._vocab = list(w.vocab)
        self.words.value = V.words_html(w, text)
        if self.text.value != text:
            self._syncing = True  # showing the text Python holds is not a new request
            try:
                self.text.value = text
            finally:
                self._syncing = False
        with self.hold_sync():
            self.word.options = list(w.vocab)
            self.vocab.values = w.emb.detach().cpu().numpy()
            self.poem.values = w.matrix.cpu().numpy()
            self.vocab.subtitle = f"{len(w.vocab)} words × {w.n_factors}"
            self.poem.subtitle = f"{len(w.tokens)} tokens × {w.n_factors}"
        self.summary.value = V.words_summary(w)
        for old in self.downloads.children:
            old.close()
        self.downloads.children = [download_links(files)]

    def highlight(self, w: M.Words, word: str) -> None:
        """``word``'s row of ``E`` and every token of the text that reads it."""
        k, r = w.n_factors, w.index[word]
        with self.hold_sync():
            if self.word.value != word:
                self.word.value = word
            self.vocab.highlight = [[r, 0, r, k - 1]]
            self.poem.highlight = [[i, 0, i, k - 1] for i, j in enumerate(w.ids) if j == r]
