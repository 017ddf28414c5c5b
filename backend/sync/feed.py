"""The hook every registry write calls: publish the record's new state to the change feed.

REST and sync writes both go through the registry's use cases, so both reach devices.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from backend.api.jsonio import jsonable
from backend.auth.models import Role
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody.models import CustodyEvent, Lot
from backend.custody.views import events_public, lot_public
from backend.incidents.models import Incident
from backend.incidents.queries import follow_ups
from backend.incidents.views import incident_public
from backend.registry import queries
from backend.registry.models import (
    Jurisdiction,
    Licence,
    LicenceKind,
    Miner,
    Organisation,
    Site,
    SiteVisit,
)
from backend.registry.views import (
    jurisdiction_feature,
    licence_feature,
    miner_public,
    organisation_public,
    site_feature,
    visit_feature,
)
from backend.sync.scope import NATIONAL, TRADE, district, organisation
from offline_sync.protocol import ChangeKind
from offline_sync.server import feed

# The feed stores records whole, as an administrator sees them; `present` redacts on pull.
FULL_VIEW = Principal(user_id=uuid.UUID(int=0), username="feed", role=Role.admin)

# Features above the registry register here at import, never from a request: how their rows
# look in the feed, and reactions run after each publish in the writer's transaction (insight
# closes inspection tasks when a visit arrives: backend/insight/tasks.py).
Presenter = Callable[[Session, Any], tuple[str, str, dict[str, Any]]]
PRESENTERS: dict[type, Presenter] = {}
AFTER_PUBLISH: list[Callable[[Session, list[Any]], None]] = []


def flat(feature: dict[str, Any]) -> dict[str, Any]:
    """A Feature as one flat record: id, properties, geometry."""
    return {"id": feature["id"], **feature["properties"], "geometry": feature["geometry"]}


def record_data(session: Session, row: Any) -> tuple[str, str, dict[str, Any]]:
    """(entity, scope, data) of a registry row as devices receive it."""
    full = FULL_VIEW
    presenter = PRESENTERS.get(type(row))
    if presenter is not None:
        return presenter(session, row)
    if isinstance(row, Miner):
        numbers = queries.licence_numbers_by_miner(session, [row.id])[row.id]
        return "miner", district(row.district_code), miner_public(row, numbers, full)
    if isinstance(row, Site):
        return "site", district(row.district_code), flat(site_feature(row))
    if isinstance(row, SiteVisit):
        return "site_visit", district(row.district_code), flat(visit_feature(row, full))
    if isinstance(row, Licence):
        names = queries.holder_names(session, [row])
        holder = row.holder_miner_id or row.holder_organisation_id
        data = flat(
            licence_feature(row, names.get(holder) if holder else None, full, utcnow().date())
        )
        scope = (
            district(row.district_code)
            if row.kind == LicenceKind.artisanal_mining and row.district_code
            else NATIONAL
        )
        return "licence", scope, data
    if isinstance(row, Jurisdiction):
        return "jurisdiction", NATIONAL, flat(jurisdiction_feature(row))
    if isinstance(row, Organisation):
        return "organisation", NATIONAL, organisation_public(row)
    if isinstance(row, Lot):
        scope = (
            organisation(row.holder_organisation_id)
            if row.holder_organisation_id
            else f"miner:{row.holder_miner_id}"
        )
        return "lot", scope, lot_public(row)
    if isinstance(row, CustodyEvent):
        scope = (
            organisation(row.organisation_id)
            if row.organisation_id
            else district(row.district_code or "")
        )
        return "custody_event", scope, events_public(session, [row])[0]
    if isinstance(row, Incident):
        steps = follow_ups(session, [row.id]).get(row.id, [])
        return "incident", district(row.district_code), incident_public(row, steps)
    raise TypeError(f"{type(row).__name__} is not syncable")


def publish_new(session: Session, rows: list[Any]) -> None:
    """Publish records just created, together (miners' licence numbers in one query)."""
    miner_ids = [r.id for r in rows if isinstance(r, Miner)]
    numbers = queries.licence_numbers_by_miner(session, miner_ids) if miner_ids else {}
    records = []
    for row in rows:
        if isinstance(row, Miner):
            entity, scope, data = (
                "miner",
                district(row.district_code),
                miner_public(row, numbers[row.id], FULL_VIEW),
            )
        else:
            entity, scope, data = record_data(session, row)
        records.append((entity, row.id, (scope, *mirrors(row)), row.version, jsonable(data)))
    feed.publish_new(session, records)
    for react in AFTER_PUBLISH:
        react(session, rows)


def mirrors(row: Any) -> tuple[str, ...]:
    """The scopes that repeat a record beside its own: miners and sites for the trade."""
    return (TRADE,) if isinstance(row, Miner | Site) else ()


def publish(session: Session, row: Any) -> None:
    entity, scope, data = record_data(session, row)
    deleted = getattr(row, "deleted_at", None) is not None
    feed.publish(
        session,
        entity=entity,
        record_id=row.id,
        scope=scope,
        also=mirrors(row),
        kind=ChangeKind.delete if deleted else ChangeKind.upsert,
        version=row.version,
        data=None if deleted else jsonable(data),
    )
    if isinstance(row, Licence) and row.holder_miner_id is not None:
        holder = session.get(Miner, row.holder_miner_id)
        if holder is not None:
            publish(session, holder)  # the miner's licence numbers changed
    for react in AFTER_PUBLISH:
        react(session, [row])
