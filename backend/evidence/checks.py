"""The internal-control checks: pure functions over `Facts`, each a stable id, verdict, sentence.

Ids (stable; certificates and people refer to them): licences, sites, purchase_points,
custody, production, footprint, origin, incidents. docs/evidence.md documents each one.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import shapely
from shapely.geometry import Point

from backend.controls.balance import carats_problem, stones_problem
from backend.controls.licences import (
    LicenceFacts,
    best_ranked,
    licence_problem,
    local_date,
    ranked,
)
from backend.controls.points import point_distance_m, point_problem
from backend.custody.lineage import EventLine
from backend.custody.models import EventKind
from backend.custody.rules import CONSUMES, TRANSFORMS
from backend.evidence.facts import Facts
from backend.evidence.models import Verdict
from backend.incidents.models import IncidentKind, IncidentStatus
from backend.registry.models import LicenceKind, OrganisationKind, SiteStatus
from geodata.footprint import g_test, mixture

MAX_RECORDS = 500
MAX_LISTED = 5
# Sieve classes from the smallest stones to the largest, so the test pools neighbours.
SIZE_CLASS_ORDER = ("-7", "+7-11", "+11", "grainers", "1-3ct", "+3ct")
# A parcel valued outside [1/USD_RATIO, USD_RATIO] times its regions' USD/ct is shown (warn).
USD_RATIO = 2.5
CONSUMING_KINDS = frozenset(k.value for k in CONSUMES)
TRANSFORMING_KINDS = frozenset(k.value for k in TRANSFORMS)


@dataclass
class Result:
    id: str
    verdict: str = Verdict.passed
    sentence: str = ""
    records: list[str] = field(default_factory=list)
    measures: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "verdict": self.verdict,
            "sentence": self.sentence,
            "records": self.records[:MAX_RECORDS],
        }
        if self.measures:
            out["measures"] = self.measures
        return out


@dataclass
class Problems:
    """Problems found by one check, each with its verdict and the records it concerns."""

    items: list[tuple[str, str, list[uuid.UUID]]] = field(default_factory=list)

    def add(self, verdict: str, text: str, *records: uuid.UUID | None) -> None:
        self.items.append((verdict, text, [r for r in records if r is not None]))

    def result(self, check_id: str, passed: str) -> Result:
        if not self.items:
            return Result(check_id, Verdict.passed, passed)
        verdict = worst(v for v, _, _ in self.items)
        ranked = sorted(self.items, key=lambda i: -Verdict.ORDER.index(i[0]))
        shown = [t for _, t, _ in ranked[:MAX_LISTED]]
        more = len(ranked) - len(shown)
        sentence = "; ".join(shown) + (f"; and {more} more" if more else "") + "."
        records: list[str] = []
        seen: set[str] = set()
        for _, _, recs in ranked:
            for r in recs:
                if str(r) not in seen:
                    seen.add(str(r))
                    records.append(str(r))
        return Result(check_id, verdict, sentence[0].upper() + sentence[1:], records)


def worst(verdicts: Iterable[str]) -> str:
    return max(verdicts, key=Verdict.ORDER.index, default=Verdict.passed)


def _day(f: Facts, e: EventLine) -> Any:
    return local_date(e.occurred_at, f.settings.country_timezone)


def _miner_of(e: EventLine) -> str:
    return f"the miner of {e.kind} {e.id}"


def _org_name(f: Facts, org_id: uuid.UUID) -> str:
    return f.organisation_names.get(org_id, str(org_id))


def _org_kind(f: Facts, org_id: uuid.UUID) -> LicenceKind:
    kind = f.organisation_kinds.get(org_id)
    return LicenceKind.exporter if kind == OrganisationKind.exporter else LicenceKind.buyer


# --- 1. licences --------------------------------------------------------------------------------


def check_licences(f: Facts) -> Result:
    p = Problems()
    judged: set[tuple[uuid.UUID, Any, str]] = set()
    days: dict[Any, Any] = {}  # occurred_at → local date: most acts share their event's time
    books: dict[tuple[uuid.UUID, LicenceKind], list[LicenceFacts]] = {}  # ranked once each
    tz = f.settings.country_timezone

    def day(at: Any) -> Any:
        found = days.get(at)
        if found is None:
            found = days[at] = local_date(at, tz)
        return found

    def judge(
        holder: uuid.UUID,
        kind: LicenceKind,
        e_id: uuid.UUID,
        when: Any,
        prefer: Any,
        who: Callable[[], str],
    ) -> None:
        key = (holder, when, kind.value)
        if key in judged:
            return
        judged.add(key)
        mine = books.get((holder, kind))
        if mine is None:
            mine = books[(holder, kind)] = ranked(f.licences.get(holder, []), kind)
        lic = best_ranked(mine, kind, when, prefer=prefer)
        problem = licence_problem(lic, kind, when)
        if problem is not None:
            p.add(
                Verdict.fail, f"{who()} {problem} ({when})", e_id, holder, lic.id if lic else None
            )

    for e in f.trace.sources:
        if e.miner_id is not None:
            judge(
                e.miner_id,
                LicenceKind.artisanal_mining,
                e.id,
                day(e.occurred_at),
                e.miner_licence_id,
                partial(_miner_of, e),
            )
    acts = [
        (e.id, e.organisation_id, e.occurred_at, e.organisation_licence_id)
        for e in f.trace.events.values()
    ]
    acts += [
        (u.event_id, u.organisation_id, u.occurred_at, None)
        for group in f.trace.uses.values()
        for u in group
    ]
    acts += [
        (u.event_id, u.counterparty_organisation_id, u.occurred_at, None)
        for group in f.trace.uses.values()
        for u in group
    ]
    acted: set[tuple[uuid.UUID, Any]] = set()
    for e_id, org, at, prefer in acts:
        if org is None or (org, at) in acted:
            continue  # the same party at the same moment: judged already (same key below)
        acted.add((org, at))
        judge(
            org,
            _org_kind(f, org),
            e_id,
            day(at),
            prefer,
            partial(_org_name, f, org),
        )
    holders = {h for h, _, _ in judged}
    return p.result(
        "licences",
        f"All {len(holders)} miners and organisations in the trace held a valid licence on each "
        f"transaction date (local dates, {f.settings.country_timezone}).",
    )


# --- 2. sites -----------------------------------------------------------------------------------


def check_sites(f: Facts) -> Result:
    p = Problems()
    for site in f.sites.values():
        if site.deleted:
            p.add(Verdict.fail, f"site {site.name} was deleted from the register", site.id)
        if site.licence_id is None:
            p.add(Verdict.fail, f"site {site.name} has no mining licence", site.id)
        else:
            lic = f.licence_by_id.get(site.licence_id)
            if lic is not None and lic.status != "active":
                p.add(
                    Verdict.fail,
                    f"site {site.name}'s licence {lic.number} is {lic.status}",
                    site.id,
                    lic.id,
                )
        if site.status != SiteStatus.active:
            p.add(Verdict.fail, f"site {site.name} is {site.status}", site.id)
        where = f.placement.get(site.id)
        if where is not None:
            p.add(Verdict.fail, f"site {site.name}: {where}", site.id)
    return p.result(
        "sites",
        f"All {len(f.sites)} contributing sites are licensed, active, and inside the country "
        "and their districts.",
    )


# --- 3. purchase points -------------------------------------------------------------------------


def check_purchase_points(f: Facts) -> Result:
    p = Problems()
    tolerance = f.settings.purchase_point_tolerance_m
    purchases = f.trace.purchases
    inside = _inside_their_sites(f, purchases)
    for e in purchases:
        site = f.sites.get(e.site_id) if e.site_id else None
        if site is None:
            continue
        if e.point is None:
            p.add(Verdict.fail, f"purchase {e.id} has no GPS point", e.id)
            continue
        if e.id in inside:
            continue  # distance 0: point_distance_m would say so, one point at a time
        distance = (
            point_distance_m(Point(*e.point), site.shape)
            if site.shape is not None
            else float(e.distance_to_site_m or 0)
        )
        problem = point_problem(distance, site.name, tolerance)
        if problem is not None:
            p.add(Verdict.fail, f"purchase {e.id}: {problem}", e.id, site.id)
    return p.result(
        "purchase_points",
        f"All {len(purchases)} purchase points lie within {tolerance:.0f} m of the sites they "
        "name.",
    )


def _inside_their_sites(f: Facts, purchases: list[EventLine]) -> set[uuid.UUID]:
    """The purchases whose point the named site's shape covers: one vectorised test per site."""
    by_site: dict[uuid.UUID, list[EventLine]] = defaultdict(list)
    for e in purchases:
        if e.site_id is not None and e.point is not None:
            by_site[e.site_id].append(e)
    inside: set[uuid.UUID] = set()
    for site_id, group in by_site.items():
        site = f.sites.get(site_id)
        if site is None or site.shape is None or site.shape.is_empty:
            continue
        points = shapely.points([e.point for e in group])
        for e, covered in zip(group, shapely.covers(site.shape, points), strict=True):
            if covered:
                inside.add(e.id)
    return inside


