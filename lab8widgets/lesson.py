"""A map of Lesson 8: the parts of the lesson that a lab shows, in the lesson's order.

Each part is the outline's timestamp and title (``../shared/lesson8-outline.txt``), the lab that shows
it, and the section of that lab (a name the lab lists in ``lab.sections`` and opens with
``lab.show_section``). The index page lists every part with a link to its lab and section; each
lab's header names the parts it covers. A test checks that every lab is reached from the map and
that every section exists."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PARTS", "Part", "parts_for", "section_href"]


@dataclass(frozen=True)
class Part:
    """One part of the lesson: when it starts, its title in the outline, and where a lab shows it."""

    time: str  # "8:02" or "1:05:15", as in the outline
    title: str
    lab: str  # a registry name (labs.py)
    section: str  # one of that lab's ``sections``

    @property
    def seconds(self) -> int:
        """The timestamp in seconds (the order of the lesson)."""
        total = 0
        for piece in self.time.split(":"):
            total = total * 60 + int(piece)
        return total


PARTS: tuple[Part, ...] = (
    Part("1:24", "Creating your own embedding module", "scratch", "parameters"),
    Part("3:06", "PyTorch's parameter tracking mechanism", "scratch", "parameters"),
    Part("8:02", "Creating an embedding module from scratch", "scratch", "lookup"),
    Part("9:39", "Initializing parameters with random numbers", "scratch", "init"),
    Part("10:08", "Indexing into parameters", "scratch", "lookup"),
    Part("12:21", "Interpreting the trained movieBias parameter", "collab", "biases"),
    Part("15:42", "Analyzing user bias", "collab", "biases"),
    Part("16:08", "Visualizing movie factors using PCA", "explorer", "pca"),
    Part("18:12", "Using Fast.ai's collaborative learner", "collab", "training"),
    Part("22:16", "Finding similar movies based on embeddings", "explorer", "neighbours"),
    Part("23:56", "The bootstrapping problem in collaborative filtering", "explorer", "new-user"),
    Part("24:42", "Collaborative filtering using deep learning", "collab", "training"),
    Part("26:16", "Using Fast.ai's getEmbeddingSizes", "collab", "training"),
    Part("28:19", "Incorporating metadata into collaborative filtering", "collab", "metadata"),
    Part("28:54", "The issue of bias in collaborative filtering", "feedback", "rounds"),
    Part("29:33", "The anime example in collaborative filtering", "feedback", "rounds"),
    Part("31:05", "Turning words into integers", "scratch", "words"),
    Part("32:21", "Using an embedding matrix to represent a poem", "scratch", "words"),
    Part("34:49", "Embeddings in tabular analysis", "entity", "training"),
    Part("38:01", "Automatic embedding size calculation in tabular learner", "entity", "sizes"),
    Part(
        "41:04", "Embedding layers as linear layers on one-hot encoded inputs", "scratch", "lookup"
    ),
    Part("41:24", "Combining embeddings with other models", "entity", "other-models"),
    Part("41:57", "Visualizing embeddings for German regions", "entity", "states"),
    Part(
        "43:38",
        "Visualizing embeddings for days of the week and months of the year",
        "entity",
        "calendars",
    ),
    Part("45:41", "Introducing convolutions", "conv", "network"),
    Part("49:28", "Creating an edge detector using convolution", "conv", "network"),
    Part("51:28", "Kernel size in convolution", "conv", "network"),
    Part("55:04", "Convolution with multiple channels", "conv", "network"),
    Part("58:03", "Max pooling in convolutional networks", "conv", "network"),
    Part("1:00:53", "Stride two convolutions", "cnn", "training"),
    Part("1:02:31", "Average pooling in convolutional networks", "cnn", "training"),
    Part("1:04:46", "Concat pooling in Fast.ai", "cnn", "training"),
    Part("1:05:15", "Convolution as matrix multiplication", "conv", "matmul"),
    Part("1:08:42", "Dropout in the conv-example spreadsheet", "conv", "network"),
    Part("1:12:07", "Dropout for avoiding overfitting", "cnn", "dropout"),
    Part("1:14:56", "Different activation functions", "conv", "activation"),
    Part("1:19:57", "The MISH activation function", "conv", "activation"),
)  # fmt: skip  (one part a line reads as the outline does)


def parts_for(lab: str) -> list[Part]:
    """The parts of the lesson that lab ``lab`` shows, in the lesson's order."""
    return [p for p in PARTS if p.lab == lab]


def section_href(part: Part) -> str:
    """The link to a part: the lab's page, opened at its section (``#lab8-<section>``)."""
    return f"{part.lab}.ipynb#lab8-{part.section}"
