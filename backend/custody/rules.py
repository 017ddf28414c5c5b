"""Custody rules with no I/O: mass balance, loss tolerance, stones, licences, origins, hashes."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal
from typing import Any

from backend.auth.models import Role
from backend.clock import as_utc
from backend.controls.balance import carats_problem, stones_problem
from backend.custody.models import EventKind, LotStatus
from backend.errors import FieldError

CARAT = Decimal("0.001")
R = Role
# Who may record each kind. Buyers and exporters act for their own organisation only.
KIND_ROLES: dict[EventKind, frozenset[Role]] = {
    EventKind.produce: frozenset({R.admin, R.ministry, R.field_officer}),
    EventKind.purchase: frozenset({R.admin, R.buyer}),
    EventKind.consolidate: frozenset({R.admin, R.buyer, R.exporter}),
    EventKind.split_: frozenset({R.admin, R.buyer, R.exporter}),
    EventKind.transfer: frozenset({R.admin, R.buyer, R.exporter}),
    EventKind.accept: frozenset({R.admin, R.exporter}),
    EventKind.reweigh: frozenset({R.admin, R.buyer, R.exporter, R.export_office}),
    EventKind.value: frozenset({R.admin, R.export_office}),
    EventKind.seal: frozenset({R.admin, R.export_office}),
    EventKind.export: frozenset({R.admin, R.export_office}),
    EventKind.void: frozenset({R.admin, R.buyer, R.exporter}),
}

# The lot statuses each kind accepts as input.
INPUT_STATUSES: dict[EventKind, frozenset[LotStatus]] = {
    EventKind.purchase: frozenset({LotStatus.active}),
    EventKind.consolidate: frozenset({LotStatus.active}),
    EventKind.split_: frozenset({LotStatus.active}),
    EventKind.transfer: frozenset({LotStatus.active}),
    EventKind.accept: frozenset({LotStatus.in_transit}),
    EventKind.reweigh: frozenset({LotStatus.active}),
    EventKind.value: frozenset({LotStatus.active, LotStatus.sealed}),
    EventKind.seal: frozenset({LotStatus.active}),
    EventKind.export: frozenset({LotStatus.sealed}),
    EventKind.void: frozenset({LotStatus.active}),
}

# Kinds that use their inputs up, and the status each leaves its input in.
CONSUMES: dict[EventKind, LotStatus] = {
    EventKind.purchase: LotStatus.consumed,
    EventKind.consolidate: LotStatus.consumed,
    EventKind.split_: LotStatus.consumed,
    EventKind.accept: LotStatus.consumed,
    EventKind.reweigh: LotStatus.consumed,
    EventKind.export: LotStatus.exported,
    EventKind.void: LotStatus.void,
}
# Kinds that change their input's status without using it up.
MARKS: dict[EventKind, LotStatus] = {
    EventKind.transfer: LotStatus.in_transit,
    EventKind.seal: LotStatus.sealed,
}
# Transformations: inputs become outputs held by the same party (or, for accept and a
# purchase of a production lot, by the receiver), so mass balance and stones are checked.
TRANSFORMS = frozenset(
    {
        EventKind.purchase,
        EventKind.consolidate,
        EventKind.split_,
        EventKind.accept,
        EventKind.reweigh,
    }
)


def carats(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CARAT)


def check_mass_balance(
    inputs: Decimal, outputs: Decimal, reason: str | None, *, pointer: str = "/outputs"
) -> list[FieldError]:
    """No transformation creates carats; a loss beyond the tolerance carries a reason."""
    problem = carats_problem(inputs, outputs, reason)
    if problem is None:
        return []
    where, detail = problem
    return [FieldError(pointer if where == "outputs" else "/reason", detail)]


def check_stones(
    inputs: int, outputs: int, breakage_declared: bool, reason: str | None
) -> list[FieldError]:
    """Stone counts are conserved unless breakage is declared (with a reason)."""
    problem = stones_problem(inputs, outputs, breakage_declared, reason)
    return [] if problem is None else [FieldError(f"/{problem[0]}", problem[1])]


def stock_after(stock: Decimal, taken: Decimal, added: Decimal) -> Decimal:
    return stock - taken + added


def check_stock(stock: Decimal, taken: Decimal, added: Decimal) -> list[FieldError]:
    """An actor's stock never goes negative."""
    after = stock_after(stock, taken, added)
    if after < 0:
        return [
            FieldError(
                "/inputs", f"this would leave the holder's stock at {after} ct; stock cannot be < 0"
            )
        ]
    return []


def check_size_classes(size_classes: dict[str, int] | None, stones: int) -> str | None:
    if size_classes is None:
        return None
    total = sum(size_classes.values())
    if total != stones:
        return f"size classes count {total} stones; the lot has {stones}"
    return None


