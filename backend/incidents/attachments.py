"""Who may read or store an incident's files: the scope of the incidents that name them.

Photos and documents of a seizure or a violation are evidence under investigation: they may be
read by the roles that read incidents, within their districts, and stored by the roles that
report incidents, within theirs, once an incident or a follow-up in that scope names the hash.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, cast, false, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.permissions import Action, allowed
from backend.auth.principal import Principal
from backend.incidents.models import Incident, IncidentFollowUp
from offline_sync.server.entities import AttachmentRefs
from offline_sync.server.tables import SyncAttachment


def may_store_any(principal: Principal) -> bool:
    return allowed(principal, "incident", Action.write)


def _in_scope(principal: Principal) -> Any:
    if not principal.is_district_scoped:
        return col(Incident.id).isnot(None)
    districts = sorted(principal.districts)
    return col(Incident.district_code).in_(districts) if districts else false()


def _named(session: Session, principal: Principal, sha256: str) -> bool:
    by_follow_up = select(col(IncidentFollowUp.incident_id)).where(
        cast(IncidentFollowUp.attachments, String).contains(sha256)
    )
    stmt = select(col(Incident.id)).where(
        _in_scope(principal),
        or_(
            cast(Incident.attachments, String).contains(sha256),
            col(Incident.id).in_(by_follow_up),
        ),
    )
    return session.scalars(stmt.limit(1)).first() is not None


def readable(session: Session, principal: Principal, sha256: str) -> bool:
    return allowed(principal, "incident", Action.read) and _named(session, principal, sha256)


def writable(session: Session, principal: Principal, sha256: str) -> bool:
    return may_store_any(principal) and _named(session, principal, sha256)


def missing(session: Session, principal: Principal) -> list[str]:
    """Files named by incidents this principal may report on, not yet arrived whole."""
    if not may_store_any(principal):
        return []
    named: set[str] = set()
    scoped = select(col(Incident.id)).where(_in_scope(principal))
    for hashes in session.scalars(select(col(Incident.attachments)).where(_in_scope(principal))):
        named.update(hashes or ())
    for hashes in session.scalars(
        select(col(IncidentFollowUp.attachments)).where(
            col(IncidentFollowUp.incident_id).in_(scoped)
        )
    ):
        named.update(hashes or ())
    if not named:
        return []
    done = set(
        session.scalars(
            select(col(SyncAttachment.sha256)).where(
                col(SyncAttachment.sha256).in_(sorted(named)),
                col(SyncAttachment.completed_at).isnot(None),
            )
        )
    )
    return sorted(named - done)


INCIDENT_FILES = AttachmentRefs(
    may_store_any=may_store_any, readable=readable, writable=writable, missing=missing
)
