"""What the checks read, in a fixed number of queries: lineage, registry rows, rates, profiles.

The checks themselves (evidence/checks.py) are pure functions over `Facts`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import FromClause
from sqlmodel import col

from backend.controls.licences import LicenceFacts
from backend.custody.lineage import Lineage, lineage
from backend.custody.models import CustodyEvent, EventKind, EventOutput, LotOrigin
from backend.custody.queries import LICENCE_FACT_COLUMNS
from backend.custody.tracetable import trace_table
from backend.evidence.models import CapacityRate, FootprintProfile
from backend.gcpause import gc_paused
from backend.incidents.models import Incident
from backend.registry.models import (
    Jurisdiction,
    JurisdictionLevel,
    Licence,
    Organisation,
    Site,
    SiteVisit,
)
from backend.registry.placement import placement_problem
from backend.settings import Settings
from backend.spatial import from_db

T = TypeVar("T")
CHUNK = 2000

# Capacity defaults for regions the ministry has not set (docs/evidence.md says why).
DEFAULT_CARATS_PER_DIGGER_DAY = Decimal("0.0500")
DEFAULT_WORKING_DAYS = 200


@dataclass(frozen=True)
class SiteFacts:
    id: uuid.UUID
    name: str
    district_code: str
    region_code: str | None
    licence_id: uuid.UUID | None
    status: str
    deleted: bool
    shape: BaseGeometry | None


@dataclass(frozen=True)
class IncidentFacts:
    id: uuid.UUID
    kind: str
    status: str
    occurred_at: datetime
    closed_at: datetime | None
    site_id: uuid.UUID | None
    miner_id: uuid.UUID | None
    organisation_id: uuid.UUID | None
    lot_id: uuid.UUID | None
    summary: str


@dataclass(frozen=True)
class SiteActivity:
    """A site's record over the production window."""

    sold: Decimal
    produced: Decimal
    visits: int
    mean_diggers: float
    window_days: int


@dataclass(frozen=True)
class Rate:
    region_code: str
    carats_per_digger_day: Decimal
    working_days_per_year: int
    default: bool


@dataclass(frozen=True)
class Profile:
    region_code: str
    built_at: datetime
    lots: int
    stones: int
    carats: Decimal
    usd_value: Decimal
    size_classes: dict[str, int]


@dataclass
class Facts:
    settings: Settings
    trace: Lineage
    origins: list[tuple[uuid.UUID | None, Decimal]]  # (site_id, carats share) of the lot
    licences: dict[uuid.UUID, list[LicenceFacts]]  # by holder (miner or organisation)
    licence_by_id: dict[uuid.UUID, LicenceFacts]
    organisation_kinds: dict[uuid.UUID, str]
    organisation_names: dict[uuid.UUID, str]
    sites: dict[uuid.UUID, SiteFacts]
    jurisdictions: dict[str, tuple[str, str, str | None]]  # code → (level, country, parent)
    activity: dict[uuid.UUID, SiteActivity]
    rates: dict[str, Rate]
    profiles: dict[str, Profile]
    placement: dict[uuid.UUID, str | None] = field(default_factory=dict)
    incidents: list[IncidentFacts] = field(default_factory=list)

    def region_of(self, district_code: str | None) -> str | None:
        seen = 0
        code = district_code
        while code is not None and seen < 5:
            level, _country, parent = self.jurisdictions.get(code, ("", "", None))
            if level == JurisdictionLevel.region:
                return code
            code = parent
            seen += 1
        return None

    def country_of(self, district_code: str | None) -> str | None:
        if district_code is None:
            return None
        found = self.jurisdictions.get(district_code)
        return found[1] if found else None

    def rate(self, region: str | None) -> Rate:
        if region is not None and region in self.rates:
            return self.rates[region]
        return Rate(region or "-", DEFAULT_CARATS_PER_DIGGER_DAY, DEFAULT_WORKING_DAYS, True)


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for v in values:
        batch.append(v)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _prepared(shape: BaseGeometry | None) -> BaseGeometry | None:
    """A site shape prepared for the thousands of point tests one report makes against it."""
    if shape is not None:
        shapely.prepare(shape)
    return shape


# Licence columns read as plain rows: 10,000 and more licences at 10,000 purchases, where
# loading ORM entities took a tenth of a second.
_LICENCE_COLUMNS = (
    *LICENCE_FACT_COLUMNS,
    col(Licence.holder_miner_id),
    col(Licence.holder_organisation_id),
)