# --- licences -----------------------------------------------------------------------------------


def flag(code: str, detail: str) -> dict[str, str]:
    return {"code": code, "detail": detail}


# --- origins ------------------------------------------------------------------------------------

OriginKey = tuple[uuid.UUID | None, uuid.UUID | None, uuid.UUID | None, uuid.UUID | None]
"""(site_id, miner_id, purchase_event_id, production_lot_id)"""


def pool(origins: Iterable[tuple[OriginKey, Decimal]]) -> dict[OriginKey, Decimal]:
    merged: dict[OriginKey, Decimal] = {}
    for key, share in origins:
        merged[key] = merged.get(key, Decimal(0)) + share
    return merged


def attribute(pooled: dict[OriginKey, Decimal], target: Decimal) -> dict[OriginKey, Decimal]:
    """Shares of `target` carats in proportion to `pooled`, summing exactly to `target`.

    Largest-remainder rounding to 0.001 ct; the results are estimates, never measurements.
    """
    total = sum(pooled.values(), Decimal(0))
    if total <= 0 or not pooled:
        return {}
    keys = sorted(pooled, key=lambda k: tuple(str(x) for x in k))
    raw = {k: target * pooled[k] / total for k in keys}
    floors = {k: raw[k].quantize(CARAT, rounding=ROUND_DOWN) for k in keys}
    left = int(((target - sum(floors.values(), Decimal(0))) / CARAT).to_integral_value())
    by_remainder = sorted(keys, key=lambda k: raw[k] - floors[k], reverse=True)
    for k in by_remainder[: max(left, 0)]:
        floors[k] += CARAT
    return {k: v for k, v in floors.items() if v > 0}


# --- hash chain ---------------------------------------------------------------------------------

HASHED_EVENT_FIELDS = (
    "id",
    "kind",
    "occurred_at",
    "device_time",
    "created_at",
    "recorded_by",
    "device_id",
    "country_code",
    "district_code",
    "chain_id",
    "chain_seq",
    "organisation_id",
    "organisation_licence_id",
    "counterparty_organisation_id",
    "counterparty_licence_id",
    "site_id",
    "miner_id",
    "miner_licence_id",
    "place",
    "distance_to_site_m",
    "price",
    "currency",
    "usd_value",
    "receipt_number",
    "container_id",
    "reason",
    "breakage_declared",
    "corrects_event_id",
    "accepts_event_id",
    "flags",
)


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def canonical_json(payload: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, Decimals and times as fixed strings: the bytes that get hashed."""
    return json.dumps(
        _canonical(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def event_payload(
    fields: dict[str, Any],
    location: tuple[float, float] | None,
    inputs: Sequence[tuple[uuid.UUID, Decimal, int, bool]],
    outputs: Sequence[tuple[uuid.UUID, str, Decimal, int, dict[str, int] | None]],
    prev_hash: str | None,
) -> dict[str, Any]:
    """What an event's hash covers: its fields, its point, its inputs and outputs, prev_hash."""
    payload = {name: fields.get(name) for name in HASHED_EVENT_FIELDS}
    payload["location"] = None if location is None else [repr(location[0]), repr(location[1])]
    payload["inputs"] = sorted(
        ([str(i), str(carats(c)), n, consumed] for i, c, n, consumed in inputs),
        key=lambda row: str(row[0]),
    )
    payload["outputs"] = sorted(
        ([str(i), tag, str(carats(c)), n, sizes] for i, tag, c, n, sizes in outputs),
        key=lambda row: str(row[0]),
    )
    payload["prev_hash"] = prev_hash
    return payload


def event_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


@dataclass(frozen=True)
class ChainLink:
    event_id: uuid.UUID
    seq: int
    prev_hash: str | None
    stored_hash: str
    recomputed_hash: str


@dataclass(frozen=True)
class ChainBreak:
    event_id: uuid.UUID
    seq: int
    problem: str


def verify_chain(links: Iterable[ChainLink]) -> tuple[int, list[ChainBreak]]:
    """Walk a chain in sequence order: each hash must match its content and link to the last."""
    breaks: list[ChainBreak] = []
    previous: str | None = None
    expected_seq = 1
    count = 0
    for link in links:
        count += 1
        if link.seq != expected_seq:
            breaks.append(
                ChainBreak(link.event_id, link.seq, f"sequence gap: expected {expected_seq}")
            )
        if link.prev_hash != previous:
            breaks.append(
                ChainBreak(
                    link.event_id, link.seq, "prev_hash does not match the previous event's hash"
                )
            )
        if link.recomputed_hash != link.stored_hash:
            breaks.append(
                ChainBreak(
                    link.event_id, link.seq, "content changed: the hash does not match the event"
                )
            )
        previous = link.stored_hash
        expected_seq = link.seq + 1
    return count, breaks
