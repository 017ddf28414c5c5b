"""Whether a licence is valid for a kind on a date, and which local date a moment falls on."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from backend.clock import as_utc
from backend.registry.models import LicenceKind, LicenceStatus


@dataclass(frozen=True)
class LicenceFacts:
    id: uuid.UUID
    number: str
    kind: str
    status: str
    valid_from: date
    valid_to: date
    fit_and_proper: bool | None


def local_date(moment: datetime, timezone: str) -> date:
    """The calendar date of `moment` in the country's time zone (licences run by local dates)."""
    return as_utc(moment).astimezone(ZoneInfo(timezone)).date()  # ZoneInfo caches by key


def licence_problem(lic: LicenceFacts | None, kind: LicenceKind, on: date) -> str | None:
    """Why a licence is not valid for `kind` on date `on`; None when it is.

    Status is the licence's status as recorded now: a revoked or suspended licence taints
    what its holder handles, whatever the date.
    """
    if lic is None:
        return f"holds no {kind.value} licence"
    if lic.kind != kind:
        return f"licence {lic.number} is a {lic.kind} licence, not {kind.value}"
    if lic.status != LicenceStatus.active:
        return f"licence {lic.number} is {lic.status}"
    if not lic.valid_from <= on <= lic.valid_to:
        return f"licence {lic.number} is valid {lic.valid_from} to {lic.valid_to}, not on {on}"
    if kind is not LicenceKind.artisanal_mining and lic.fit_and_proper is not True:
        return f"licence {lic.number} lacks a fit-and-proper finding"
    return None


def best_licence(
    candidates: Iterable[LicenceFacts], kind: LicenceKind, on: date, prefer: uuid.UUID | None = None
) -> LicenceFacts | None:
    """The licence to judge by: a valid one (the preferred one first), else the latest seen."""
    return best_ranked(ranked(candidates, kind), kind, on, prefer)


def ranked(candidates: Iterable[LicenceFacts], kind: LicenceKind) -> list[LicenceFacts]:
    """The candidates of `kind`, latest `valid_to` first (ties in their given order).

    Ranking a holder's licences once lets a caller judge many dates with `best_ranked`.
    """
    found = [c for c in candidates if c.kind == kind]
    found.sort(key=lambda c: -c.valid_to.toordinal())
    return found


def best_ranked(
    licences: Sequence[LicenceFacts], kind: LicenceKind, on: date, prefer: uuid.UUID | None = None
) -> LicenceFacts | None:
    """`best_licence` over licences `ranked` already, without sorting them again.

    The preferred one if valid, else the first valid one, else the latest (the preferred one
    among equally late ones).
    """
    preferred = None
    if prefer is not None:
        preferred = next((c for c in licences if c.id == prefer), None)
        if preferred is not None and licence_problem(preferred, kind, on) is None:
            return preferred
    for c in licences:
        if c is not preferred and licence_problem(c, kind, on) is None:
            return c
    if not licences:
        return None
    # the latest; among equals the preferred one, as it would be ranked first
    if preferred is not None and preferred.valid_to == licences[0].valid_to:
        return preferred
    return licences[0]
