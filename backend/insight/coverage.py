"""Donor coverage per district, with no personal data: counts and shares only.

- sites: known mining sites (mapped), and the share with an active licence;
- miners: registered active miners against diggers counted at each site's latest visit;
- purchases: the share whose GPS point lies inside a licensed site (from the aggregate);
- sites not visited in N days;
- exported carats with passing evidence: each exported lot's latest evidence report (by
  `computed_at`) with verdict `pass` or `warn` (the verdicts a certificate may be issued on);
  a failing latest report that an export-office officer overrode counts apart, as overridden,
  never as passing; lots with no report count as without evidence. An export belongs to the
  district of its event, else of its exporter organisation;
- quarterly trends of the purchase share, visits, diggers counted and the evidence share.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, and_, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.principal import Principal
from backend.clock import as_utc
from backend.custody.models import CustodyEvent, EventInput, EventKind
from backend.evidence.models import EvidenceOverride, EvidenceReport
from backend.insight import rules
from backend.insight.models import Dimension, InsightStat
from backend.insight.periods import Period, key_of, keys_between, period_sql
from backend.registry.models import (
    Jurisdiction,
    JurisdictionLevel,
    Licence,
    LicenceStatus,
    Miner,
    MinerStatus,
    Organisation,
    Site,
    SiteVisit,
)

PASSING = ("pass", "warn")
CHUNK = 500  # ids per IN (...) list
ZERO = Decimal("0.000")


@dataclass
class Exported:
    """Exported carats of one district (and quarter) by the state of their evidence."""

    carats: Decimal = ZERO
    passing: Decimal = ZERO
    overridden: Decimal = ZERO
    without_evidence: Decimal = ZERO

    def figures(self) -> dict[str, Any]:
        return {
            "exported_carats": self.carats,
            "exported_carats_with_passing_evidence": self.passing,
            "share_exported_carats_with_passing_evidence": rules.share(self.passing, self.carats),
            "exported_carats_overridden": self.overridden,
            "exported_carats_without_evidence": self.without_evidence,
        }


def _latest_reports(session: Session, lot_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[Any, ...]]:
    """lot id -> (report id, verdict) of its latest report (as `evidence.reports.latest_report`)."""
    latest: dict[uuid.UUID, tuple[Any, ...]] = {}
    R = EvidenceReport
    for i in range(0, len(lot_ids), CHUNK):
        for lot_id, report_id, verdict in session.execute(
            select(col(R.lot_id), col(R.id), col(R.verdict))
            .where(col(R.lot_id).in_(lot_ids[i : i + CHUNK]))
            .order_by(col(R.lot_id), col(R.computed_at), col(R.id))
        ):
            latest[lot_id] = (report_id, verdict)
    return latest


def _overridden(session: Session, report_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    found: set[uuid.UUID] = set()
    for i in range(0, len(report_ids), CHUNK):
        found.update(
            session.scalars(
                select(col(EvidenceOverride.report_id)).where(
                    col(EvidenceOverride.report_id).in_(report_ids[i : i + CHUNK])
                )
            )
        )
    return found


def exported_evidence(session: Session) -> dict[tuple[str, str], Exported]:
    """(district, quarter) -> exported carats by evidence state, over every export event."""
    ev = CustodyEvent
    rows = list(
        session.execute(
            select(
                func.coalesce(col(ev.district_code), col(Organisation.district_code)),
                col(ev.occurred_at),
                col(EventInput.lot_id),
                col(EventInput.carats),
            )
            .join(EventInput, col(EventInput.event_id) == col(ev.id))
            .outerjoin(Organisation, col(Organisation.id) == col(ev.organisation_id))
            .where(col(ev.kind) == EventKind.export)
        )
    )
    latest = _latest_reports(session, sorted({r[2] for r in rows}))
    overridden = _overridden(
        session, [rid for rid, verdict in latest.values() if verdict not in PASSING]
    )
    out: dict[tuple[str, str], Exported] = defaultdict(Exported)
    for district_code, occurred_at, lot_id, carats in rows:
        if district_code is None:
            continue
        e = out[(district_code, key_of(as_utc(occurred_at).date(), Period.quarter))]
        e.carats += carats
        report = latest.get(lot_id)
        if report is None:
            e.without_evidence += carats
        elif report[1] in PASSING:
            e.passing += carats
        elif report[0] in overridden:
            e.overridden += carats
    return out


def _per_district(found: dict[tuple[str, str], Exported]) -> dict[str, Exported]:
    out: dict[str, Exported] = defaultdict(Exported)
    for (code, _q), e in found.items():
        d = out[code]
        d.carats += e.carats
        d.passing += e.passing
        d.overridden += e.overridden
        d.without_evidence += e.without_evidence
    return out


def _districts(session: Session, principal: Principal, only: str | None) -> list[str]:
    stmt = select(col(Jurisdiction.code)).where(
        col(Jurisdiction.level) == JurisdictionLevel.district
    )
    if only is not None:
        stmt = stmt.where(col(Jurisdiction.code) == only)
    codes = list(session.scalars(stmt.order_by(col(Jurisdiction.code))))
    return [c for c in codes if principal.may_see_district(c)]


def _by_district(session: Session, stmt: Any) -> dict[str, Any]:
    return {k: v for k, v in session.execute(stmt)}


def snapshot(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    unvisited_days: int,
    district: str | None = None,
) -> list[dict[str, Any]]:
    codes = _districts(session, principal, district)
    live = col(Site.deleted_at).is_(None)
    sites = _by_district(
        session,
        select(col(Site.district_code), func.count()).where(live).group_by(col(Site.district_code)),
    )
    licensed = _by_district(
        session,
        select(col(Site.district_code), func.count())
        .join(Licence, col(Licence.id) == col(Site.licence_id))
        .where(live, col(Licence.status) == LicenceStatus.active)
        .group_by(col(Site.district_code)),
    )
    miners = _by_district(
        session,
        select(col(Miner.district_code), func.count())
        .where(col(Miner.deleted_at).is_(None), col(Miner.status) == MinerStatus.active)
        .group_by(col(Miner.district_code)),
    )
    visible_visits = col(SiteVisit.deleted_at).is_(None)
    latest = (
        select(
            col(SiteVisit.site_id).label("site_id"), func.max(col(SiteVisit.visited_at)).label("at")
        )
        .where(visible_visits)
        .group_by(col(SiteVisit.site_id))
        .subquery()
    )
    diggers = _by_district(
        session,
        select(col(SiteVisit.district_code), func.sum(col(SiteVisit.diggers_counted)))
        .join(
            latest,
            and_(
                latest.c.site_id == col(SiteVisit.site_id), latest.c.at == col(SiteVisit.visited_at)
            ),
        )
        .where(visible_visits)
        .group_by(col(SiteVisit.district_code)),
    )
    cutoff = now - timedelta(days=unvisited_days)
    visited = select(col(SiteVisit.site_id)).where(
        visible_visits, col(SiteVisit.visited_at) >= cutoff
    )
    unvisited = _by_district(
        session,
        select(col(Site.district_code), func.count())
        .where(live, col(Site.id).not_in(visited))
        .group_by(col(Site.district_code)),
    )
    S = InsightStat
    purchases = {
        k: (int(n or 0), int(i or 0))
        for k, n, i in session.execute(
            select(
                col(S.district_code),
                func.sum(col(S.purchases)),
                func.sum(col(S.purchases_inside_licensed)),
            )
            .where(col(S.dim) == Dimension.district)
            .group_by(col(S.district_code))
        )
    }
    evidence = _per_district(exported_evidence(session))
    out = []
    for code in codes:
        n_sites, n_lic = int(sites.get(code, 0)), int(licensed.get(code, 0))
        n_miners, n_diggers = int(miners.get(code, 0)), int(diggers.get(code) or 0)
        n_purch, n_inside = purchases.get(code, (0, 0))
        out.append(
            {
                "district": code,
                "sites_known": n_sites,
                "sites_licensed": n_lic,
                "share_sites_licensed": rules.share(n_lic, n_sites),
                "miners_registered": n_miners,
                "diggers_counted": n_diggers,
                "registered_per_digger_counted": rules.share(n_miners, n_diggers),
                "purchases": n_purch,
                "purchases_inside_licensed_site": n_inside,
                "share_purchases_inside_licensed_site": rules.share(n_inside, n_purch),
                "sites_not_visited": int(unvisited.get(code, 0)),
                "unvisited_days": unvisited_days,
                **evidence.get(code, Exported()).figures(),
            }
        )
    return out


def trends(
    session: Session, principal: Principal, *, first: str, last: str, district: str | None = None
) -> list[dict[str, Any]]:
    """Per district and quarter from `first` to `last` (period keys)."""
    codes = set(_districts(session, principal, district))
    quarters = keys_between(first, last, Period.quarter)
    S = InsightStat
    purchases = {
        (d, q): (int(n or 0), int(i or 0))
        for d, q, n, i in session.execute(
            select(
                col(S.district_code),
                col(S.quarter),
                func.sum(col(S.purchases)),
                func.sum(col(S.purchases_inside_licensed)),
            )
            .where(col(S.dim) == Dimension.district, col(S.quarter).in_(quarters))
            .group_by(col(S.district_code), col(S.quarter))
        )
    }
    q = period_sql(session, col(SiteVisit.visited_at), Period.quarter)
    per_site = (
        select(
            col(SiteVisit.district_code).label("d"),
            q.label("q"),
            col(SiteVisit.site_id).label("s"),
            func.max(col(SiteVisit.diggers_counted)).label("diggers"),
        )
        .where(col(SiteVisit.deleted_at).is_(None))
        .group_by(col(SiteVisit.district_code), q, col(SiteVisit.site_id))
        .subquery()
    )
    visits = {
        (d, qq): (int(n), int(g or 0))
        for d, qq, n, g in session.execute(
            select(
                per_site.c.d,
                per_site.c.q,
                func.count(),
                func.sum(func.cast(per_site.c.diggers, Integer)),
            )
            .where(per_site.c.q.in_(quarters))
            .group_by(per_site.c.d, per_site.c.q)
        )
    }
    evidence = exported_evidence(session)
    out = []
    for code in sorted(codes):
        for quarter in quarters:
            n, inside = purchases.get((code, quarter), (0, 0))
            sites_visited, diggers = visits.get((code, quarter), (0, 0))
            out.append(
                {
                    "district": code,
                    "quarter": quarter,
                    "purchases": n,
                    "purchases_inside_licensed_site": inside,
                    "share_purchases_inside_licensed_site": rules.share(inside, n),
                    "sites_visited": sites_visited,
                    "diggers_counted": diggers,
                    **evidence.get((code, quarter), Exported()).figures(),
                }
            )
    return out


def current_quarter(now: datetime) -> str:
    return key_of(now.date(), Period.quarter)
