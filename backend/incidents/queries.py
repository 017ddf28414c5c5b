"""Incident queries: each role's scope in the WHERE clause, and what evidence asks about."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.principal import Principal
from backend.incidents.models import Incident, IncidentFollowUp, IncidentKind, IncidentStatus


@dataclass(frozen=True)
class Filters:
    status: str | None = None
    kind: str | None = None
    district: str | None = None
    site_id: uuid.UUID | None = None
    miner_id: uuid.UUID | None = None
    organisation_id: uuid.UUID | None = None
    lot_id: uuid.UUID | None = None
    updated_since: datetime | None = None


def incidents(principal: Principal, f: Filters) -> Select[Any]:
    """Field officers see their districts' incidents; national roles all (permissions decide)."""
    stmt = select(Incident)
    if principal.is_district_scoped:
        districts = sorted(principal.districts)
        stmt = stmt.where(col(Incident.district_code).in_(districts) if districts else false())
    for column, value in (
        (Incident.status, f.status),
        (Incident.kind, f.kind),
        (Incident.district_code, f.district),
        (Incident.site_id, f.site_id),
        (Incident.miner_id, f.miner_id),
        (Incident.organisation_id, f.organisation_id),
        (Incident.lot_id, f.lot_id),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    if f.updated_since is not None:
        stmt = stmt.where(col(Incident.updated_at) > f.updated_since)
    return stmt


def one(session: Session, principal: Principal, incident_id: uuid.UUID) -> Incident | None:
    return session.scalars(
        incidents(principal, Filters()).where(col(Incident.id) == incident_id)
    ).first()


def follow_ups(
    session: Session, incident_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[IncidentFollowUp]]:
    found: dict[uuid.UUID, list[IncidentFollowUp]] = defaultdict(list)
    if not incident_ids:
        return found
    for row in session.scalars(
        select(IncidentFollowUp)
        .where(col(IncidentFollowUp.incident_id).in_(list(incident_ids)))
        .order_by(col(IncidentFollowUp.at), col(IncidentFollowUp.id))
    ):
        found[row.incident_id].append(row)
    return found


def open_touching(
    session: Session,
    *,
    site_ids: Collection[uuid.UUID] = (),
    miner_ids: Collection[uuid.UUID] = (),
    organisation_ids: Collection[uuid.UUID] = (),
    lot_ids: Collection[uuid.UUID] = (),
) -> list[Incident]:
    """Open incidents about any of these sites, miners, organisations or lots.

    The one definition of "an open incident counts against" that evidence and insight use.
    """
    clauses = [
        col(column).in_(list(ids))
        for column, ids in (
            (Incident.site_id, site_ids),
            (Incident.miner_id, miner_ids),
            (Incident.organisation_id, organisation_ids),
            (Incident.lot_id, lot_ids),
        )
        if ids
    ]
    if not clauses:
        return []
    return list(
        session.scalars(
            select(Incident)
            .where(col(Incident.status) == IncidentStatus.open, or_(*clauses))
            .order_by(col(Incident.occurred_at), col(Incident.id))
        )
    )


def conflict_sites(session: Session, site_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Sites with an open armed-group presence report: they contribute nothing to an export."""
    if not site_ids:
        return set()
    return set(
        session.scalars(
            select(col(Incident.site_id)).where(
                col(Incident.kind) == IncidentKind.armed_group_presence,
                col(Incident.status) == IncidentStatus.open,
                col(Incident.site_id).in_(list(site_ids)),
            )
        )
    )


def attachment_refs(session: Session) -> list[str]:
    """Every attachment hash an incident or a follow-up names."""
    refs: set[str] = set()
    for rows in (
        session.scalars(select(col(Incident.attachments))),
        session.scalars(select(col(IncidentFollowUp.attachments))),
    ):
        for hashes in rows:
            refs.update(hashes or ())
    return sorted(refs)
