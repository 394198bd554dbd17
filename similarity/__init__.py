"""Similar won deals (spec section 6).

- :mod:`similarity.features`: the SQL that turns the store into one row of
  deal and activity features per opportunity.
- :mod:`similarity.model`: :class:`SimilarDeals`, a scikit-learn estimator
  (scaling and encoding, then nearest neighbours), and
  :func:`similar_won_deals`, the answer for one opportunity.

This package never imports streamlit: pages call :func:`similar_won_deals`.
"""

from similarity.features import deal_features
from similarity.model import MIN_WON, SimilarDeals, default_as_of, similar_won_deals

__all__ = ["MIN_WON", "SimilarDeals", "deal_features", "default_as_of", "similar_won_deals"]