# --- 4. custody ---------------------------------------------------------------------------------


def check_custody(f: Facts) -> Result:
    p = Problems()
    t = f.trace
    lots = t.lots
    for lot_id, times in t.reached.items():
        if times > 1:
            p.add(
                Verdict.fail,
                f"lot {lots[lot_id].tag} feeds this parcel by {times} paths (counted twice)",
                lot_id,
            )
    for lot_id, uses in t.uses.items():
        consuming = [u for u in uses if u.kind in CONSUMING_KINDS]
        if len(consuming) > 1:
            p.add(
                Verdict.fail,
                f"lot {lots[lot_id].tag} was consumed {len(consuming)} times",
                lot_id,
                *(u.event_id for u in consuming),
            )
    for lot in lots.values():
        made = t.events.get(lot.created_by_event_id)
        if made is None:
            p.add(Verdict.fail, f"lot {lot.tag} has no event that made it", lot.id)
            continue
        out = next((o for o in made.outputs if o.lot_id == lot.id), None)
        if out is None or out.carats != lot.carats or out.stone_count != lot.stone_count:
            p.add(
                Verdict.fail,
                f"lot {lot.tag} holds {lot.carats} ct / {lot.stone_count} stones, but the "
                f"event that made it recorded "
                f"{out.carats if out else '?'} ct / {out.stone_count if out else '?'} stones",
                lot.id,
                made.id,
            )
    for e in t.events.values():
        _custody_event(f, e, p)
    return p.result(
        "custody",
        f"Mass balance and stone counts hold over {len(t.events)} events and {len(lots)} lots; "
        "no lot is used twice and every input was held by the party that used it.",
    )


