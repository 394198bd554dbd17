"""Similar won deals: the features, the estimator and the answer for one deal."""

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import NearestNeighbors

from ingest.base import Batch, write_batches
from rapport import store
from similarity import SimilarDeals, deal_features, similar_won_deals

T0 = dt.datetime(2020, 3, 2)  # a Monday
SELLER = "user-sam"
CONTACT = "contact-kim"


# ---------------------------------------------------------------------------
# The estimator on hand-built frames


def _model(**params) -> SimilarDeals:
    defaults = dict(n_neighbors=2, log_features=("meetings",), plain_features=(),
                    categorical_features=("product",))
    return SimilarDeals(**(defaults | params))


def test_a_differing_category_weighs_more_than_a_small_numeric_gap():
    won = pd.DataFrame({"product": ["y", "x", "y", "x", "y"], "meetings": [3, 4, 0, 30, 1]},
                       index=["exact-but-other-product", "one-more-meeting", "c", "d", "e"])
    model = _model().fit(won)
    query = pd.DataFrame({"product": ["x"], "meetings": [3]})
    distances, indices = model.kneighbors(query)
    assert list(won.index[indices[0]]) == ["one-more-meeting", "exact-but-other-product"]
    # Only the product differs: one-hot columns (1, 0) against (0, 1).
    assert distances[0][1] == pytest.approx(math.sqrt(2))
    # One meeting more, in units of the spread of log1p(meetings) over the won deals.
    spread = np.log1p(won["meetings"].to_numpy(float)).std()
    assert distances[0][0] == pytest.approx((math.log1p(4) - math.log1p(3)) / spread)


@pytest.mark.parametrize("scaler", ["standard", "robust"])
def test_an_amount_in_the_millions_does_not_drown_a_count_of_meetings(scaler):
    won = pd.DataFrame({
        "amount": [1e3, 1e4, 1e5, 1e6, 50_000, 60_000],
        "meetings": [0, 2, 4, 6, 2, 9],
    }, index=["a", "b", "c", "d", "same-amount-few-meetings", "near-amount-same-meetings"])
    query = pd.DataFrame({"amount": [50_000], "meetings": [9]})
    model = SimilarDeals(n_neighbors=1, log_features=("amount", "meetings"),
                         plain_features=(), categorical_features=(), scaler=scaler).fit(won)
    assert won.index[model.kneighbors(query)[1][0][0]] == "near-amount-same-meetings"
    # Unscaled, the amount decides alone: the test would catch a model without scaling.
    raw = NearestNeighbors(n_neighbors=1).fit(won.to_numpy())
    assert won.index[raw.kneighbors(query.to_numpy())[1][0][0]] == "same-amount-few-meetings"


def test_a_missing_category_and_an_unseen_one_are_handled():
    won = pd.DataFrame({"product": ["x", None, "y"], "meetings": [1.0, np.nan, 3.0]})
    model = _model(n_neighbors=1).fit(won)
    query = pd.DataFrame({"product": ["never seen"], "meetings": [1.0]})
    distances, indices = model.kneighbors(query)
    assert indices[0][0] == 0
    # Unknown category: all its one-hot columns are 0, one away from the neighbour's 1.
    assert distances[0][0] == pytest.approx(1.0)


def test_feature_weights_count_a_column_more():
    won = pd.DataFrame({"product": ["y", "x"], "meetings": [2, 0]},
                       index=["same-meetings", "same-product"])
    query = pd.DataFrame({"product": ["x"], "meetings": [2]})
    plain = _model(n_neighbors=1).fit(won)
    heavy = _model(n_neighbors=1, feature_weights={"product": 4.0}).fit(won)
    # log1p(2) - log1p(0) over a spread of half that: 2 units, vs sqrt(2) for the
    # product; weighed 4 times, the product's sqrt(8) is the larger.
    assert won.index[plain.kneighbors(query)[1][0][0]] == "same-meetings"
    assert won.index[heavy.kneighbors(query)[1][0][0]] == "same-product"
    lighter = _model(n_neighbors=1, feature_weights={"product": 0.25}).fit(won)
    assert lighter.kneighbors(query)[0][0][0] == pytest.approx(math.sqrt(0.25 * 2))


