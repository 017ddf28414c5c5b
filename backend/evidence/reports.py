"""Stored evidence reports: the latest for a lot, whether its data changed since, overrides.

This is the interface certificates build on:
- `latest_report(session, lot_id)` → the newest stored report, or None;
- `data_version(session, lot_id)` → a fingerprint of everything the checks read;
- `is_current(session, report)` → the report was computed on today's data;
- `record_override(session=, principal=, report=, reason=, purpose=)` → an audited override.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause
from sqlmodel import col

from backend.audit.service import record as audit
from backend.auth.principal import Principal
from backend.custody.models import CustodyEvent, EventOutput, Lot, LotOrigin
from backend.custody.trace import ancestors
from backend.evidence.models import (
    CapacityRate,
    EvidenceOverride,
    EvidenceReport,
    FootprintProfile,
)
from backend.incidents.models import Incident
from backend.registry.models import Licence, Miner, Organisation, Site, SiteVisit

# Registry tables whose rows the checks read; any write to them moves `updated_at`.
REGISTRY_TABLES = (Licence, Miner, Organisation, Site, SiteVisit)


def latest_report(session: Session, lot_id: uuid.UUID) -> EvidenceReport | None:
    return session.scalars(
        select(EvidenceReport)
        .where(col(EvidenceReport.lot_id) == lot_id)
        .order_by(col(EvidenceReport.computed_at).desc(), col(EvidenceReport.id).desc())
        .limit(1)
    ).first()


def data_version(session: Session, lot_id: uuid.UUID, tree: FromClause | None = None) -> str:
    """SHA-256 over the hashes of the events behind the lot and the latest writes it reads.

    Custody events are append-only and hash-chained, so their hashes name the trace exactly;
    registry rows carry `updated_at`, so their maximum and count change with any write; the
    lot's own version moves when it is valued or sealed; the events at the parcel's sites, the
    capacity rates, footprint profiles and incidents are what the other checks read.
    `tree` is the lot's `trace_table` when the caller holds one; else the recursive query.
    """
    digest = hashlib.sha256()
    if tree is None:
        tree = ancestors(lot_id)
    hashes = session.scalars(
        select(col(CustodyEvent.hash))
        .join(EventOutput, col(EventOutput.event_id) == col(CustodyEvent.id))
        .join(tree, tree.c.lot_id == col(EventOutput.lot_id))
        .order_by(col(CustodyEvent.hash))
    )
    for h in hashes:
        digest.update(h.encode())
    for model in REGISTRY_TABLES:
        latest, count = session.execute(select(func.max(col(model.updated_at)), func.count())).one()
        digest.update(f"|{model.__tablename__}:{latest}:{count}".encode())
    lot_version = session.scalar(select(col(Lot.version)).where(col(Lot.id) == lot_id))
    digest.update(f"|lot:{lot_version}".encode())  # valuing or sealing moves it
    # Production plausibility reads every purchase at the parcel's sites, not only its own.
    sites = select(col(LotOrigin.site_id)).where(col(LotOrigin.lot_id) == lot_id)
    for label, stamp, where in (
        ("site_events", CustodyEvent.created_at, col(CustodyEvent.site_id).in_(sites)),
        ("capacity_rate", CapacityRate.updated_at, None),
        ("footprint_profile", FootprintProfile.built_at, None),
        ("incident", Incident.updated_at, None),
    ):
        query = select(func.max(col(stamp)), func.count(col(stamp)))
        if where is not None:
            query = query.where(where)
        latest, count = session.execute(query).one()
        digest.update(f"|{label}:{latest}:{count}".encode())
    return digest.hexdigest()


def is_current(session: Session, report: EvidenceReport) -> bool:
    return report.data_version == data_version(session, report.lot_id)


def overrides_of(session: Session, report_id: uuid.UUID) -> list[EvidenceOverride]:
    return list(
        session.scalars(
            select(EvidenceOverride)
            .where(col(EvidenceOverride.report_id) == report_id)
            .order_by(col(EvidenceOverride.decided_at))
        )
    )


def record_override(
    *, session: Session, principal: Principal, report: EvidenceReport, reason: str, purpose: str
) -> EvidenceOverride:
    """Store and audit an override; the caller's use case commits."""
    row = EvidenceOverride(
        report_id=report.id, reason=reason, decided_by=principal.user_id, purpose=purpose
    )
    session.add(row)
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="override",
        entity_type="evidence_report",
        entity_id=report.id,
        before={"verdict": report.verdict, "digest": report.digest},
        after={"override_id": str(row.id), "purpose": purpose},
        reason=reason,
    )
    return row