def _custody_event(f: Facts, e: EventLine, p: Problems) -> None:
    t = f.trace
    if not e.inputs:
        if e.kind not in (EventKind.produce, EventKind.purchase):
            p.add(Verdict.fail, f"{e.kind} {e.id} makes lots out of nothing (no inputs)", e.id)
        return
    for flow in e.inputs:
        lot = t.lots.get(flow.lot_id)
        if lot is None:
            continue
        if flow.carats != lot.carats:
            p.add(
                Verdict.fail,
                f"{e.kind} {e.id} took lot {lot.tag} as {flow.carats} ct; it holds {lot.carats} ct",
                e.id,
                lot.id,
            )
        maker = t.events.get(lot.created_by_event_id)
        if maker is not None and e.occurred_at < maker.occurred_at:
            p.add(Verdict.fail, f"{e.kind} {e.id} uses lot {lot.tag} before it existed", e.id)
        if not _held(f, e, lot.id):
            p.add(
                Verdict.fail,
                f"custody gap: {e.kind} {e.id} used lot {lot.tag}, which the acting party did "
                "not hold",
                e.id,
                lot.id,
            )
    if e.kind in TRANSFORMING_KINDS:
        ct_in = sum((i.carats for i in e.inputs), Decimal(0))
        ct_out = sum((o.carats for o in e.outputs), Decimal(0))
        problem = carats_problem(ct_in, ct_out, e.reason)
        if problem is not None:
            p.add(Verdict.fail, f"{e.kind} {e.id}: {problem[1]}", e.id)
        st_in = sum(i.stone_count for i in e.inputs)
        st_out = sum(o.stone_count for o in e.outputs)
        stones = stones_problem(st_in, st_out, e.breakage_declared, e.reason)
        if stones is not None:
            p.add(Verdict.fail, f"{e.kind} {e.id}: {stones[1]}", e.id)


