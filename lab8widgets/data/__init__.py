"""Where the labs' examples come from.

Real data first (a user's path, then the fastai cache, then a real download), and honestly labelled
fallbacks (a shipped real MNIST subset, synthetic ratings with planted structure). Every loader
returns a ``source`` text so a widget can say which one it shows. Importing this package is cheap:
fastai, pandas and PIL are imported only inside the functions that need them.
"""

from __future__ import annotations

from .mnist import Digits, mnist_sample
from .movielens import Ratings, fastai_data_dir, movielens
from .rossmann import rossmann
from .store_sales import (
    PLANTED_LABEL,
    StoreSales,
    StoreSalesTruth,
    german_states,
    region_positions,
    rossmann_regions,
    synthetic_store_sales,
)
from .synthetic import PlantedTruth, SyntheticRatings, synthetic_ratings

__all__ = [
    "PLANTED_LABEL",
    "Digits",
    "PlantedTruth",
    "Ratings",
    "StoreSales",
    "StoreSalesTruth",
    "SyntheticRatings",
    "fastai_data_dir",
    "german_states",
    "mnist_sample",
    "movielens",
    "region_positions",
    "rossmann",
    "rossmann_regions",
    "synthetic_ratings",
    "synthetic_store_sales",
]
