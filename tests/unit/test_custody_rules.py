"""Custody rules without a database: tolerance, mass balance, stones, origins, hashes, EPCIS map."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.controls.balance import loss_tolerance
from backend.controls.licences import LicenceFacts, licence_problem
from backend.custody import epcis
from backend.custody.models import EventKind
from backend.custody.rules import (
    INPUT_STATUSES,
    KIND_ROLES,
    ChainLink,
    attribute,
    check_mass_balance,
    check_stock,
    check_stones,
    event_hash,
    event_payload,
    verify_chain,
)
from backend.registry.models import LicenceKind


@pytest.mark.parametrize(
    ("inputs", "tolerance"),
    [("1.000", "0.020"), ("4.000", "0.020"), ("10.000", "0.050"), ("100.000", "0.500")],
)
def test_loss_tolerance_is_half_a_percent_or_two_points(inputs: str, tolerance: str) -> None:
    assert loss_tolerance(Decimal(inputs)) == Decimal(tolerance)


def test_outputs_above_inputs_plus_resolution_are_refused() -> None:
    assert check_mass_balance(Decimal("1.000"), Decimal("1.001"), None) == []
    [err] = check_mass_balance(Decimal("1.000"), Decimal("1.002"), None)
    assert err.pointer == "/outputs"


def test_a_loss_beyond_tolerance_names_the_reason_field() -> None:
    [err] = check_mass_balance(Decimal("1.000"), Decimal("0.979"), None)
    assert err.pointer == "/reason"
    assert check_mass_balance(Decimal("1.000"), Decimal("0.979"), "washed") == []
    assert check_mass_balance(Decimal("1.000"), Decimal("0.980"), None) == []


def test_stones_are_conserved_unless_breakage_is_declared_with_a_reason() -> None:
    assert check_stones(4, 4, False, None) == []
    assert [e.pointer for e in check_stones(4, 5, False, None)] == ["/outputs"]
    assert [e.pointer for e in check_stones(4, 5, True, None)] == ["/reason"]
    assert check_stones(4, 5, True, "a stone split") == []


def test_stock_never_goes_negative() -> None:
    assert check_stock(Decimal("1.000"), Decimal("1.000"), Decimal(0)) == []
    assert check_stock(Decimal("1.000"), Decimal("1.001"), Decimal(0))


def _licence(**kw: object) -> LicenceFacts:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "number": "BUY-1",
        "kind": "buyer",
        "status": "active",
        "valid_from": date(2026, 1, 1),
        "valid_to": date(2026, 12, 31),
        "fit_and_proper": True,
    }
    values.update(kw)
    return LicenceFacts(**values)  # type: ignore[arg-type]


def test_licence_validity_on_a_date() -> None:
    on = date(2026, 6, 1)
    assert licence_problem(_licence(), LicenceKind.buyer, on) is None
    assert licence_problem(None, LicenceKind.buyer, on) == "holds no buyer licence"
    assert "suspended" in str(licence_problem(_licence(status="suspended"), LicenceKind.buyer, on))
    assert "not on" in str(licence_problem(_licence(), LicenceKind.buyer, date(2027, 1, 1)))
    assert "fit-and-proper" in str(
        licence_problem(_licence(fit_and_proper=None), LicenceKind.buyer, on)
    )
    assert "not exporter" in str(licence_problem(_licence(), LicenceKind.exporter, on))


@given(
    shares=st.lists(st.integers(1, 10_000), min_size=1, max_size=20),
    target=st.integers(1, 100_000),
)
def test_attributed_shares_always_sum_to_the_lot(shares: list[int], target: int) -> None:
    pooled = {(uuid.UUID(int=i), None, None, None): Decimal(s) / 1000 for i, s in enumerate(shares)}
    result = attribute(pooled, Decimal(target) / 1000)
    assert sum(result.values()) == Decimal(target) / 1000
    assert all(v > 0 for v in result.values())


def _payload(prev: str | None, price: str = "10.00") -> dict[str, object]:
    return event_payload(
        {
            "id": uuid.UUID(int=1),
            "kind": "purchase",
            "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
            "price": Decimal(price),
        },
        (-10.9, 8.6),
        [(uuid.UUID(int=2), Decimal("1.5"), 2, True)],
        [(uuid.UUID(int=3), "T", Decimal("1.5"), 2, None)],
        prev,
    )


def test_hash_covers_content_and_the_previous_hash() -> None:
    h = event_hash(_payload(None))
    assert h == event_hash(_payload(None))
    assert h != event_hash(_payload(None, price="10.01"))
    assert h != event_hash(_payload("0" * 64))


def test_chain_verification_reports_gaps_broken_links_and_changed_content() -> None:
    ids = [uuid.UUID(int=i) for i in range(4)]
    good = [
        ChainLink(ids[0], 1, None, "a", "a"),
        ChainLink(ids[1], 2, "a", "b", "b"),
        ChainLink(ids[2], 3, "b", "c", "c"),
    ]
    assert verify_chain(good) == (3, [])
    tampered = [good[0], ChainLink(ids[1], 2, "a", "b", "x"), good[2]]
    [brk] = verify_chain(tampered)[1]
    assert brk.event_id == ids[1] and "content changed" in brk.problem
    relinked = [good[0], ChainLink(ids[1], 2, "z", "b", "b"), good[2]]
    assert "prev_hash" in verify_chain(relinked)[1][0].problem
    gap = [good[0], ChainLink(ids[2], 3, "a", "c", "c")]
    assert "sequence gap" in verify_chain(gap)[1][0].problem


def test_every_kind_has_roles_and_an_epcis_mapping() -> None:
    assert set(KIND_ROLES) == set(EventKind)
    assert set(epcis.MAPPING) == set(EventKind)
    assert set(INPUT_STATUSES) == set(EventKind) - {EventKind.produce}
    types = {m[0] for m in epcis.MAPPING.values()}
    assert types == {"ObjectEvent", "AggregationEvent", "TransformationEvent", "TransactionEvent"}
