"""Pure registry rules (licence holders, dates, status) and the pagination helpers; no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from backend.api.pagination import (
    Page,
    decode_cursor,
    encode_cursor,
    page_from_query,
    parse_bbox,
    split_page,
)
from backend.api.params import time_param
from backend.errors import ValidationFailed
from backend.ids import uuid7
from backend.registry.models import LicenceKind, LicenceStatus
from backend.registry.rules import (
    TRANSITIONS,
    effective_status,
    licence_create_errors,
    transition_error,
)
from backend.registry.schemas import LicenceCreate

TODAY = date(2026, 3, 1)
S = LicenceStatus
Pair = tuple[LicenceStatus, LicenceStatus]
TRADE = [LicenceKind.buyer, LicenceKind.exporter]
HOLDER_ORG = "/properties/holder_organisation_id"
HOLDER_MINER = "/properties/holder_miner_id"


def _licence(**changes: Any) -> LicenceCreate:
    fields: dict[str, Any] = {
        "kind": LicenceKind.artisanal_mining,
        "number": "AML-KO-9999",
        "holder_miner_id": uuid.uuid4(),
        "district": "SL-E-KO",
        "valid_from": date(2026, 1, 1),
        "valid_to": date(2026, 12, 31),
    }
    fields.update(changes)
    return LicenceCreate(**fields)


def _trade_licence(kind: LicenceKind, **changes: Any) -> LicenceCreate:
    base: dict[str, Any] = {
        "kind": kind,
        "holder_miner_id": None,
        "holder_organisation_id": uuid.uuid4(),
        "district": None,
        "fit_and_proper": True,
    }
    return _licence(**(base | changes))


def _pointers(props: LicenceCreate) -> list[str]:
    return [e.pointer for e in licence_create_errors(props)]


def _pointer_of(err: ValidationFailed) -> str:
    assert len(err.errors) == 1
    return err.errors[0].pointer


# --- licence_create_errors -----------------------------------------------------------------


def test_a_complete_mining_licence_has_no_errors() -> None:
    assert licence_create_errors(_licence()) == []


@pytest.mark.parametrize("kind", TRADE, ids=str)
def test_a_complete_buyer_or_exporter_licence_has_no_errors(kind: LicenceKind) -> None:
    assert licence_create_errors(_trade_licence(kind)) == []


def test_a_licence_may_start_and_end_on_the_same_day() -> None:
    assert licence_create_errors(_licence(valid_to=date(2026, 1, 1))) == []


def test_a_licence_ending_before_it_starts_names_valid_to() -> None:
    assert _pointers(_licence(valid_to=date(2025, 12, 31))) == ["/properties/valid_to"]


def test_a_mining_licence_without_a_miner_holder_names_holder_miner_id() -> None:
    assert _pointers(_licence(holder_miner_id=None)) == ["/properties/holder_miner_id"]


def test_a_mining_licence_held_by_an_organisation_names_holder_organisation_id() -> None:
    assert _pointers(_licence(holder_organisation_id=uuid.uuid4())) == [HOLDER_ORG]


def test_a_mining_licence_without_a_district_names_district() -> None:
    assert _pointers(_licence(district=None)) == ["/properties/district"]


def test_a_mining_licence_with_a_fit_and_proper_finding_names_fit_and_proper() -> None:
    assert _pointers(_licence(fit_and_proper=False)) == ["/properties/fit_and_proper"]


@pytest.mark.parametrize("kind", TRADE, ids=str)
def test_a_trade_licence_without_an_organisation_names_the_holder(kind: LicenceKind) -> None:
    assert _pointers(_trade_licence(kind, holder_organisation_id=None)) == [HOLDER_ORG]


@pytest.mark.parametrize("kind", TRADE, ids=str)
def test_a_trade_licence_held_by_a_miner_names_holder_miner_id(kind: LicenceKind) -> None:
    assert _pointers(_trade_licence(kind, holder_miner_id=uuid.uuid4())) == [HOLDER_MINER]


@pytest.mark.parametrize("kind", TRADE, ids=str)
def test_a_trade_licence_without_the_fit_and_proper_finding_names_it(kind: LicenceKind) -> None:
    assert _pointers(_trade_licence(kind, fit_and_proper=None)) == ["/properties/fit_and_proper"]


def test_a_trade_licence_found_not_fit_and_proper_is_still_well_formed() -> None:
    assert licence_create_errors(_trade_licence(LicenceKind.buyer, fit_and_proper=False)) == []


def test_every_error_of_a_licence_is_reported_at_once() -> None:
    props = _licence(holder_miner_id=None, district=None, valid_to=date(2025, 1, 1))
    assert sorted(_pointers(props)) == [
        "/properties/district",
        "/properties/holder_miner_id",
        "/properties/valid_to",
    ]


# --- effective_status ----------------------------------------------------------------------


def test_an_active_licence_past_its_end_date_is_effectively_expired() -> None:
    assert effective_status("active", TODAY - timedelta(days=1), TODAY) is S.expired


def test_an_active_licence_is_still_active_on_its_last_day() -> None:
    assert effective_status("active", TODAY, TODAY) is S.active


def test_an_active_licence_before_its_end_date_is_active() -> None:
    assert effective_status(S.active, TODAY + timedelta(days=30), TODAY) is S.active


@pytest.mark.parametrize("status", [S.suspended, S.revoked, S.expired], ids=str)
def test_a_licence_not_active_keeps_its_status_after_its_end_date(status: LicenceStatus) -> None:
    assert effective_status(status.value, TODAY - timedelta(days=100), TODAY) is status


# --- transition_error ----------------------------------------------------------------------

ALLOWED = [(a, b) for a, targets in TRANSITIONS.items() for b in targets]
REFUSED = [(a, b) for a in S for b in S if b not in TRANSITIONS[a]]


def _pair_id(pair: Pair) -> str:
    return f"{pair[0].value}-to-{pair[1].value}"


@pytest.mark.parametrize("pair", ALLOWED, ids=_pair_id)
def test_an_allowed_status_transition_has_no_error(pair: Pair) -> None:
    assert transition_error(*pair) is None


@pytest.mark.parametrize("pair", REFUSED, ids=_pair_id)
def test_a_refused_status_transition_says_what_is_allowed(pair: Pair) -> None:
    message = transition_error(*pair)
    assert message is not None
    assert f"{pair[0].value} licence cannot become {pair[1].value}" in message
    assert "allowed:" in message


def test_suspension_and_reinstatement_are_allowed() -> None:
    assert transition_error(S.active, S.suspended) is None
    assert transition_error(S.suspended, S.active) is None


def test_an_expired_licence_may_be_renewed_to_active() -> None:
    assert transition_error(S.expired, S.active) is None


@pytest.mark.parametrize("target", list(S), ids=str)
def test_revocation_is_final(target: LicenceStatus) -> None:
    message = transition_error(S.revoked, target)
    assert message is not None
    assert "revocation is final" in message


def test_a_licence_cannot_transition_to_the_status_it_has() -> None:
    for status in S:
        assert transition_error(status, status) is not None


# --- cursors -------------------------------------------------------------------------------


def test_a_cursor_round_trips_to_the_same_id() -> None:
    for record_id in (uuid7(), uuid.uuid4(), uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)):
        assert decode_cursor(encode_cursor(record_id)) == record_id


def test_a_cursor_is_url_safe_and_unpadded() -> None:
    cursor = encode_cursor(uuid.UUID(int=2**128 - 1))
    assert cursor.isascii()
    assert not set(cursor) & set("+/=")


@pytest.mark.parametrize(
    "cursor",
    ["abc", "!!!!", "not a cursor", "AAAA" * 6, "é", "A" * 30],
    ids=["short", "punctuation", "spaces", "too-long", "non-ascii", "17-bytes"],
)
def test_a_cursor_this_server_did_not_issue_is_a_422_naming_the_cursor(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor)
    assert _pointer_of(caught.value) == "/query/cursor"


def test_page_from_query_defaults_and_reads_the_cursor() -> None:
    record_id = uuid7()
    assert page_from_query({}, default=100, maximum=1000) == Page(limit=100, after=None)
    query = {"limit": "5", "cursor": encode_cursor(record_id)}
    page = page_from_query(query, default=100, maximum=1000)
    assert page == Page(limit=5, after=record_id)


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "ten", "1.5", ""], ids=repr)
def test_a_limit_outside_one_to_the_maximum_is_a_422_naming_limit(limit: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        page_from_query({"limit": limit}, default=100, maximum=1000)
    assert _pointer_of(caught.value) == "/query/limit"


def test_split_page_gives_a_cursor_only_when_there_is_more() -> None:
    ids = [uuid7() for _ in range(3)]
    items, cursor = split_page(ids, Page(limit=2, after=None), lambda i: i)
    assert items == ids[:2]
    assert cursor is not None and decode_cursor(cursor) == ids[1]
    items, cursor = split_page(ids, Page(limit=3, after=None), lambda i: i)
    assert items == ids and cursor is None


# --- bbox and since ------------------------------------------------------------------------


def test_no_bbox_is_no_filter() -> None:
    assert parse_bbox(None) is None


def test_a_bbox_is_four_floats_in_lon_lat_order() -> None:
    assert parse_bbox("-11.2,8.1,-10.5,9.0") == (-11.2, 8.1, -10.5, 9.0)
    assert parse_bbox("-180,-90,180,90") == (-180.0, -90.0, 180.0, 90.0)


@pytest.mark.parametrize(
    "raw",
    ["1,2,3", "1,2,3,4,5", "a,b,c,d", "", "1;2;3;4"],
    ids=["three", "five", "letters", "empty", "semicolons"],
)
def test_a_bbox_that_is_not_four_numbers_is_a_422_naming_bbox(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_bbox(raw)
    assert _pointer_of(caught.value) == "/query/bbox"


@pytest.mark.parametrize(
    "raw",
    ["-10,8,-11,9", "-11,9,-10,8", "-181,8,-10,9", "-11,-91,-10,9", "nan,8,-10,9", "-11,8,inf,9"],
    ids=["lon-inverted", "lat-inverted", "lon-range", "lat-range", "nan", "inf"],
)
def test_a_bbox_out_of_range_or_inverted_is_a_422_naming_bbox(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_bbox(raw)
    assert _pointer_of(caught.value) == "/query/bbox"


def parse_since(raw: str | None) -> datetime | None:
    query = {} if raw is None else {"updated_since": raw}
    return time_param(query, "updated_since", allow_date=False)


def test_no_since_is_no_filter() -> None:
    assert parse_since(None) is None


def test_since_accepts_rfc3339_with_z() -> None:
    assert parse_since("2026-01-31T12:00:00Z") == datetime(2026, 1, 31, 12, tzinfo=UTC)


def test_since_accepts_an_offset_whose_plus_a_query_string_turned_into_a_space() -> None:
    expected = datetime(2026, 1, 31, 12, tzinfo=timezone(timedelta(hours=1)))
    assert parse_since("2026-01-31T12:00:00+01:00") == expected
    assert parse_since("2026-01-31T12:00:00 01:00") == expected


def test_since_without_a_time_zone_is_a_422_naming_updated_since() -> None:
    with pytest.raises(ValidationFailed, match="time zone") as caught:
        parse_since("2026-01-31T12:00:00")
    assert _pointer_of(caught.value) == "/query/updated_since"


@pytest.mark.parametrize(
    "raw",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "31/01/2026",
        "2026-01-31",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-14:00",
    ],
    ids=str,
)
def test_since_that_is_not_a_time_is_a_422_naming_updated_since(raw: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_since(raw)
    assert _pointer_of(caught.value) == "/query/updated_since"
