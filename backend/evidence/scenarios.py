"""A synthetic diamond economy with planted frauds and ground truth per export parcel.

Everything a lawful actor does goes through the use cases (registry and custody services), so
the same rules apply as on the API. A fraud that those rules would refuse is planted the way a
fraudster would get it in: rows imported around the API (a site mapped outside the country, a
consolidation whose output was inflated, a lot counted into a second consolidation), or a
licence revoked after its holder traded. Each is said where it is planted.

The economy: two producing regions with different stone-size laws (Eastern: larger stones,
Southern: smaller), licensed sites worked by several co-licensed miners each, visits counting
the diggers, seasons (the rains of June to September halve digging), many small stones
(1 to 12 a sale), buyers of whom some are complicit, exporters consolidating lots from several
buyers into parcels that mix tainted and clean lots.
"""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from shapely.geometry import Point, Polygon
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.auth.models import Role, User
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.custody import service as custody
from backend.custody.models import CustodyEvent, EventInput, EventOutput, Lot
from backend.custody.schemas import (
    AcceptIn,
    ConsolidateIn,
    LotOut,
    PointIn,
    PurchaseIn,
    SealIn,
    TransferIn,
    ValueIn,
)
from backend.evidence import facts as evidence_facts
from backend.evidence import profiles as evidence_profiles
from backend.evidence.models import EvidenceReport
from backend.evidence.service import compute_report
from backend.incidents import service as incidents
from backend.incidents.models import Incident, IncidentKind
from backend.incidents.schemas import IncidentCreate
from backend.registry import service as registry
from backend.registry.models import (
    Jurisdiction,
    Licence,
    LicenceKind,
    LicenceStatus,
    OrganisationKind,
    Site,
    SiteStatus,
)
from backend.registry.schemas import (
    LicenceCreate,
    LicenceStatusChangeIn,
    MinerCreate,
    OrganisationCreate,
    SiteVisitCreate,
)
from backend.settings import Settings
from backend.spatial import as_multipolygon, from_db, to_db
from geodata.area import geodesic_area_ha

CLEAN = "clean"
FRAUDS = (
    "expired_miner_licence",
    "site_outside_country",
    "purchase_off_site",
    "unlicensed_buyer",
    "carats_gained",
    "consumed_twice",
    "over_capacity",
    "foreign_footprint",
    "open_seizure",
)
# The check each fraud must fail.
CAUGHT_BY = {
    "expired_miner_licence": "licences",
    "site_outside_country": "sites",
    "purchase_off_site": "purchase_points",
    "unlicensed_buyer": "licences",
    "carats_gained": "custody",
    "consumed_twice": "custody",
    "over_capacity": "production",
    "foreign_footprint": "footprint",
    "open_seizure": "incidents",
}
# Stone-size laws (lognormal: median carats, sigma) by region; "foreign" is smuggled goods.
STONE_LAW = {"SL-E": (0.30, 1.00), "SL-S": (0.12, 0.75), "foreign": (0.035, 0.55)}
SIZE_CLASSES = (
    ("-7", 0.03),
    ("+7-11", 0.10),
    ("+11", 0.25),
    ("grainers", 1.00),
    ("1-3ct", 3.00),
    ("+3ct", math.inf),
)
RAINY_MONTHS = frozenset({6, 7, 8, 9})
# A patch of Guinea near Kissidougou, well outside Sierra Leone (the site mapped abroad).
GUINEA = Polygon([(-10.11, 9.18), (-10.10, 9.18), (-10.10, 9.19), (-10.11, 9.19)])