def _licence_facts(row: Any) -> LicenceFacts:
    return LicenceFacts(*row[: len(LICENCE_FACT_COLUMNS)])


def load(
    session: Session, settings: Settings, lot_id: uuid.UUID, tree: FromClause | None = None
) -> Facts | None:
    """Everything the checks read about the lot's trace, or None when there is no such lot.

    `tree` is the lot's `trace_table` when the caller holds one; otherwise one is filled here.
    """
    with gc_paused():
        if tree is not None:
            return _load(session, settings, lot_id, tree)
        with trace_table(session, lot_id) as own:
            return _load(session, settings, lot_id, own)


def _load(
    session: Session, settings: Settings, lot_id: uuid.UUID, tree: FromClause
) -> Facts | None:
    trace = lineage(session, lot_id, tree)
    if trace is None:
        return None
    origins = [
        (site_id, share)
        for site_id, share in session.execute(
            select(col(LotOrigin.site_id), col(LotOrigin.carats_share)).where(
                col(LotOrigin.lot_id) == lot_id
            )
        )
    ]
    events = list(trace.events.values())
    uses = [u for group in trace.uses.values() for u in group]
    miners = {e.miner_id for e in events if e.miner_id is not None}
    orgs = {e.organisation_id for e in events if e.organisation_id is not None}
    orgs |= {e.counterparty_organisation_id for e in events if e.counterparty_organisation_id}
    orgs |= {u.organisation_id for u in uses if u.organisation_id is not None}
    orgs |= {u.counterparty_organisation_id for u in uses if u.counterparty_organisation_id}
    site_ids = {e.site_id for e in events if e.site_id is not None}
    site_ids |= {s for s, _ in origins if s is not None}

    sites: dict[uuid.UUID, SiteFacts] = {}
    site_licences: set[uuid.UUID] = set()
    for batch in chunks(sorted(site_ids)):
        for site in session.scalars(select(Site).where(col(Site.id).in_(batch))):
            if site.licence_id is not None:
                site_licences.add(site.licence_id)
            sites[site.id] = SiteFacts(
                id=site.id,
                name=site.name,
                district_code=site.district_code,
                region_code=None,
                licence_id=site.licence_id,
                status=site.status,
                deleted=site.deleted_at is not None,
                shape=_prepared(from_db(site.geometry)),
            )

    licences: dict[uuid.UUID, list[LicenceFacts]] = defaultdict(list)
    by_id: dict[uuid.UUID, LicenceFacts] = {}
    holders = sorted(miners | orgs)
    for batch in chunks(holders):
        for row in session.execute(
            select(*_LICENCE_COLUMNS).where(
                or_(
                    col(Licence.holder_miner_id).in_(batch),
                    col(Licence.holder_organisation_id).in_(batch),
                )
            )
        ).all():
            lic = _licence_facts(row)
            by_id[lic.id] = lic
            holder = row[7] or row[8]
            if holder is not None:
                licences[holder].append(lic)
    missing = sorted(site_licences - set(by_id))
    for batch in chunks(missing):
        for row in session.execute(
            select(*_LICENCE_COLUMNS).where(col(Licence.id).in_(batch))
        ).all():
            by_id[row[0]] = _licence_facts(row)

    kinds: dict[uuid.UUID, str] = {}
    names: dict[uuid.UUID, str] = {}
    for batch in chunks(sorted(orgs)):
        for oid, kind, name in session.execute(
            select(col(Organisation.id), col(Organisation.kind), col(Organisation.name)).where(
                col(Organisation.id).in_(batch)
            )
        ):
            kinds[oid] = kind
            names[oid] = name

    jurisdictions = {
        code: (level, country, parent)
        for code, level, country, parent in session.execute(
            select(
                col(Jurisdiction.code),
                col(Jurisdiction.level),
                col(Jurisdiction.country_code),
                col(Jurisdiction.parent_code),
            )
        )
    }
    facts = Facts(
        settings=settings,
        trace=trace,
        origins=origins,
        licences=dict(licences),
        licence_by_id=by_id,
        organisation_kinds=kinds,
        organisation_names=names,
        sites={},
        jurisdictions=jurisdictions,
        activity={},
        rates=load_rates(session),
        profiles=latest_profiles(session),
    )
    facts.sites = {
        k: SiteFacts(**{**v.__dict__, "region_code": facts.region_of(v.district_code)})
        for k, v in sites.items()
    }
    facts.placement = {
        sid: (
            "has no geometry"
            if site.shape is None
            else placement_problem(session, settings, site.shape, site.district_code)
        )
        for sid, site in facts.sites.items()
    }
    facts.incidents = incidents_about(session, sorted(sites), sorted(miners), sorted(orgs), tree)
    latest = max((e.occurred_at for e in trace.sources), default=None)
    if latest is not None:
        facts.activity = site_activity(
            session, sorted(sites), latest, settings.production_window_days
        )
    return facts


