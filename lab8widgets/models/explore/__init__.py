"""Reading what a collaborative-filtering model learned, pure torch/numpy (no widgets).

- ``factors``: every model kind (``DotProductBias``, ``CollabNN``, fastai learners, a plain factor
  matrix) read into one ``Factors`` record of CPU tensors.
- ``maps``: cosine neighbours of an item and a PCA map of the item factors.
- ``new_user``: the bootstrapping problem, a new user's vector fitted with the items frozen.
- ``source``: ``CollabSource``, what an explorer reads from a lab it follows.
"""

from ..collab import check_whole, default_min_ratings, genre_map
from .factors import (
    Factors,
    find_name,
    from_collab,
    from_factors,
    from_learner,
    projector_sets,
    projector_texts,
    title_year,
    write_projector_sets,
)
from .maps import PCAMap, neighbours, pca_map
from .new_user import (
    NEW_USER_BIAS_PULL,
    NEW_USER_PULL,
    NEW_USER_WITHIN,
    average_user,
    fit_new_user,
    predict_for_user,
    recommend,
    user_spread,
)
from .settings import ExploreSettings
from .source import CollabSource

__all__ = [
    "NEW_USER_BIAS_PULL",
    "NEW_USER_PULL",
    "NEW_USER_WITHIN",
    "CollabSource",
    "ExploreSettings",
    "Factors",
    "PCAMap",
    "average_user",
    "check_whole",
    "default_min_ratings",
    "find_name",
    "fit_new_user",
    "from_collab",
    "from_factors",
    "from_learner",
    "genre_map",
    "neighbours",
    "pca_map",
    "predict_for_user",
    "projector_sets",
    "projector_texts",
    "recommend",
    "title_year",
    "user_spread",
    "write_projector_sets",
]
