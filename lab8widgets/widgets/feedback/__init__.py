"""FeedbackLab: the lesson's feedback loop; ``lab.py`` holds the state and API, ``rounds.py`` and
``items.py`` the linked views."""

from .lab import FeedbackLab

__all__ = ["FeedbackLab"]