def _held(f: Facts, e: EventLine, lot_id: uuid.UUID) -> bool:
    lot = f.trace.lots[lot_id]
    if e.kind == EventKind.purchase:
        return lot.holder_miner_id is not None and lot.holder_miner_id == e.miner_id
    if e.kind == EventKind.accept:
        sent = [
            u
            for u in f.trace.uses.get(lot_id, ())
            if u.kind == EventKind.transfer and u.event_id == e.accepts_event_id
        ]
        return bool(sent) and (
            sent[0].organisation_id == lot.holder_organisation_id
            and sent[0].counterparty_organisation_id == e.organisation_id
        )
    holder = lot.holder_organisation_id
    return holder is not None and holder == e.organisation_id


# --- 5. production plausibility -----------------------------------------------------------------


def check_production(f: Facts) -> Result:
    p = Problems()
    measures: dict[str, Any] = {}
    contributing = {s for s, _ in f.origins if s is not None} or set(f.sites)
    for site_id in sorted(contributing):
        site = f.sites.get(site_id)
        act = f.activity.get(site_id)
        if site is None or act is None:
            continue
        rate = f.rate(site.region_code)
        days = Decimal(rate.working_days_per_year) * Decimal(act.window_days) / Decimal(365)
        capacity = (Decimal(str(act.mean_diggers)) * days * rate.carats_per_digger_day).quantize(
            Decimal("0.001")
        )
        measures[str(site_id)] = {
            "sold_ct": str(act.sold),
            "produced_ct": str(act.produced),
            "visits": act.visits,
            "mean_diggers": round(act.mean_diggers, 1),
            "capacity_ct": str(capacity),
            "rate_ct_per_digger_day": str(rate.carats_per_digger_day),
        }
        if act.visits == 0:
            p.add(
                Verdict.warn,
                f"site {site.name} has no visit in the last {act.window_days} days, so its "
                "capacity is unknown: send a field officer to count the diggers",
                site.id,
            )
        elif act.sold > capacity:
            p.add(
                Verdict.fail,
                f"site {site.name} sold {act.sold} ct in {act.window_days} days, more than its "
                f"capacity of {capacity} ct ({act.mean_diggers:.0f} diggers x "
                f"{rate.working_days_per_year} days/year x {rate.carats_per_digger_day} ct)",
                site.id,
            )
        if act.produced > 0 and act.sold > act.produced * Decimal("1.05"):
            p.add(
                Verdict.warn,
                f"site {site.name} sold {act.sold} ct but recorded producing {act.produced} ct",
                site.id,
            )
    result = p.result(
        "production",
        f"All {len(contributing)} contributing sites sold no more than their recorded "
        "production and capacity estimates.",
    )
    result.measures = {"sites": measures} if measures else {}
    return result


# --- 6. footprint -------------------------------------------------------------------------------


