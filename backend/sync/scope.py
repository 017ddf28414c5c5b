"""Sync scope: which feed scopes a principal pulls, and which scope a record belongs to."""

from __future__ import annotations

from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.changes import NATIONAL, TRADE, district, organisation
from backend.errors import Forbidden

__all__ = ["NATIONAL", "TRADE", "district", "organisation", "scopes_for"]


def scopes_for(principal: Principal) -> list[str] | None:
    """None means every scope (national roles); donors do not sync (aggregates only)."""
    if principal.role is Role.donor:
        raise Forbidden("donors see aggregates only and do not sync records")
    if principal.role is Role.field_officer:
        return [NATIONAL, *(district(d) for d in sorted(principal.districts))]
    if principal.role in (Role.buyer, Role.exporter):
        return [NATIONAL, TRADE, organisation(principal.organisation_id)]
    return None
