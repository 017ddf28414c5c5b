"""Sync scope: which feed scopes a principal pulls, and which scope a record belongs to."""

from __future__ import annotations

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.errors import Forbidden

NATIONAL = "national"
# Every miner and site again, for buyers and exporters: they name both in a purchase logged
# offline (miners reach them redacted to name and licence numbers).
TRADE = "trade"


def district(code: str) -> str:
    return f"district:{code}"


def organisation(org_id: object) -> str:
    return f"org:{org_id}"


def scopes_for(principal: Principal) -> list[str] | None:
    """None means every scope (national roles); donors do not sync (aggregates only)."""
    if principal.role is Role.donor:
        raise Forbidden("donors see aggregates only and do not sync records")
    if principal.role is Role.field_officer:
        return [NATIONAL, *(district(d) for d in sorted(principal.districts))]
    if principal.role in (Role.buyer, Role.exporter):
        return [NATIONAL, TRADE, organisation(principal.organisation_id)]
    return None
