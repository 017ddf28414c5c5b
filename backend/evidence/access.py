"""Who may read and compute evidence reports: the role table, then an exporter's own lots."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.auth.models import Role
from backend.auth.permissions import Action, require
from backend.auth.principal import Principal
from backend.custody.models import Lot
from backend.errors import NotFound


def require_compute(principal: Principal) -> None:
    require(principal, "evidence_report", Action.write)


def readable_lot(session: Session, principal: Principal, lot_id: object) -> Lot:
    """The lot whose reports the principal may read; an exporter's other lots do not exist."""
    require(principal, "evidence_report", Action.read)
    lot = session.get(Lot, lot_id)
    if lot is None:
        raise NotFound(f"no lot {lot_id}")
    if principal.role is Role.exporter and lot.holder_organisation_id != principal.organisation_id:
        raise NotFound(f"no lot {lot_id}")
    return lot
