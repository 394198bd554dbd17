"""Similar won deals: a nearest-neighbour model over deal and activity features.

:class:`SimilarDeals` is a scikit-learn estimator: a ``Pipeline`` of a
``ColumnTransformer`` (log1p then median imputation and scaling for counts,
hours and amounts; scaling for rates; one-hot encoding for categories) and
``NearestNeighbors``. Scaling puts every feature in units of its spread over
the won deals, so an amount in the millions weighs no more than a count of
meetings; a differing category adds a fixed 2 to the squared distance.

:func:`similar_won_deals` answers the question of the opportunity page and of
``python -m rapport similar``: for one opportunity as of a time T, its k
nearest won deals (closed at or before T), with the features that made each
one close and the ways the opportunity differs from them.

The fitted model is kept in memory, keyed by the database file, the latest
import, the counts of opportunities and activities, T and the settings that
change the features. An import that changes opportunities therefore refits
it on the next question; nothing is stored in the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
from collections import OrderedDict
from numbers import Integral

import duckdb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer, OneHotEncoder, RobustScaler, StandardScaler,
)
from sklearn.utils.validation import check_is_fitted

from rapport import settings as settings_mod
from rapport.store import scalar
from similarity import features as feats

_LOGGER = logging.getLogger(__name__)

MIN_WON = 5  # won deals needed before similar deals are shown
MISSING = "(none)"  # the category of a deal with no product, industry or region
# Weights of the model similar_won_deals fits (every other feature weighs 1).
DEFAULT_WEIGHTS: dict[str, float] = {}


def _log1p_nonnegative(X):
    return np.log1p(np.clip(np.asarray(X, dtype=float), 0, None))


def _weigh(X, factor):
    return np.asarray(X, dtype=float) * factor


def _as_text(X):
    frame = pd.DataFrame(X).astype(object)
    return frame.where(frame.notna(), MISSING).astype(str).to_numpy()


class SimilarDeals(BaseEstimator):
    """Nearest neighbours among deals, over scaled deal and activity features.

    Parameters
    ----------
    n_neighbors : int, default=5
        Neighbours :meth:`kneighbors` returns when not told otherwise.
    log_features : tuple of str
        Non-negative numeric columns read as log1p (counts, hours, amounts).
    plain_features : tuple of str
        Numeric columns used as they are (rates between 0 and 1).
    categorical_features : tuple of str
        Columns compared as categories; a category unseen in fit matches nothing.
    scaler : {"standard", "robust"}, default="standard"
        How numeric columns are put on one scale after imputation.
    feature_weights : dict of str -> float, optional
        Weight of a column in the squared distance (default 1 for every
        column). A weight of 2 makes a difference on that column count twice.

    Attributes
    ----------
    pipeline_ : sklearn.pipeline.Pipeline
        ``features`` (ColumnTransformer) then ``neighbors`` (NearestNeighbors).
    feature_names_in_ : ndarray of str
        The columns read, in order.
    n_features_in_ : int
    n_samples_fit_ : int
    index_ : pandas.Index
        The index of the frame passed to :meth:`fit` (the deals' ids).
    fit_matrix_ : ndarray of shape (n_samples_fit_, n_outputs)
        The fitted deals in the scaled space.
    feature_columns_ : dict of str -> list of int
        The output columns of each input column.
    weights_ : ndarray of shape (n_outputs,)
        The factor each output column is multiplied by (square root of its
        input column's weight).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"amount": [100, 120, 50_000], "product": ["a", "a", "b"]})
    >>> model = SimilarDeals(n_neighbors=1, log_features=("amount",),
    ...                      plain_features=(), categorical_features=("product",)).fit(X)
    >>> model.kneighbors(pd.DataFrame({"amount": [102], "product": ["a"]}))[1].tolist()
    [[0]]
    """

    def __init__(self, n_neighbors=5, *, log_features=feats.LOG_FEATURES,
                 plain_features=feats.PLAIN_FEATURES,
                 categorical_features=feats.CATEGORICAL_FEATURES, scaler="standard",
                 feature_weights=None):
        self.n_neighbors = n_neighbors
        self.log_features = log_features
        self.plain_features = plain_features
        self.categorical_features = categorical_features
        self.scaler = scaler
        self.feature_weights = feature_weights

    # -- fitting -------------------------------------------------------------

    def _check_params(self) -> None:
        if not isinstance(self.n_neighbors, Integral) or self.n_neighbors < 1:
            raise ValueError("The 'n_neighbors' parameter of SimilarDeals must be an int "
                             f"in the range [1, inf). Got {self.n_neighbors!r} instead.")
        if self.scaler not in ("standard", "robust"):
            raise ValueError("The 'scaler' parameter of SimilarDeals must be 'standard' or "
                             f"'robust'. Got {self.scaler!r} instead.")
        if not self._columns():
            raise ValueError("SimilarDeals needs at least one feature; log_features, "
                             "plain_features and categorical_features are all empty.")
        for name, weight in (self.feature_weights or {}).items():
            if name not in self._columns():
                raise ValueError(f"The 'feature_weights' parameter of SimilarDeals names "
                                 f"{name!r}, which is not a feature; features: "
                                 f"{self._columns()}.")
            if not isinstance(weight, (int, float)) or not weight >= 0:
                raise ValueError(f"The weight of {name!r} in 'feature_weights' must be a "
                                 f"number of 0 or more. Got {weight!r} instead.")

    def _columns(self) -> list[str]:
        return (list(self.log_features) + list(self.plain_features)
                + list(self.categorical_features))

    def _check_frame(self, X, fitting: bool) -> pd.DataFrame:
        if not isinstance(X, pd.DataFrame):
            raise TypeError("SimilarDeals reads a pandas DataFrame with named columns; "
                            f"got {type(X).__name__}.")
        columns = self._columns() if fitting else list(self.feature_names_in_)
        missing = [c for c in columns if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the columns {missing}; SimilarDeals reads {columns}.")
        if len(X) == 0:
            raise ValueError("X has 0 rows; SimilarDeals needs at least one deal.")
        return X[columns]

    def _scale(self):
        return StandardScaler() if self.scaler == "standard" else RobustScaler()

    def fit(self, X, y=None):
        """Learn the scales and index the deals of *X* (one row per deal).

        Parameters
        ----------
        X : pandas.DataFrame with the feature columns
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        frame = self._check_frame(X, fitting=True)
        imputer = dict(strategy="median", keep_empty_features=True)
        transformers = []
        if self.log_features:
            transformers.append(("log", make_pipeline(
                FunctionTransformer(_log1p_nonnegative, feature_names_out="one-to-one"),
                SimpleImputer(**imputer), self._scale()), list(self.log_features)))
        if self.plain_features:
            transformers.append(("plain", make_pipeline(
                SimpleImputer(**imputer), self._scale()), list(self.plain_features)))
        if self.categorical_features:
            transformers.append(("category", make_pipeline(
                FunctionTransformer(_as_text, feature_names_out="one-to-one"),
                OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
                list(self.categorical_features)))
        columns = ColumnTransformer(transformers, sparse_threshold=0.0).fit(frame)
        self.feature_columns_ = self._feature_columns(columns)
        self.weights_ = np.ones(sum(len(c) for c in self.feature_columns_.values()))
        for name, weight in (self.feature_weights or {}).items():
            self.weights_[self.feature_columns_[name]] = math.sqrt(weight)
        self.pipeline_ = Pipeline([
            ("features", columns),
            ("weights", FunctionTransformer(_weigh, kw_args={"factor": self.weights_})),
            ("neighbors", NearestNeighbors(n_neighbors=min(self.n_neighbors, len(frame)))),
        ])
        self.pipeline_.fit(frame)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.n_features_in_ = len(frame.columns)
        self.n_samples_fit_ = len(frame)
        self.index_ = X.index
        self.fit_matrix_ = np.asarray(self.pipeline_[:-1].transform(frame), dtype=float)
        return self

    @staticmethod
    def _feature_columns(columns: ColumnTransformer) -> dict[str, list[int]]:
        spans: dict[str, list[int]] = {}
        for name, _, inputs in columns.transformers_:
            if name == "remainder":
                continue
            block = columns.output_indices_[name]
            if name == "category":
                encoder = columns.named_transformers_[name][-1]
                start = block.start
                for column, values in zip(inputs, encoder.categories_):
                    spans[column] = list(range(start, start + len(values)))
                    start += len(values)
            else:
                for offset, column in enumerate(inputs):
                    spans[column] = [block.start + offset]
        return spans

    # -- using ---------------------------------------------------------------

    def transform(self, X) -> np.ndarray:
        """The deals of *X* in the scaled space the distances are measured in."""
        check_is_fitted(self, "pipeline_")
        return np.asarray(self.pipeline_[:-1].transform(self._check_frame(X, False)),
                          dtype=float)

    def kneighbors(self, X, n_neighbors=None, return_distance=True):
        """The nearest fitted deals of each row of *X*, nearest first.

        Parameters
        ----------
        X : pandas.DataFrame with the feature columns
        n_neighbors : int, optional (default: the n_neighbors parameter)
        return_distance : bool, default=True

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors), when return_distance
        indices : ndarray of shape (n_queries, n_neighbors)
            Positions in the fitted frame (``index_[indices]`` gives the ids).
        """
        check_is_fitted(self, "pipeline_")
        n_neighbors = self.n_neighbors if n_neighbors is None else n_neighbors
        if not isinstance(n_neighbors, Integral) or n_neighbors < 1:
            raise ValueError(f"n_neighbors must be an int of 1 or more; got {n_neighbors!r}.")
        if n_neighbors > self.n_samples_fit_:
            raise ValueError(f"Expected n_neighbors <= n_samples_fit, but n_neighbors = "
                             f"{n_neighbors}, n_samples_fit = {self.n_samples_fit_}.")
        return self.pipeline_[-1].kneighbors(self.transform(X), n_neighbors=n_neighbors,
                                             return_distance=return_distance)

    def closeness(self, X, indices) -> pd.DataFrame:
        """How unusually close the first row of *X* is to each neighbour, per column.

        For each input column, the share of fitted deals that are at least as
        close to the row on that column as the neighbour is: 0.02 means only
        2 % of deals match it as well (a strong reason), 0.9 means most do
        (no reason at all). One row per neighbour in *indices*.
        """
        query = self.transform(X)[0]
        gaps = {name: ((self.fit_matrix_[:, cols] - query[cols]) ** 2).sum(axis=1)
                for name, cols in self.feature_columns_.items()}
        rows = [{name: float(np.mean(gap <= gap[index] + 1e-12))
                 for name, gap in gaps.items()}
                for index in np.asarray(indices).ravel()]
        return pd.DataFrame(rows, columns=list(self.feature_columns_))

    def scaled(self, X) -> pd.DataFrame:
        """The numeric input columns of *X* in scaled units, unweighted (no categories)."""
        check_is_fitted(self, "pipeline_")
        columns = self.pipeline_.named_steps["features"]
        matrix = np.asarray(columns.transform(self._check_frame(X, False)), dtype=float)
        numeric = [c for c in self.feature_columns_ if c not in self.categorical_features]
        return pd.DataFrame({c: matrix[:, self.feature_columns_[c][0]] for c in numeric},
                            index=X.index)


# ---------------------------------------------------------------------------
# The question of the opportunity page: similar won deals of one opportunity

# In the order differences prefer when two are equally large.
_LABELS = {
    "meetings_by_us": "meetings we organised",
    "meetings_by_them": "meetings the customer organised",
    "emails_by_us": "e-mails from us", "emails_by_them": "e-mails from the customer",
    "calls_by_us": "calls we made", "calls_by_them": "calls from the customer",
    "response_rate_them": "share of our e-mails the customer answered",
    "wait_hours_them": "time waiting for the customer's answers",
    "response_rate_us": "share of the customer's e-mails we answered",
    "wait_hours_us": "time the customer waited for our answers",
    "hours_by_us": "time we spent", "hours_by_them": "time the customer spent",
    "cycle_days": "sales cycle", "amount": "amount", "employees": "account size",
    "product": "product", "industry": "industry", "region": "region",
}
_VS = "in similar won deals"


def _number(value: float, decimals: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "none"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{decimals}f}"


def _count(value: float, singular: str, plural: str) -> str:
    return f"{_number(value)} {singular if value == 1 else plural}"


def _show(name: str, value) -> str:
    """A feature's value as a person reads it."""
    if name.startswith("response_rate"):
        return f"{value:.0%}"
    if name == "amount":
        return f"{value:,.0f}"
    if name == "cycle_days":
        return _count(round(value), "day", "days")
    if name.startswith(("hours", "wait_hours")):
        return f"{value:,.1f} h"
    return _number(round(value, 1))


def _difference(name: str, mine: float, theirs: float, is_open: bool) -> str:
    """One plain sentence: this deal against the median of its neighbours."""
    m, t = _number(round(mine, 1)), _number(round(theirs, 1))
    nouns = {
        "emails_by_us": ("e-mail from us", "e-mails from us"),
        "emails_by_them": ("e-mail from the customer", "e-mails from the customer"),
        "meetings_by_us": ("meeting organised by us", "meetings organised by us"),
        "meetings_by_them": ("meeting organised by the customer",
                             "meetings organised by the customer"),
        "calls_by_us": ("call made by us", "calls made by us"),
        "calls_by_them": ("call from the customer", "calls from the customer"),
    }
    if name in nouns:
        return f"{_count(round(mine, 1), *nouns[name])} vs {t} {_VS}"
    if name == "amount":
        return f"Amount {mine:,.0f} vs {theirs:,.0f} {_VS}"
    if name == "employees":
        return f"An account of {m} employees vs {t} {_VS}"
    if name == "cycle_days":
        if is_open:
            return f"Open for {round(mine)} days so far vs {round(theirs)} days to close {_VS}"
        return f"{round(mine)} days from creation to close vs {round(theirs)} {_VS}"
    if name == "hours_by_us":
        return f"{mine:.1f} hours of our time vs {theirs:.1f} {_VS}"
    if name == "hours_by_them":
        return f"{mine:.1f} hours of the customer's time vs {theirs:.1f} {_VS}"
    if name == "wait_hours_them":
        return (f"{mine:.0f} hours on average waiting for the customer's answers "
                f"vs {theirs:.0f} {_VS}")
    if name == "wait_hours_us":
        return (f"The customer waited {mine:.0f} hours on average for our answers "
                f"vs {theirs:.0f} {_VS}")
    if name == "response_rate_them":
        return f"The customer answered {mine:.0%} of our e-mails vs {theirs:.0%} {_VS}"
    if name == "response_rate_us":
        return f"We answered {mine:.0%} of the customer's e-mails vs {theirs:.0%} {_VS}"
    return f"{_LABELS.get(name, name)} {m} vs {t} {_VS}"


def _reason(name: str, mine, theirs, share: float) -> str:
    """Why a neighbour is near on one feature. *share* is the part of the won
    deals at least as near on it (see SimilarDeals.closeness): a number is
    shown with it, since "near" is relative to how far apart deals usually
    are (a 401-day cycle is near 127 days when cycles run from 10 to 2,000)."""
    label = _LABELS.get(name, name)
    if name in feats.CATEGORICAL_FEATURES:
        return f"same {label} ({mine if mine is not None else 'none recorded'})"
    if mine is None or theirs is None or pd.isna(mine) or pd.isna(theirs):
        return f"{label} not recorded on either"
    return (f"{label}: {_show(name, mine)} vs {_show(name, theirs)} "
            f"(only {share:.0%} of won deals are as near)")


def _iso(value) -> str | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime().replace(microsecond=0).isoformat() + "Z"


def _maybe(value, digits: int):
    return None if value is None or pd.isna(value) else round(float(value), digits)


def _describe(deal_id: str, row: pd.Series) -> dict:
    closed = row["state_as_of"] != "open"
    return {
        "id": deal_id, "name": row["name"], "account": row["account"],
        "amount": _maybe(row["amount"], 2), "product": row["product"],
        "state": row["state_as_of"], "created_at": _iso(row["created_at"]),
        "closed_at": _iso(row["closed_at"]) if closed else None,
        "activities": int(row["activities"]),
        "time_spent_hours": _maybe(row["hours_by_us"], 1),
        "response_hours": _maybe(row["response_hours_them"], 2),
        "response_rate": _maybe(row["response_rate_them"], 2),
    }


class _Fitted:
    """The features of every deal as of T and the model fitted on the won ones."""

    def __init__(self, frame: pd.DataFrame, won: list[str], model: SimilarDeals | None):
        self.frame, self.won, self.model = frame, won, model


_CACHE: OrderedDict[tuple, _Fitted] = OrderedDict()
_CACHE_SIZE = 8
_CACHE_LOCK = threading.Lock()


def _cache_key(con: duckdb.DuckDBPyConnection, as_of: dt.datetime, settings) -> tuple | None:
    path = scalar(con, "SELECT path FROM duckdb_databases() "
                       "WHERE database_name = current_database()")
    if not path:
        return None  # an in-memory database has no name to key on
    state = con.execute(
        "SELECT (SELECT max(import_id) FROM imports), (SELECT count(*) FROM opportunities),"
        " (SELECT count(*) FROM activities), (SELECT count(*) FROM opportunity_members),"
        " (SELECT max(closed_at) FROM opportunities)").fetchall()[0]
    knobs = settings.to_dict()
    knobs.pop("similar_k", None)
    return (path, *state, as_of, repr(sorted(knobs.items())))


def fitted(con: duckdb.DuckDBPyConnection, as_of: dt.datetime, settings=None) -> _Fitted:
    """The features and fitted model as of *as_of*, from the cache when unchanged."""
    settings = settings or settings_mod.load(con)
    key = _cache_key(con, as_of, settings)
    with _CACHE_LOCK:
        if key is not None and key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    frame = feats.deal_features(con, as_of, settings=settings)
    won = frame.index[frame["state_as_of"] == "won"].tolist()
    model = None
    if len(won) >= MIN_WON:
        model = SimilarDeals(n_neighbors=MIN_WON,
                             feature_weights=dict(DEFAULT_WEIGHTS)).fit(frame.loc[won])
    _LOGGER.debug("fitted similar deals as of %s on %d won of %d deals", as_of, len(won),
                  len(frame))
    result = _Fitted(frame, won, model)
    if key is not None:
        with _CACHE_LOCK:
            _CACHE[key] = result
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
    return result


def default_as_of(con: duckdb.DuckDBPyConnection,
                  now: dt.datetime | None = None) -> dt.datetime:
    """``kpi.default_as_of``, moved to the end of the last close day when later.

    A historical pipeline can close deals after its last activity (the
    sample's last deals close on a Sunday); those deals are won by then.
    """
    import kpi

    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    as_of, _ = kpi.default_as_of(con, now)
    if as_of < now:
        last_close = scalar(con, "SELECT max(closed_at) FROM opportunities "
                                 "WHERE closed_at <= ?", [now])
        if last_close is not None and last_close > as_of:
            as_of = min(dt.datetime.combine(last_close.date(), dt.time(23, 59, 59)), now)
    return as_of


def similar_won_deals(con: duckdb.DuckDBPyConnection, opportunity_id: str,
                      k: int | None = None, as_of: dt.datetime | None = None) -> dict:
    """The k won deals most like one opportunity, as of a time.

    Parameters
    ----------
    con : duckdb connection to a Rapport store
    opportunity_id : str
        The opportunity's id, or its name when unique.
    k : int, optional
        How many neighbours (default: the ``similar_k`` setting, 5).
    as_of : naive UTC datetime, optional
        Deals won after it are not used and the opportunity's activity is
        read up to it while open (default: :func:`default_as_of`).

    Returns
    -------
    dict with ``opportunity`` (id, name, account, amount, product, state as
    of T, created_at, closed_at, activities, time_spent_hours, response_hours,
    response_rate), ``as_of``, ``won_count`` (won deals that can be
    neighbours), ``needed`` (5), ``message`` (why there are no neighbours, or
    None), ``neighbours`` (nearest first: id, name, account, amount,
    closed_at, activities, time_spent_hours, response_hours, response_rate,
    distance, reasons) and ``differences`` (up to 3 sentences).

    ``time_spent_hours`` is our side's time; ``response_hours`` and
    ``response_rate`` are the customer's answers to our e-mails.

    Raises
    ------
    LookupError
        When no opportunity (or more than one) matches, or it did not exist yet.
    """
    import kpi

    settings = settings_mod.load(con)
    k = settings.similar_k if k is None else k
    if not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be a whole number of 1 or more; got {k!r}")
    as_of = default_as_of(con) if as_of is None else as_of
    deal_id, _ = kpi.resolve(con, "opportunity", opportunity_id)
    state = fitted(con, as_of, settings)
    if deal_id not in state.frame.index:
        raise LookupError(f"opportunity {deal_id} was created after {as_of:%Y-%m-%d %H:%M}; "
                          "choose a later as-of time")
    row = state.frame.loc[[deal_id]]
    candidates = [w for w in state.won if w != deal_id]
    result = {
        "opportunity": _describe(deal_id, row.iloc[0]), "as_of": _iso(as_of), "k": k,
        "won_count": len(candidates), "needed": MIN_WON, "message": None,
        "neighbours": [], "differences": [],
    }
    if len(candidates) < MIN_WON:
        noun = "opportunity" if len(candidates) == 1 else "opportunities"
        result["message"] = (
            f"{len(candidates)} won {noun} so far; similar won deals need at least {MIN_WON} "
            f"({MIN_WON - len(candidates)} more).")
        return result
    model = state.model
    wanted = min(k + (deal_id in state.won), model.n_samples_fit_)
    distances, indices = model.kneighbors(row, n_neighbors=wanted)
    pairs = [(d, i) for d, i in zip(distances[0], indices[0])
             if model.index_[i] != deal_id][:k]
    chosen = [i for _, i in pairs]
    closeness = model.closeness(row, chosen)
    for position, (distance, index) in enumerate(pairs):
        other_id = model.index_[index]
        other = state.frame.loc[other_id]
        top = closeness.iloc[position].sort_values(kind="stable")
        reasons = [_reason(name, row.iloc[0][name], other[name], share)
                   for name, share in top.items() if share <= 0.5][:3]
        entry = _describe(other_id, other)
        result["neighbours"].append({
            key: entry[key] for key in ("id", "name", "account", "amount", "closed_at",
                                        "activities", "time_spent_hours", "response_hours",
                                        "response_rate")
        } | {"distance": round(float(distance), 3), "reasons": reasons})
    result["differences"] = _differences(model, state.frame, row, model.index_[chosen])
    return result


def _differences(model: SimilarDeals, frame: pd.DataFrame, row: pd.DataFrame,
                 neighbour_ids) -> list[str]:
    """Up to 3 sentences on the features where the deal is farthest from the median."""
    mine = model.scaled(row).iloc[0]
    theirs = model.scaled(frame.loc[neighbour_ids]).median()
    gaps = []
    for name in mine.index:
        value, typical = row.iloc[0][name], frame.loc[neighbour_ids, name].median()
        if pd.isna(value) or pd.isna(typical):
            continue
        gaps.append((abs(mine[name] - theirs[name]), name, float(value), float(typical)))
    # Ties (common when the neighbours agree) go to counts before hours and rates.
    order = {name: i for i, name in enumerate(_LABELS)}
    gaps.sort(key=lambda gap: (-round(gap[0], 9), order.get(gap[1], len(order))))
    is_open = row.iloc[0]["state_as_of"] == "open"
    return [_difference(name, value, typical, is_open)
            for gap, name, value, typical in gaps[:3] if gap > 0.25]