def test_estimator_conventions():
    model = _model(n_neighbors=3, scaler="robust")
    assert clone(model).get_params() == model.get_params()
    with pytest.raises(NotFittedError, match="not fitted"):
        model.kneighbors(pd.DataFrame({"product": ["x"], "meetings": [1]}))
    with pytest.raises(ValueError,
                       match=r"'n_neighbors' parameter .* range \[1, inf\)\. Got 0"):
        _model(n_neighbors=0).fit(pd.DataFrame({"product": ["x"], "meetings": [1]}))
    with pytest.raises(ValueError, match="'scaler' parameter .* Got 'minmax'"):
        _model(scaler="minmax").fit(pd.DataFrame({"product": ["x"], "meetings": [1]}))
    with pytest.raises(ValueError, match=r"lacks the columns \['meetings'\]"):
        _model().fit(pd.DataFrame({"product": ["x"]}))
    fitted = _model(n_neighbors=1).fit(pd.DataFrame({"product": ["x"], "meetings": [1]}))
    assert fitted.n_features_in_ == 2 and fitted.n_samples_fit_ == 1
    assert list(fitted.feature_names_in_) == ["meetings", "product"]
    with pytest.raises(ValueError, match="n_neighbors = 2, n_samples_fit = 1"):
        fitted.kneighbors(pd.DataFrame({"product": ["x"], "meetings": [1]}), n_neighbors=2)


# ---------------------------------------------------------------------------
# A real store, built through the import transaction


def _base(batch: Batch) -> None:
    batch.add("accounts", {"account_id": "acc-1", "name": "Contoso", "industry": "retail",
                           "employees": 500, "source": "test"})
    batch.add("people", {"person_id": SELLER, "name": "Sam Seller",
                         "email": "sam@ourco.example", "crm_kind": "user",
                         "region": "East"})
    batch.add("people", {"person_id": CONTACT, "name": "Kim Buyer",
                         "email": "kim@contoso.example", "crm_kind": "contact",
                         "crm_account_id": "acc-1"})


def _deal(batch: Batch, deal_id: str, state: str, *, meetings: int, closed=None,
          created=T0, product="GTX", amount=1000.0) -> None:
    """A deal with *meetings* one-hour meetings we organised, one a day from creation."""
    batch.add("opportunities", {
        "opportunity_id": deal_id, "name": f"Deal {deal_id}", "account_id": "acc-1",
        "contact_id": CONTACT, "owner_id": SELLER, "state": state, "amount": amount,
        "product": product, "created_at": created, "closed_at": closed,
    })
    for n in range(meetings):
        start = created + dt.timedelta(days=n, hours=10)
        activity_id = f"mtg-{deal_id}-{n}"
        batch.add("activities", {
            "activity_id": activity_id, "type": "meeting", "subject": "Review",
            "start_at": start, "end_at": start + dt.timedelta(hours=1),
            "duration_minutes": 60.0, "state": "completed", "direction": "outgoing",
            "initiator_id": SELLER, "regarding_type": "opportunity", "regarding_id": deal_id,
        })
        batch.add("activity_parties", {"activity_id": activity_id, "person_id": SELLER,
                                       "role": "organizer"})
        batch.add("activity_parties", {"activity_id": activity_id, "person_id": CONTACT,
                                       "role": "required"})


def _import(path, name: str, fill) -> None:
    batch = Batch(file=name, layout="test", checksum=name)
    _base(batch)
    fill(batch)
    con = store.connect(path)
    try:
        write_batches(con, [batch])
    finally:
        con.close()


CLOSE = T0 + dt.timedelta(days=20)
LATE = CLOSE + dt.timedelta(days=10)
AS_OF = dt.datetime(2020, 6, 30, 23, 59, 59)
OPENED = dt.datetime(2020, 6, 9)  # so that open-1 is as old at AS_OF as the wins were


@pytest.fixture
def shop(tmp_path):
    """Six won deals with 6 meetings (two GTX, four MG; one closes late), two lost,
    and open-1: GTX, one meeting."""
    path = tmp_path / "shop.duckdb"

    def fill(batch):
        for n in range(6):
            _deal(batch, f"won-{n}", "won", meetings=6, closed=LATE if n == 5 else CLOSE,
                  product="GTX" if n < 2 else "MG")
        _deal(batch, "lost-1", "lost", meetings=1, closed=CLOSE)
        _deal(batch, "lost-2", "lost", meetings=6, closed=CLOSE)
        _deal(batch, "open-1", "open", meetings=1, created=OPENED)

    _import(path, "shop", fill)
    con = store.connect(path)
    yield con
    con.close()


def test_every_neighbour_is_won_and_an_open_deal_is_not_its_own(shop):
    result = similar_won_deals(shop, "open-1", k=10, as_of=AS_OF)
    ids = [n["id"] for n in result["neighbours"]]
    assert sorted(ids) == [f"won-{n}" for n in range(6)]
    assert result["won_count"] == 6 and result["message"] is None
    # Same product first. Only 2 of the 6 wins share it, so it is the reason;
    # every other feature is the same for all wins, so none is a reason.
    assert set(ids[:2]) == {"won-0", "won-1"}
    assert result["neighbours"][0]["reasons"] == ["same product (GTX)"]
    assert result["opportunity"]["state"] == "open"
    assert result["differences"][0] == "1 meeting organised by us vs 6 in similar won deals"
    first = result["neighbours"][0]
    assert (first["activities"], first["time_spent_hours"], first["closed_at"]) == \
        (6, 6.0, "2020-03-22T00:00:00Z")


