"""Bias and feedback loops in recommenders (Lesson 8, 28:54–30:33; fastbook ch. 8's positive
feedback loop), in plain torch and numpy, no widgets:

- ``truth``: every user's true taste from a ``DotProductBias`` trained on real ratings;
- ``loop``: the rounds (train, recommend top k, rate some of it by taste plus noise, add), their
  settings, and ``rate_chance`` (ratings missing not at random);
- ``interventions``: a cap on ratings per user per round, equal user weights, ε-exploration;
- ``metrics``: the genre's share, catalogue coverage, item exposure and its Gini coefficient.
"""

from .interventions import cap_ratings, explore, user_weights
from .loop import FIRST_EPOCHS, FeedbackLoop, FeedbackSettings, rate_chance, weighted_mse
from .metrics import coverage, exposure, genre_share, gini
from .truth import GROUP_DISLIKE, GroundTruth, TruthSettings, ground_truth, group_taste

__all__ = [
    "FIRST_EPOCHS",
    "GROUP_DISLIKE",
    "FeedbackLoop",
    "FeedbackSettings",
    "GroundTruth",
    "TruthSettings",
    "cap_ratings",
    "coverage",
    "explore",
    "exposure",
    "genre_share",
    "gini",
    "ground_truth",
    "group_taste",
    "rate_chance",
    "user_weights",
    "weighted_mse",
]
