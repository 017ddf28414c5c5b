"""Inspection tasks: the top of a spot-check plan handed to a field officer, closed by a visit.

How a visit closes a task without the registry knowing insight exists: the sync feed is the one
hook every registry write already calls (`sync.feed.publish` / `publish_new`), and it runs the
`AFTER_PUBLISH` reactions registered with it. `install()` registers `close_for_visits` there
(and how a task looks in the feed), so a visit recorded over REST or pushed from a tablet closes,
in the same transaction, every open task for its site issued before the visit took place, and
the closed task reaches the officers' tablets. The registry imports nothing of insight.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.api.jsonio import jsonable
from backend.audit.service import record
from backend.auth.models import Role, User, UserDistrict
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.errors import FieldError, ValidationFailed
from backend.insight import spotcheck
from backend.insight.access import SUPERVISORS, require_role
from backend.insight.models import InspectionTask, TaskStatus
from backend.registry.models import Jurisdiction, SiteVisit
from backend.sync import feed
from backend.sync.scope import district
from backend.usecase import use_case

ENTITY = "inspection_task"


def task_public(t: InspectionTask) -> dict[str, Any]:
    return {
        "id": t.id,
        "district": t.district_code,
        "site_id": t.site_id,
        "organisation_id": t.organisation_id,
        "officer_id": t.officer_id,
        "score": t.score,
        "reasons": t.reasons,
        "status": t.status,
        "issued_at": t.issued_at,
        "closed_at": t.closed_at,
        "closed_by_visit_id": t.closed_by_visit_id,
        "version": t.version,
    }


def _snapshot(t: InspectionTask) -> dict[str, Any]:
    return dict(jsonable(task_public(t)))


def _feed_record(session: Session, row: Any) -> tuple[str, str, dict[str, Any]]:
    return ENTITY, district(row.district_code), task_public(row)


def _field(pointer: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, errors=[FieldError(pointer, detail)])


@use_case
def issue(
    *,
    session: Session,
    principal: Principal,
    district_code: str,
    officer_id: uuid.UUID,
    top: int,
    window: spotcheck.Window,
) -> list[InspectionTask]:
    """Tasks for the `top` riskiest sites of a district that have no open task yet."""
    require_role(principal, SUPERVISORS, "issue inspection tasks")
    if not session.scalars(
        select(col(Jurisdiction.code)).where(col(Jurisdiction.code) == district_code)
    ).first():
        raise _field("/district", f"no district {district_code}")
    officer = session.get(User, officer_id)
    granted = session.scalars(
        select(col(UserDistrict.district_code)).where(
            col(UserDistrict.user_id) == officer_id,
            col(UserDistrict.district_code) == district_code,
            col(UserDistrict.revoked_at).is_(None),
        )
    ).first()
    if officer is None or officer.role != Role.field_officer or not officer.active or not granted:
        raise _field("/officer_id", f"no field officer for {district_code} with id {officer_id}")
    open_sites = set(
        session.scalars(
            select(col(InspectionTask.site_id)).where(
                col(InspectionTask.status) == TaskStatus.open,
                col(InspectionTask.district_code) == district_code,
            )
        )
    )
    ranked = [
        r
        for r in spotcheck.site_ranking(session, district_code, window)
        if r["site_id"] not in open_sites
    ][:top]
    now = utcnow()
    tasks = [
        InspectionTask(
            district_code=district_code,
            site_id=r["site_id"],
            officer_id=officer_id,
            score=Decimal(r["score"]),
            reasons=jsonable(r["reasons"]),
            status=TaskStatus.open,
            issued_at=now,
            issued_by=principal.user_id,
        )
        for r in ranked
    ]
    for t in tasks:
        session.add(t)
        session.flush()
        record(
            session=session,
            principal=principal,
            action="create",
            entity_type=ENTITY,
            entity_id=t.id,
            before=None,
            after=_snapshot(t),
        )
        feed.publish(session, t)
    session.commit()
    return tasks


def close_for_visits(session: Session, rows: list[Any]) -> None:
    """The feed reaction: a new visit closes its site's open tasks issued before it happened."""
    visits = [r for r in rows if isinstance(r, SiteVisit) and r.deleted_at is None]
    if not visits:
        return
    by_site: dict[uuid.UUID, list[SiteVisit]] = {}
    for v in visits:
        by_site.setdefault(v.site_id, []).append(v)
    tasks = session.scalars(
        select(InspectionTask).where(
            col(InspectionTask.status) == TaskStatus.open,
            col(InspectionTask.site_id).in_(list(by_site)),
        )
    )
    for t in tasks:
        assert t.site_id is not None
        closing = [v for v in by_site[t.site_id] if v.visited_at >= t.issued_at]
        if not closing:
            continue
        visit = min(closing, key=lambda v: v.visited_at)
        before = _snapshot(t)
        t.status = TaskStatus.closed
        t.closed_at = utcnow()
        t.closed_by_visit_id = visit.id
        t.version += 1
        t.updated_at = utcnow()
        session.flush()
        record(
            session=session,
            principal=None,
            action="close",
            entity_type=ENTITY,
            entity_id=t.id,
            before=before,
            after=_snapshot(t),
            reason=f"site visit {visit.id} recorded",
        )
        feed.publish(session, t)


def tasks_for(session: Session, principal: Principal, status: str | None) -> list[InspectionTask]:
    stmt = select(InspectionTask).order_by(col(InspectionTask.issued_at), col(InspectionTask.id))
    if principal.is_district_scoped:
        stmt = stmt.where(col(InspectionTask.district_code).in_(sorted(principal.districts)))
    if status is not None:
        stmt = stmt.where(col(InspectionTask.status) == status)
    return list(session.scalars(stmt))


def install() -> None:
    """Register with the feed (idempotent): how a task is published, and the closing reaction."""
    feed.PRESENTERS[InspectionTask] = _feed_record
    if close_for_visits not in feed.AFTER_PUBLISH:
        feed.AFTER_PUBLISH.append(close_for_visits)


install()
