"""Incident use cases: report one, follow it up (note, close, reopen); audited, one commit each."""

from __future__ import annotations

import uuid
from datetime import timedelta

from shapely.geometry import Point
from sqlalchemy.orm import Session

from backend import changes
from backend.audit.service import record as audit
from backend.audit.service import snapshot
from backend.auth.permissions import Action, require
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody.models import Lot
from backend.errors import Duplicate, FieldError, Forbidden, NotFound, field_error
from backend.incidents import (
    queries,
    syncable,  # noqa: F401  (registers incidents with changes)
)
from backend.incidents.models import Incident, IncidentFollowUp, IncidentStatus
from backend.incidents.schemas import FollowUpIn, IncidentCreate
from backend.records import check_version, update_versioned
from backend.registry import placement
from backend.registry import queries as registry
from backend.registry.models import Miner, Organisation, Site
from backend.spatial import to_db
from backend.usecase import use_case

CLOCK_SKEW = timedelta(minutes=5)


def _district(session: Session, principal: Principal, props: IncidentCreate) -> str:
    """The incident's district: its site's, else its miner's, else the one given, else the
    organisation's. A site or miner outside the reporter's scope is not found."""
    named: list[tuple[str, str]] = []
    fallback: str | None = None
    if props.site_id is not None:
        site = registry.one(
            session, registry.sites(principal, registry.Filters()), Site, props.site_id
        )
        if site is None:
            raise field_error("/site_id", f"no site {props.site_id} in your scope")
        named.append(("/site_id", site.district_code))
    if props.miner_id is not None:
        miner = registry.one(
            session, registry.miners(principal, registry.Filters()), Miner, props.miner_id
        )
        if miner is None:
            raise field_error("/miner_id", f"no miner {props.miner_id} in your scope")
        named.append(("/miner_id", miner.district_code))
    if props.organisation_id is not None:
        org = session.get(Organisation, props.organisation_id)
        if org is None:
            raise field_error("/organisation_id", f"no organisation {props.organisation_id}")
        # An organisation's district is where its office is; what it did may be elsewhere.
        fallback = org.district_code
    if props.lot_id is not None and session.get(Lot, props.lot_id) is None:
        raise field_error("/lot_id", f"no lot {props.lot_id}")
    if props.district is not None:
        placement.district_or_422(session, props.district, "/district")
        for pointer, code in named[:1]:
            if code != props.district:
                raise field_error(
                    "/district", f"{pointer.strip('/')} is in district {code}, not {props.district}"
                )
        code = props.district
    elif named:
        code = named[0][1]
    elif fallback is not None:
        code = fallback
    else:
        raise field_error("/district", "say in which district it happened")
    if not principal.may_see_district(code):
        raise Forbidden(
            f"district {code} is outside your districts",
            errors=[FieldError("/district", "outside your districts")],
        )
    return code


@use_case
def report_incident(*, session: Session, principal: Principal, props: IncidentCreate) -> Incident:
    require(principal, "incident", Action.write)
    if props.occurred_at > utcnow() + CLOCK_SKEW:
        raise field_error("/occurred_at", "an incident cannot be in the future")
    if props.id is not None and session.get(Incident, props.id) is not None:
        raise Duplicate(
            f"an incident with id {props.id} exists",
            errors=[FieldError("/id", "this id is taken")],
        )
    row = Incident(
        kind=props.kind,
        occurred_at=props.occurred_at,
        district_code=_district(session, principal, props),
        site_id=props.site_id,
        miner_id=props.miner_id,
        organisation_id=props.organisation_id,
        lot_id=props.lot_id,
        summary=props.summary,
        location=None if props.location is None else to_db(Point(*props.location.coordinates)),
        attachments=list(props.attachments),
        reported_by=principal.user_id,
        device_id=principal.device_id,
    )
    if props.id is not None:
        row.id = props.id
    session.add(row)
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="create",
        entity_type="incident",
        entity_id=row.id,
        before=None,
        after=snapshot(row),
    )
    changes.changed(session, row)
    session.commit()
    return row


@use_case
def follow_up(
    *, session: Session, principal: Principal, incident_id: uuid.UUID, props: FollowUpIn
) -> Incident:
    """Append a follow-up; `status` closes or reopens the incident (compare-and-set on version)."""
    require(principal, "incident", Action.write)
    row = queries.one(session, principal, incident_id)
    if row is None:
        raise NotFound(f"no incident {incident_id} in your scope")
    check_version(row, props.version)
    before = snapshot(row)
    status_after = props.status.value if props.status is not None else row.status
    values: dict[str, object] = {}
    if status_after != row.status:
        values["status"] = status_after
        values["closed_at"] = utcnow() if status_after == IncidentStatus.closed else None
    row.version = update_versioned(
        session=session,
        model=Incident,
        record_id=row.id,
        base_version=props.version,
        values=values,
    )
    session.refresh(row)
    step = IncidentFollowUp(
        incident_id=row.id,
        by=principal.user_id,
        device_id=principal.device_id,
        note=props.note,
        status_before=before["status"],
        status_after=status_after,
        attachments=list(props.attachments),
    )
    session.add(step)
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="follow_up",
        entity_type="incident",
        entity_id=row.id,
        before=before,
        after=snapshot(row) | {"follow_up_id": str(step.id), "note": props.note},
    )
    changes.changed(session, row)
    session.commit()
    return row
