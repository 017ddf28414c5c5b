"""Who may read or store a miner's photo: the scope of the miner records that name it.

A photo is personal data of the miner whose `photo_ref` names it. It may be read by the
roles that see miners in full (not buyers or exporters, who get a reduced view, and not
donors), within their districts, and stored (uploaded) by the roles that may edit miners,
within theirs. A hash that no live miner in the caller's scope names is not theirs to read or
store, so the upload comes after the push of the record that names it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.permissions import FULL_MINER_VIEW, Action, allowed
from backend.auth.principal import Principal
from backend.registry.models import Miner
from offline_sync.server.entities import AttachmentRefs
from offline_sync.server.tables import SyncAttachment


def may_store_any(principal: Principal) -> bool:
    return allowed(principal, "miner", Action.write)


def _may_read_any(principal: Principal) -> bool:
    return principal.role in FULL_MINER_VIEW


def _in_scope(stmt: Select[Any], principal: Principal) -> Select[Any]:
    stmt = stmt.where(col(Miner.deleted_at).is_(None))
    if principal.is_district_scoped:
        districts = sorted(principal.districts)
        stmt = stmt.where(col(Miner.district_code).in_(districts) if districts else false())
    return stmt


def _named(session: Session, principal: Principal, sha256: str) -> bool:
    stmt = _in_scope(select(col(Miner.id)).where(col(Miner.photo_ref) == sha256), principal)
    return session.scalars(stmt.limit(1)).first() is not None


def readable(session: Session, principal: Principal, sha256: str) -> bool:
    return _may_read_any(principal) and _named(session, principal, sha256)


def writable(session: Session, principal: Principal, sha256: str) -> bool:
    return may_store_any(principal) and _named(session, principal, sha256)


def missing(session: Session, principal: Principal) -> list[str]:
    """Photo hashes of miners this principal may edit whose bytes have not arrived whole."""
    if not may_store_any(principal):
        return []
    done = select(col(SyncAttachment.sha256)).where(col(SyncAttachment.completed_at).isnot(None))
    stmt = _in_scope(
        select(col(Miner.photo_ref)).where(
            col(Miner.photo_ref).isnot(None), col(Miner.photo_ref).not_in(done)
        ),
        principal,
    )
    return [str(h) for h in session.scalars(stmt.distinct().order_by(col(Miner.photo_ref)))]


MINER_PHOTOS = AttachmentRefs(
    may_store_any=may_store_any, readable=readable, writable=writable, missing=missing
)