def test_a_won_deal_is_not_its_own_neighbour(shop):
    result = similar_won_deals(shop, "won-0", k=5, as_of=AS_OF)
    ids = [n["id"] for n in result["neighbours"]]
    assert "won-0" not in ids and len(ids) == 5
    assert result["won_count"] == 5
    assert ids[0] == "won-1" and result["neighbours"][0]["distance"] == 0.0  # its twin


def test_a_deal_won_after_as_of_is_not_used_and_is_open_then(shop):
    # Before won-5 closed it is an open deal: neither neighbour nor counted.
    before = CLOSE + dt.timedelta(days=5)
    result = similar_won_deals(shop, "lost-1", k=10, as_of=before)
    assert sorted(n["id"] for n in result["neighbours"]) == [f"won-{n}" for n in range(5)]
    assert result["won_count"] == 5
    later = similar_won_deals(shop, "lost-1", k=10, as_of=AS_OF)
    assert "won-5" in [n["id"] for n in later["neighbours"]]
    itself = similar_won_deals(shop, "won-5", k=10, as_of=before)
    assert itself["opportunity"]["state"] == "open"
    assert itself["opportunity"]["closed_at"] is None
    assert "won-5" not in [n["id"] for n in itself["neighbours"]]


def test_fewer_than_five_won_deals_say_how_many_there_are_and_are_needed(tmp_path):
    path = tmp_path / "small.duckdb"

    def fill(batch):
        for n in range(3):
            _deal(batch, f"won-{n}", "won", meetings=2, closed=CLOSE)
        _deal(batch, "open-1", "open", meetings=1)

    _import(path, "small", fill)
    con = store.connect(path)
    try:
        result = similar_won_deals(con, "open-1", as_of=AS_OF)
    finally:
        con.close()
    assert result["won_count"] == 3 and result["needed"] == 5
    assert result["neighbours"] == [] and result["differences"] == []
    assert result["message"] == ("3 won opportunities so far; similar won deals need at "
                                 "least 5 (2 more).")


def test_an_import_that_adds_a_won_deal_refits_the_model(shop, tmp_path):
    first = similar_won_deals(shop, "open-1", k=3, as_of=AS_OF)
    assert first["won_count"] == 6
    assert "twin" not in [n["id"] for n in first["neighbours"]]
    shop.close()
    path = tmp_path / "shop.duckdb"
    # A won deal like open-1 at AS_OF: one meeting, same product, amount and age.
    _import(path, "second import", lambda b: _deal(b, "twin", "won", meetings=1,
                                                   created=OPENED, closed=AS_OF.replace(
                                                       hour=0, minute=0, second=0)))
    con = store.connect(path)
    try:
        second = similar_won_deals(con, "open-1", k=3, as_of=AS_OF)
    finally:
        con.close()
    assert second["won_count"] == 7
    assert second["neighbours"][0]["id"] == "twin"
    assert second["neighbours"][0]["distance"] == 0.0


def test_unknown_opportunity_is_a_lookup_error(shop):
    with pytest.raises(LookupError, match="nothing-like-this"):
        similar_won_deals(shop, "nothing-like-this", as_of=AS_OF)


# ---------------------------------------------------------------------------
# The features SQL, worked out by hand


def _mail(batch, activity_id, at, sender, to, *, reply_to=None, regarding="deal"):
    message_id = activity_id.removeprefix("msg:")
    batch.add("activities", {
        "activity_id": activity_id, "type": "email", "subject": "Quote", "start_at": at,
        "end_at": at, "state": "completed", "initiator_id": sender,
        "regarding_type": "opportunity" if regarding else None, "regarding_id": regarding,
        "message_id": message_id, "in_reply_to": reply_to,
        "refs": reply_to,
    })
    batch.add("activity_parties", {"activity_id": activity_id, "person_id": sender,
                                   "role": "sender"})
    batch.add("activity_parties", {"activity_id": activity_id, "person_id": to, "role": "to"})