def check_footprint(f: Facts) -> Result:
    lot = f.trace.lot
    settings = f.settings
    result = Result("footprint")
    if not lot.size_classes:
        result.verdict = Verdict.warn
        result.sentence = (
            f"Parcel {lot.tag} has no size-class counts, so its footprint cannot be compared; "
            "record the sieve classes."
        )
        result.records = [str(lot.id)]
        return result
    stones = sum(lot.size_classes.values())
    if stones < settings.footprint_min_stones:
        result.verdict = Verdict.warn
        result.sentence = (
            f"Parcel {lot.tag} holds {stones} stones, fewer than the "
            f"{settings.footprint_min_stones} the footprint test needs to mean anything."
        )
        result.records = [str(lot.id)]
        return result
    by_region: dict[str, Decimal] = defaultdict(Decimal)
    for site_id, share in f.origins:
        site = f.sites.get(site_id) if site_id else None
        region = site.region_code if site else None
        by_region[region or "?"] += share
    missing = [r for r in by_region if r not in f.profiles or f.profiles[r].stones == 0]
    if missing:
        result.verdict = Verdict.warn
        result.sentence = (
            f"No footprint profile for {', '.join(sorted(missing))}; refresh the profiles "
            "before judging this parcel."
        )
        result.records = [str(lot.id)]
        return result
    blend: list[tuple[dict[str, float], float]] = []
    reference = min(f.profiles[r].stones for r in by_region)
    usd_ref = Decimal(0)
    total_share = sum(by_region.values(), Decimal(0))
    for region, share in by_region.items():
        prof = f.profiles[region]
        shares = {k: float(v) for k, v in prof.size_classes.items()}
        stones_per_ct = prof.stones / float(prof.carats) if prof.carats else 0.0
        blend.append((shares, float(share) * stones_per_ct))
        if prof.carats > 0 and total_share > 0:
            usd_ref += (prof.usd_value / prof.carats) * share / total_share
    expected = mixture(blend)
    test = g_test(lot.size_classes, expected, SIZE_CLASS_ORDER, reference_stones=reference)
    regions = ", ".join(sorted(by_region))
    result.measures = {
        "test": "G-test of homogeneity: parcel against the claimed regions' profile",
        "profile_stones": reference,
        "g": round(test.statistic, 3),
        "dof": test.dof,
        "p_value": test.p_value,
        "stones": stones,
        "regions": sorted(by_region),
    }
    result.records = [str(lot.id)]
    if test.p_value < settings.footprint_fail_p:
        result.verdict = Verdict.fail
        result.sentence = (
            f"Parcel {lot.tag}'s size distribution ({stones} stones) is not that of {regions} "
            f"(G = {test.statistic:.1f}, {test.dof} d.f., p = {test.p_value:.2g} < "
            f"{settings.footprint_fail_p}): the stones likely come from elsewhere."
        )
    elif test.p_value < settings.footprint_warn_p:
        result.verdict = Verdict.warn
        result.sentence = (
            f"Parcel {lot.tag}'s size distribution departs from {regions}'s profile "
            f"(p = {test.p_value:.2g}); look at it."
        )
    else:
        result.sentence = (
            f"Parcel {lot.tag}'s size distribution ({stones} stones) is consistent with "
            f"{regions} (G = {test.statistic:.1f}, {test.dof} d.f., p = {test.p_value:.2g})."
        )
    if lot.usd_value is not None and lot.carats > 0 and usd_ref > 0:
        per_ct = lot.usd_value / lot.carats
        ratio = per_ct / usd_ref
        result.measures["usd_per_ct"] = str(per_ct.quantize(Decimal("0.01")))
        result.measures["profile_usd_per_ct"] = str(usd_ref.quantize(Decimal("0.01")))
        if not Decimal(1) / Decimal(str(USD_RATIO)) <= ratio <= Decimal(str(USD_RATIO)):
            if result.verdict == Verdict.passed:
                result.verdict = Verdict.warn
            result.sentence += (
                f" Its value, US$ {per_ct:.2f}/ct, is {ratio:.1f} times the regions' "
                f"US$ {usd_ref:.2f}/ct."
            )
    return result