@dataclass(frozen=True)
class Config:
    seed: int = 7
    history_parcels: int = 6  # clean parcels recorded before the profiles are built
    history_purchases: int = 0  # and purchases per region kept in the buyers' stock
    clean_parcels: int = 20
    frauds_each: int = 2
    sites_per_region: int = 6
    miners_per_site: int = 3
    buyers: int = 4
    complicit_buyers: int = 1
    lots_per_parcel: int = 3  # buyer lots consolidated into one export parcel
    purchases_per_lot: int = 8
    days: int = 240
    regions: tuple[str, ...] = ("SL-E", "SL-S")
    value_parcels: bool = True  # the export office values each parcel before sealing it
    # set the regions' capacity rates (ct per digger-day) through the ministry's use case
    rate: Decimal | None = None


@dataclass
class ParcelTruth:
    lot_id: uuid.UUID
    tag: str
    truth: str  # "clean" or a fraud kind


@dataclass
class Outcome:
    parcels: list[ParcelTruth]
    reports: dict[uuid.UUID, EvidenceReport] = field(default_factory=dict)

    def figures(self) -> dict[str, tuple[int, int]]:
        """Per truth: (parcels, parcels blocked, i.e. whose report fails)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for p in self.parcels:
            out[p.truth][0] += 1
            report = self.reports.get(p.lot_id)
            if report is not None and report.verdict == "fail":
                out[p.truth][1] += 1
        return {k: (v[0], v[1]) for k, v in out.items()}


@dataclass
class SiteRef:
    site: Site
    region: str
    miners: list[uuid.UUID]
    point: Point


@dataclass
class Actor:
    org_id: uuid.UUID
    principal: Principal
    licence_id: uuid.UUID


def size_class(ct: float) -> str:
    for name, upper in SIZE_CLASSES:
        if ct < upper:
            return name
    return SIZE_CLASSES[-1][0]


class Economy:
    """Builds the economy in a session through the services, one commit per use case."""

    def __init__(self, session: Session, settings: Settings, config: Config | None = None):
        self.session = session
        self.settings = settings
        self.config = config or Config()
        self.rng = random.Random(self.config.seed)
        self.today = utcnow().date()
        self.start = utcnow() - timedelta(days=self.config.days)
        self.n = 0
        self.parcels: list[ParcelTruth] = []
        self.admin = self._user(Role.admin)
        self.office = self._user(Role.export_office)
        self.sites: dict[str, list[SiteRef]] = {}
        self.small_sites: list[SiteRef] = []
        self.buyers: list[Actor] = []
        self.exporter: Actor | None = None
        self.clock = self.start
        cfg = self.config
        parcels = cfg.history_parcels + cfg.clean_parcels + cfg.frauds_each * len(FRAUDS)
        events = parcels * cfg.lots_per_parcel * (cfg.purchases_per_lot + 3) * 1.5
        self.step_hours = cfg.days * 24 * 0.9 / max(events, 1.0)

    # --- set-up ---------------------------------------------------------------------------------

    def _user(self, role: Role, org: uuid.UUID | None = None) -> Principal:
        p = Principal(
            user_id=uuid.uuid4(),
            username=f"scenario-{role.value}-{uuid.uuid4().hex[:8]}",
            role=role,
            districts=frozenset(),
            organisation_id=org,
        )
        self.session.add(
            User(
                id=p.user_id,
                username=p.username,
                password_hash="!",
                role=role.value,
                organisation_id=org,
            )
        )
        self.session.commit()
        return p

    def _uid(self) -> str:
        self.n += 1
        return f"{self.config.seed}-{self.n}-{uuid.uuid4().hex[:6]}"

    def _licence(
        self,
        kind: LicenceKind,
        *,
        miner: uuid.UUID | None = None,
        org: uuid.UUID | None = None,
        district: str | None = None,
        valid_from: date | None = None,
        valid_to: date | None = None,
    ) -> Licence:
        return registry.create_licence(
            session=self.session,
            principal=self.admin,
            settings=self.settings,
            geometry=None,
            props=LicenceCreate(
                kind=kind,
                number=f"SC-{kind.value[:3].upper()}-{self._uid()}",
                holder_miner_id=miner,
                holder_organisation_id=org,
                district=district,
                valid_from=valid_from or (self.start.date() - timedelta(days=30)),
                valid_to=valid_to or (self.today + timedelta(days=365)),
                fit_and_proper=None if kind is LicenceKind.artisanal_mining else True,
            ),
        )

    def _miner(
        self, district: str, valid_from: date | None = None, valid_to: date | None = None
    ) -> uuid.UUID:
        miner = registry.create_miner(
            session=self.session,
            principal=self.admin,
            props=MinerCreate(full_name=f"Miner {self._uid()}", district=district),
        )
        self._licence(
            LicenceKind.artisanal_mining,
            miner=miner.id,
            district=district,
            valid_from=valid_from,
            valid_to=valid_to,
        )
        return miner.id

    def _organisation(self, kind: OrganisationKind, role: Role) -> Actor:
        org = registry.create_organisation(
            session=self.session,
            principal=self.admin,
            props=OrganisationCreate(
                name=f"{kind.value} {self._uid()}", kind=kind, country_code="SL"
            ),
        )
        lic_kind = LicenceKind.exporter if kind is OrganisationKind.exporter else LicenceKind.buyer
        lic = self._licence(lic_kind, org=org.id)
        return Actor(org.id, self._user(role, org.id), lic.id)

    def _visit(self, ref: SiteRef, diggers: int, when: datetime) -> None:
        registry.create_visit(
            session=self.session,
            principal=self.admin,
            settings=self.settings,
            geometry=ref.point,
            props=SiteVisitCreate(site_id=ref.site.id, visited_at=when, diggers_counted=diggers),
        )

    def setup(self) -> None:
        """Sites (demo sites with active licences and no incident on record, so that a clean
        parcel is clean whatever else the database holds), co-licensed miners, visits, buyers."""
        cfg = self.config
        for region in cfg.regions:
            rows = self.session.execute(
                select(Site)
                .join(Licence, col(Licence.id) == col(Site.licence_id))
                .join(Jurisdiction, col(Jurisdiction.code) == col(Site.district_code))
                .where(
                    col(Jurisdiction.parent_code) == region,
                    col(Licence.status) == LicenceStatus.active,
                    col(Site.status) == SiteStatus.active,
                    col(Site.deleted_at).is_(None),
                    ~exists().where(col(Incident.site_id) == col(Site.id)),
                )
                .order_by(col(Site.id))
                .limit(cfg.sites_per_region)
            ).scalars()
            refs = []
            for site in rows:
                shape = from_db(site.geometry)
                assert shape is not None
                ref = SiteRef(
                    site,
                    region,
                    [self._miner(site.district_code) for _ in range(cfg.miners_per_site)],
                    shape.representative_point(),
                )
                # diggers counted at two visits; big alluvial pits have a hundred or more
                for k in range(2):
                    when = self.start + timedelta(days=20 + 90 * k + self.rng.randint(0, 20))
                    self._visit(ref, self.rng.randint(80, 160), when)
                refs.append(ref)
            self.sites[region] = refs
        self.buyers = [
            self._organisation(OrganisationKind.buying_office, Role.buyer)
            for _ in range(cfg.buyers)
        ]
        self.exporter = self._organisation(OrganisationKind.exporter, Role.exporter)
        if cfg.rate is not None:
            for region in self.sites:
                evidence_profiles.set_rate(
                    session=self.session,
                    principal=self.admin,
                    region_code=region,
                    carats_per_digger_day=cfg.rate,
                    working_days_per_year=200,
                    note="scenario",
                    version=None,
                )

    # --- trading --------------------------------------------------------------------------------

    def tick(self, hours: float = 1.0) -> datetime:
        """Advance the clock; the rains slow digging and trading down."""
        step = hours * self.step_hours * (2.0 if self.clock.month in RAINY_MONTHS else 1.0)
        self.clock += timedelta(hours=step * self.rng.uniform(0.5, 1.5))
        limit = utcnow() - timedelta(minutes=10)
        if self.clock > limit:
            self.clock = limit
        return self.clock

    def stones(self, law: str) -> tuple[Decimal, int, dict[str, int], Decimal]:
        median, sigma = STONE_LAW[law]
        n = 1 + min(int(self.rng.expovariate(1 / 2.5)), 11)
        total = 0.0
        usd = 0.0
        sizes: Counter[str] = Counter()
        for _ in range(n):
            ct = max(0.005, min(self.rng.lognormvariate(math.log(median), sigma), 40.0))
            total += ct
            usd += ct * 120.0 * (ct / 0.2) ** 0.6
            sizes[size_class(ct)] += 1
        carats = max(Decimal(repr(total)).quantize(Decimal("0.001")), Decimal("0.001"))
        value = Decimal(repr(usd * self.rng.uniform(0.6, 1.0))).quantize(Decimal("0.01"))
        return carats, n, dict(sizes), max(value, Decimal("1.00"))

    def purchase(
        self,
        buyer: Actor,
        ref: SiteRef,
        *,
        law: str | None = None,
        miner: uuid.UUID | None = None,
        point: Point | None = None,
    ) -> Lot:
        carats, n, sizes, usd = self.stones(law or ref.region)
        at = point or ref.point
        event = custody.record_event(
            session=self.session,
            principal=buyer.principal,
            settings=self.settings,
            body=PurchaseIn(
                kind="purchase",
                occurred_at=self.tick(),
                site_id=ref.site.id,
                miner_id=miner or self.rng.choice(ref.miners),
                output=LotOut(
                    tag=f"P-{self._uid()}", carats=carats, stone_count=n, size_classes=sizes
                ),
                price=usd,
                currency="USD",
                usd_value=usd,
                receipt_number=f"R-{self._uid()}",
                location=PointIn(type="Point", coordinates=(at.x, at.y)),
            ),
        )
        return self.output(event)

    def output(self, event: CustodyEvent) -> Lot:
        lot_id = self.session.scalars(
            select(col(EventOutput.lot_id)).where(col(EventOutput.event_id) == event.id)
        ).first()
        lot = self.session.get(Lot, lot_id)
        assert lot is not None
        return lot

    def consolidate(self, who: Principal, lots: list[Lot], prefix: str) -> Lot:
        sizes: Counter[str] = Counter()
        for lot in lots:
            sizes.update(lot.size_classes or {})
        event = custody.record_event(
            session=self.session,
            principal=who,
            settings=self.settings,
            body=ConsolidateIn(
                kind="consolidate",
                occurred_at=self.tick(0.3),
                inputs=[lot.id for lot in lots],
                output=LotOut(
                    tag=f"{prefix}-{self._uid()}",
                    carats=sum((lot.carats for lot in lots), Decimal(0)),
                    stone_count=sum(lot.stone_count for lot in lots),
                    size_classes=dict(sizes),
                ),
            ),
        )
        return self.output(event)

    def hand_over(self, buyer: Actor, lot: Lot) -> Lot:
        """Transfer to the exporter and accept, the exporter's weighing equal to the buyer's."""
        assert self.exporter is not None
        sent = custody.record_event(
            session=self.session,
            principal=buyer.principal,
            settings=self.settings,
            body=TransferIn(
                kind="transfer",
                occurred_at=self.tick(0.3),
                lot_id=lot.id,
                to_organisation_id=self.exporter.org_id,
            ),
        )
        got = custody.record_event(
            session=self.session,
            principal=self.exporter.principal,
            settings=self.settings,
            body=AcceptIn(
                kind="accept",
                occurred_at=self.tick(0.3),
                transfer_event_id=sent.id,
                output=LotOut(
                    tag=f"A-{self._uid()}",
                    carats=lot.carats,
                    stone_count=lot.stone_count,
                    size_classes=lot.size_classes,
                ),
            ),
        )
        return self.output(got)

    def buyer_lot(self, buyer: Actor, region: str) -> Lot:
        refs = self.sites[region]
        lots = [
            self.purchase(buyer, self.rng.choice(refs))
            for _ in range(self.config.purchases_per_lot)
        ]
        return self.consolidate(buyer.principal, lots, "B")

    def seal(self, parcel: Lot) -> Lot:
        """The export office values the parcel (if configured) at its purchase value plus 15 %,
        then seals it."""
        bodies: list[ValueIn | SealIn] = []
        if self.config.value_parcels:
            value = sum(
                (
                    Decimal(v or 0)
                    for v in self.session.scalars(
                        select(col(CustodyEvent.usd_value)).where(
                            col(CustodyEvent.id).in_(self._purchases_of(parcel.id))
                        )
                    )
                ),
                Decimal(0),
            )
            bodies.append(
                ValueIn(
                    kind="value",
                    occurred_at=self.tick(0.3),
                    lot_id=parcel.id,
                    usd_value=(value * Decimal("1.15")).quantize(Decimal("0.01")),
                )
            )
        bodies.append(
            SealIn(
                kind="seal",
                occurred_at=self.tick(0.3),
                lot_id=parcel.id,
                container_id=f"SEAL-{self._uid()}",
            )
        )
        for body in bodies:
            custody.record_event(
                session=self.session, principal=self.office, settings=self.settings, body=body
            )
        self.session.refresh(parcel)
        return parcel

    def _purchases_of(self, lot_id: uuid.UUID) -> list[uuid.UUID]:
        from backend.custody.lineage import lineage

        trace = lineage(self.session, lot_id)
        return [] if trace is None else [e.id for e in trace.purchases]

    def parcel(self, truth: str, region: str | None = None) -> ParcelTruth:
        """One export parcel: buyer lots from one region's sites, one carrying the fraud."""
        assert self.exporter is not None
        cfg = self.config
        region = region or self.rng.choice(sorted(self.sites))
        buyers = self.rng.sample(self.buyers, k=min(cfg.lots_per_parcel, len(self.buyers)))
        accepted: list[Lot] = []
        for i, buyer in enumerate(buyers):
            if i == 0 and truth != CLEAN:
                accepted.append(self.tainted_lot(truth, buyer, region))
            else:
                accepted.append(self.hand_over(buyer, self.buyer_lot(buyer, region)))
        # one accepted lot is sealed as it is; several are consolidated into the parcel first
        parcel = (
            self.consolidate(self.exporter.principal, accepted, "EXP")
            if len(accepted) > 1
            else accepted[0]
        )
        parcel = self.seal(parcel)
        found = ParcelTruth(parcel.id, parcel.tag, truth)
        self.parcels.append(found)
        return found

    # --- the frauds -----------------------------------------------------------------------------

    def tainted_lot(self, fraud: str, buyer: Actor, region: str) -> Lot:
        cfg = self.config
        if fraud == "unlicensed_buyer":
            # a complicit buyer set up for the laundering: its licence is revoked later
            buyer = self._organisation(OrganisationKind.buying_office, Role.buyer)
        refs = self.sites[region]
        buys = [self.purchase(buyer, self.rng.choice(refs)) for _ in range(cfg.purchases_per_lot)]
        if fraud == "expired_miner_licence":
            # a miner whose licence lapsed before the sale (recorded and flagged, not refused)
            ref = self.rng.choice(refs)
            lapsed = self._miner(
                ref.site.district_code,
                valid_from=self.start.date() - timedelta(days=400),
                valid_to=self.start.date() - timedelta(days=2),
            )
            buys[0] = self.purchase(buyer, ref, miner=lapsed)
        elif fraud == "site_outside_country":
            # imported around the API (create_site refuses it): a site in Guinea booked as Kono
            ref = self._foreign_site(refs[0])
            buys[0] = self.purchase(buyer, ref)
        elif fraud == "purchase_off_site":
            ref = self.rng.choice(refs)
            far = Point(ref.point.x + 0.046, ref.point.y)  # about 5 km east
            buys[0] = self.purchase(buyer, ref, point=far)
        elif fraud == "over_capacity":
            # a site whose visit counted one digger sells ten times what one digger can dig
            ref, capacity = self._small_site(region)
            buys = []
            sold = Decimal(0)
            while sold < 10 * capacity and len(buys) < 400:
                buys.append(self.purchase(buyer, ref))
                sold += buys[-1].carats
        elif fraud == "foreign_footprint":
            # smuggled small stones bought "at" this region's sites: every purchase of the lot,
            # and a second lot of them, so the parcel's stones are mostly foreign
            buys = [
                self.purchase(buyer, self.rng.choice(refs), law="foreign")
                for _ in range(cfg.purchases_per_lot * 4)
            ]
        elif fraud == "open_seizure":
            # stones from a site where a seizure of illicit goods is open
            ref, _ = self._small_site(region, diggers=120)
            buys[0] = self.purchase(buyer, ref)
            incidents.report_incident(
                session=self.session,
                principal=self.admin,
                props=IncidentCreate(
                    kind=IncidentKind.seizure,
                    occurred_at=self.clock,
                    summary="illicit parcel seized from a dealer at the site",
                    site_id=ref.site.id,
                ),
            )
        lot = self.consolidate(buyer.principal, buys, "B")
        if fraud == "carats_gained":
            # an imported consolidation whose output weighs 20 % more than its inputs
            self._inflate(lot, Decimal("1.20"))
        elif fraud == "consumed_twice":
            lot = self._count_twice(buyer, lot, region)
        got = self.hand_over(buyer, lot)
        if fraud == "unlicensed_buyer":
            # the buyer's licence revoked for cause after it sold on: its stock is tainted
            registry.change_licence_status(
                session=self.session,
                principal=self.admin,
                settings=self.settings,
                licence_id=buyer.licence_id,
                change=LicenceStatusChangeIn(
                    status=LicenceStatus.revoked,
                    reason="fronting for an unlicensed dealer",
                    version=self._licence_version(buyer.licence_id),
                ),
            )
        return got

    def _licence_version(self, licence_id: uuid.UUID) -> int:
        row = self.session.get(Licence, licence_id)
        assert row is not None
        return row.version

    def _foreign_site(self, like: SiteRef) -> SiteRef:
        site = Site(
            name=f"Imported site {self._uid()}",
            district_code=like.site.district_code,
            licence_id=like.site.licence_id,
            status=SiteStatus.active,
            geometry=to_db(as_multipolygon(GUINEA)),
            area_ha=geodesic_area_ha(GUINEA),
        )
        self.session.add(site)
        self.session.commit()
        return SiteRef(site, like.region, like.miners, GUINEA.representative_point())

    def _small_site(self, region: str, diggers: int = 1) -> tuple[SiteRef, Decimal]:
        """A licensed site of the region outside the economy's, visited once: `diggers`."""
        used = [r.site.id for refs in self.sites.values() for r in refs]
        used += [r.site.id for r in self.small_sites]
        small = self.session.execute(
            select(Site)
            .join(Licence, col(Licence.id) == col(Site.licence_id))
            .join(Jurisdiction, col(Jurisdiction.code) == col(Site.district_code))
            .where(
                col(Jurisdiction.parent_code) == region,
                col(Licence.status) == LicenceStatus.active,
                col(Site.status) == SiteStatus.active,
                col(Site.deleted_at).is_(None),
                col(Site.id).not_in(used),
            )
            .order_by(col(Site.id))
            .limit(1)
        ).scalar()
        assert small is not None, "the demo country has spare licensed sites"
        shape = from_db(small.geometry)
        assert shape is not None
        miners = [self._miner(small.district_code)]
        ref = SiteRef(small, region, miners, shape.representative_point())
        self.small_sites.append(ref)
        self._visit(ref, diggers, self.start + timedelta(days=30))
        rate = evidence_facts.load_rates(self.session).get(region)
        per_day = (
            rate.carats_per_digger_day if rate else evidence_facts.DEFAULT_CARATS_PER_DIGGER_DAY
        )
        days = rate.working_days_per_year if rate else evidence_facts.DEFAULT_WORKING_DAYS
        return ref, per_day * days * diggers

    def _inflate(self, lot: Lot, factor: Decimal) -> None:
        more = (lot.carats * factor).quantize(Decimal("0.001"))
        self.session.execute(update(Lot).where(col(Lot.id) == lot.id).values(carats=more))
        self.session.execute(
            update(EventOutput).where(col(EventOutput.lot_id) == lot.id).values(carats=more)
        )
        self.session.commit()
        self.session.refresh(lot)

    def _count_twice(self, buyer: Actor, lot: Lot, region: str) -> Lot:
        """Use `lot` in a stock consolidation, then also import it into the lot sold on."""
        extra = self.buyer_lot(buyer, region)
        stock = self.consolidate(buyer.principal, [lot, extra], "STOCK")
        del stock
        fresh = self.buyer_lot(buyer, region)
        event_id = fresh.created_by_event_id
        self.session.add(
            EventInput(
                event_id=event_id,
                lot_id=lot.id,
                carats=lot.carats,
                stone_count=lot.stone_count,
                consumed=False,
            )
        )
        sizes: Counter[str] = Counter(fresh.size_classes or {})
        sizes.update(lot.size_classes or {})
        more = fresh.carats + lot.carats
        stones = fresh.stone_count + lot.stone_count
        self.session.execute(
            update(Lot)
            .where(col(Lot.id) == fresh.id)
            .values(carats=more, stone_count=stones, size_classes=dict(sizes))
        )
        self.session.execute(
            update(EventOutput)
            .where(col(EventOutput.lot_id) == fresh.id)
            .values(carats=more, stone_count=stones)
        )
        self.session.commit()
        self.session.refresh(fresh)
        return fresh

    # --- the whole run --------------------------------------------------------------------------

    def run(self) -> Outcome:
        cfg = self.config
        self.setup()
        regions = sorted(self.sites)
        for i in range(cfg.history_parcels):
            self.parcel(CLEAN, regions[i % len(regions)])
        for region in regions:
            for _ in range(cfg.history_purchases):
                self.purchase(self.rng.choice(self.buyers), self.rng.choice(self.sites[region]))
        evidence_profiles.refresh_profiles(session=self.session, principal=self.office)
        plan = [CLEAN] * cfg.clean_parcels + [f for f in FRAUDS for _ in range(cfg.frauds_each)]
        self.rng.shuffle(plan)
        for truth in plan:
            self.parcel(truth)
        outcome = Outcome(self.parcels)
        for p in self.parcels:
            outcome.reports[p.lot_id] = compute_report(
                session=self.session, principal=self.office, lot_id=p.lot_id, settings=self.settings
            )
        return outcome


def figures_table(outcome: Outcome) -> str:
    """Per fraud type the share of parcels blocked; for clean ones the share falsely blocked."""
    rows = ["| parcels | count | blocked | share blocked |", "| --- | --- | --- | --- |"]
    figures = outcome.figures()
    for truth in (*FRAUDS, CLEAN):
        if truth not in figures:
            continue
        n, blocked = figures[truth]
        label = f"{truth} (falsely blocked)" if truth == CLEAN else truth
        rows.append(f"| {label} | {n} | {blocked} | {100.0 * blocked / n:.1f} % |")
    fraud = [figures[f] for f in FRAUDS if f in figures]
    n_all = sum(n for n, _ in fraud)
    b_all = sum(b for _, b in fraud)
    if n_all:
        rows.append(f"| all frauds | {n_all} | {b_all} | {100.0 * b_all / n_all:.1f} % |")
    return "\n".join(rows)