def test_features_of_one_deal_by_hand(tmp_path):
    path = tmp_path / "one.duckdb"
    monday = T0 + dt.timedelta(hours=9)

    def fill(batch):
        batch.add("people", {"person_id": "user-lee", "name": "Lee", "crm_kind": "user",
                             "email": "lee@ourco.example"})
        _deal(batch, "deal", "open", meetings=0, created=T0)
        batch.add("opportunity_members", {"opportunity_id": "deal", "person_id": "user-lee",
                                          "role": "team"})
        _mail(batch, "msg:a@ourco.example", monday, SELLER, CONTACT)
        _mail(batch, "msg:b@contoso.example", monday + dt.timedelta(hours=4), CONTACT, SELLER,
              reply_to="a@ourco.example")
        # Not regarding anything, but between the owner and the deal's contact.
        _mail(batch, "msg:c@ourco.example", monday + dt.timedelta(days=1), SELLER, CONTACT,
              regarding=None)
        # Before the deal was created, and one set regarding another deal: not counted.
        _mail(batch, "msg:old@ourco.example", T0 - dt.timedelta(days=3), SELLER, CONTACT,
              regarding=None)
        _deal(batch, "other", "open", meetings=0, created=T0)
        _mail(batch, "msg:d@ourco.example", monday, SELLER, CONTACT, regarding="other")
        start = monday + dt.timedelta(hours=2)
        batch.add("activities", {
            "activity_id": "mtg-1", "type": "meeting", "start_at": start,
            "end_at": start + dt.timedelta(hours=1), "duration_minutes": 60.0,
            "state": "completed", "initiator_id": SELLER, "regarding_type": "opportunity",
            "regarding_id": "deal"})
        for person, role in ((SELLER, "organizer"), ("user-lee", "required"),
                             (CONTACT, "required")):
            batch.add("activity_parties", {"activity_id": "mtg-1", "person_id": person,
                                           "role": role})
        batch.add("activities", {
            "activity_id": "call-1", "type": "call", "start_at": start, "end_at": start,
            "duration_minutes": 10.0, "state": "completed", "direction": "incoming",
            "regarding_type": "opportunity", "regarding_id": "deal"})
        batch.add("activities", {
            "activity_id": "mtg-later", "type": "meeting", "start_at": start,
            "duration_minutes": 30.0, "state": "scheduled", "initiator_id": SELLER,
            "regarding_type": "opportunity", "regarding_id": "deal"})

    _import(path, "one", fill)
    con = store.connect(path)
    try:
        as_of = monday + dt.timedelta(days=2)  # 24 h after our second e-mail
        row = deal_features(con, as_of).loc["deal"]
    finally:
        con.close()
    assert row["state_as_of"] == "open"
    assert row["cycle_days"] == pytest.approx(2 + 9 / 24)
    counts = row[["activities", "emails_by_us", "emails_by_them", "meetings_by_us",
                  "meetings_by_them", "calls_by_us", "calls_by_them"]].tolist()
    assert counts == [5, 2, 1, 1, 0, 0, 1]
    # Us: 5 + 5 min sent, 2.5 received, meeting 60 min x 2 of ours, call 10 min.
    assert row["hours_by_us"] == pytest.approx((5 + 5 + 2.5 + 120 + 10) / 60)
    # Them: 2.5 + 2.5 received, 5 sent, meeting 60 min once, call 10 min.
    assert row["hours_by_them"] == pytest.approx((2.5 + 2.5 + 5 + 60 + 10) / 60)
    # Our two turns: one answered after 4 h, one waiting 24 h so far.
    assert row["response_hours_them"] == pytest.approx(4.0)
    assert row["response_rate_them"] == pytest.approx(0.5)
    assert row["wait_hours_them"] == pytest.approx((4 + 24) / 2)
    # Their one turn (the reply) is not answered: waiting since Monday 13:00.
    assert row["response_rate_us"] == pytest.approx(0.0)
    assert math.isnan(row["response_hours_us"])
    assert row["wait_hours_us"] == pytest.approx(24 + 20)
    assert (row["product"], row["industry"], row["employees"], row["region"]) == \
        ("GTX", "retail", 500.0, "East")


def test_the_command_line_prints_the_answer_as_json(shop, tmp_path, capsys):
    import json

    from rapport import cli

    shop.close()
    code = cli.main(["--db", str(tmp_path / "shop.duckdb"), "similar", "open-1", "--json",
                     "-k", "2", "--as-of", "2020-06-30"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["as_of"] == "2020-06-30T23:59:59Z" and result["k"] == 2
    assert sorted(n["id"] for n in result["neighbours"]) == ["won-0", "won-1"]
    code = cli.main(["--db", str(tmp_path / "shop.duckdb"), "similar", "no-such-deal"])
    assert code == cli.EXIT_LOOKUP
    assert "no opportunity matches 'no-such-deal'" in capsys.readouterr().err


def test_a_numeric_reason_says_how_near_it_is():
    from similarity.model import _reason

    assert _reason("cycle_days", 401.0, 127.2, 0.4) == \
        "sales cycle: 401 days vs 127 days (only 40% of won deals are as near)"
    assert _reason("amount", 12000.0, 9500.0, 0.05) == \
        "amount: 12,000 vs 9,500 (only 5% of won deals are as near)"
    assert _reason("product", "GTX", "GTX", 0.33) == "same product (GTX)"