# --- 7. origin ----------------------------------------------------------------------------------


def check_origin(f: Facts) -> Result:
    p = Problems()
    country = f.trace.lot.country_code
    for lot in f.trace.lots.values():
        if lot.country_code != country:
            p.add(Verdict.fail, f"upstream lot {lot.tag} is of {lot.country_code} origin", lot.id)
    for e in f.trace.sources:
        site = f.sites.get(e.site_id) if e.site_id else None
        site_country = f.country_of(site.district_code) if site else None
        if site_country is not None and site_country != country:
            p.add(Verdict.fail, f"site {site.name if site else ''} is in {site_country}", e.id)
    return p.result(
        "origin",
        f"Every one of the {len(f.trace.lots)} upstream lots is of {country} origin: the "
        "country of origin may be claimed.",
    )


# --- 8. incidents -------------------------------------------------------------------------------


def check_incidents(f: Facts) -> Result:
    """Open seizures and violations fail; conflict at a site fails every sale made there while
    it lasted (such sites contribute nothing); open inspection findings warn."""
    p = Problems()
    sources = f.trace.sources
    miners = {e.miner_id for e in sources if e.miner_id}
    orgs = {e.organisation_id for e in f.trace.events.values() if e.organisation_id}
    for inc in f.incidents:
        subject = _subject(f, inc.site_id, inc.miner_id, inc.organisation_id, inc.lot_id)
        if inc.kind == IncidentKind.armed_group_presence and inc.site_id is not None:
            during = [
                e
                for e in sources
                if e.site_id == inc.site_id
                and (inc.status == IncidentStatus.open or inc.occurred_at <= e.occurred_at)
                and (inc.closed_at is None or e.occurred_at <= inc.closed_at)
            ]
            if during:
                p.add(
                    Verdict.fail,
                    f"armed-group presence reported at {subject} ({inc.status}): "
                    f"{len(during)} sale(s) from it contribute nothing and cannot be certified",
                    inc.id,
                    inc.site_id,
                    *(e.id for e in during[:20]),
                )
            continue
        if inc.status != IncidentStatus.open:
            continue
        named = (
            inc.site_id in f.sites
            or inc.miner_id in miners
            or inc.organisation_id in orgs
            or inc.lot_id in f.trace.lots
        )
        if not named:
            continue
        verdict = Verdict.warn if inc.kind == IncidentKind.inspection_finding else Verdict.fail
        p.add(
            verdict,
            f"an open {inc.kind.replace('_', ' ')} concerns {subject}: {inc.summary[:120]}",
            inc.id,
            inc.site_id,
            inc.miner_id,
            inc.organisation_id,
            inc.lot_id,
        )
    return p.result(
        "incidents",
        "No open incident concerns any site, miner, organisation or lot of this trace, and "
        f"none of its {len(f.sites)} sites is conflict-affected.",
    )


def _subject(
    f: Facts,
    site_id: uuid.UUID | None,
    miner_id: uuid.UUID | None,
    org_id: uuid.UUID | None,
    lot_id: uuid.UUID | None,
) -> str:
    if site_id is not None and site_id in f.sites:
        return f"site {f.sites[site_id].name}"
    if org_id is not None:
        return f.organisation_names.get(org_id, f"organisation {org_id}")
    if lot_id is not None and lot_id in f.trace.lots:
        return f"lot {f.trace.lots[lot_id].tag}"
    if miner_id is not None:
        return f"miner {miner_id}"
    return "a record of the trace"


CHECKS: tuple[Callable[[Facts], Result], ...] = (
    check_licences,
    check_sites,
    check_purchase_points,
    check_custody,
    check_production,
    check_footprint,
    check_origin,
    check_incidents,
)


def run_all(f: Facts) -> list[Result]:
    return [check(f) for check in CHECKS]