def load_rates(session: Session) -> dict[str, Rate]:
    return {
        row.region_code: Rate(
            row.region_code, row.carats_per_digger_day, row.working_days_per_year, False
        )
        for row in session.scalars(select(CapacityRate))
    }


def latest_profiles(session: Session) -> dict[str, Profile]:
    newest = (
        select(
            col(FootprintProfile.region_code).label("region"),
            func.max(col(FootprintProfile.built_at)).label("built"),
        )
        .group_by(col(FootprintProfile.region_code))
        .subquery()
    )
    rows = session.scalars(
        select(FootprintProfile).join(
            newest,
            (newest.c.region == col(FootprintProfile.region_code))
            & (newest.c.built == col(FootprintProfile.built_at)),
        )
    )
    return {
        r.region_code: Profile(
            r.region_code,
            r.built_at,
            r.lots,
            r.stones,
            r.carats,
            r.usd_value,
            dict(r.size_classes or {}),
        )
        for r in rows
    }


def site_activity(
    session: Session, site_ids: list[uuid.UUID], until: datetime, window_days: int
) -> dict[uuid.UUID, SiteActivity]:
    """Carats sold and produced at each site in the window ending `until`; visits since then."""
    since = until - timedelta(days=window_days)
    sold: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    produced: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    visits: dict[uuid.UUID, list[int]] = defaultdict(list)
    for batch in chunks(site_ids):
        for event_site, kind, total in session.execute(
            select(col(CustodyEvent.site_id), col(CustodyEvent.kind), func.sum(EventOutput.carats))
            .join(EventOutput, col(EventOutput.event_id) == col(CustodyEvent.id))
            .where(
                col(CustodyEvent.site_id).in_(batch),
                col(CustodyEvent.kind).in_([EventKind.purchase, EventKind.produce]),
                col(CustodyEvent.occurred_at) > since,
                col(CustodyEvent.occurred_at) <= until,
            )
            .group_by(col(CustodyEvent.site_id), col(CustodyEvent.kind))
        ):
            target = sold if kind == EventKind.purchase else produced
            if event_site is not None:
                target[event_site] += Decimal(total or 0)
        for site_id, diggers in session.execute(
            select(col(SiteVisit.site_id), col(SiteVisit.diggers_counted)).where(
                col(SiteVisit.site_id).in_(batch),
                col(SiteVisit.deleted_at).is_(None),
                # a count made after the sales still measures the site's workforce
                col(SiteVisit.visited_at) > since,
            )
        ):
            visits[site_id].append(diggers)
    return {
        s: SiteActivity(
            sold=sold[s],
            produced=produced[s],
            visits=len(visits[s]),
            mean_diggers=(sum(visits[s]) / len(visits[s])) if visits[s] else 0.0,
            window_days=window_days,
        )
        for s in site_ids
    }


def incidents_about(
    session: Session,
    site_ids: list[uuid.UUID],
    miner_ids: list[uuid.UUID],
    organisation_ids: list[uuid.UUID],
    tree: FromClause,
) -> list[IncidentFacts]:
    """Incidents, open or closed, about any site, miner, organisation or lot of the trace.

    The trace's lots (10,000 and more) are named by `tree` (the lot's `trace_table` or
    `ancestors` query), not as bound values.
    """
    queries = [
        select(Incident).where(col(column).in_(batch))
        for column, ids in (
            (Incident.site_id, site_ids),
            (Incident.miner_id, miner_ids),
            (Incident.organisation_id, organisation_ids),
        )
        for batch in chunks(ids)
    ]
    queries.append(select(Incident).where(col(Incident.lot_id).in_(select(tree.c.lot_id))))
    found: dict[uuid.UUID, IncidentFacts] = {}
    for query in queries:
        for row in session.scalars(query):
            found[row.id] = IncidentFacts(
                id=row.id,
                kind=row.kind,
                status=row.status,
                occurred_at=row.occurred_at,
                closed_at=row.closed_at,
                site_id=row.site_id,
                miner_id=row.miner_id,
                organisation_id=row.organisation_id,
                lot_id=row.lot_id,
                summary=row.summary,
            )
    return sorted(found.values(), key=lambda i: (i.occurred_at, i.id))
