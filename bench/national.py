"""`python -m bench.national`: a national-scale synthetic custody dataset, streamed in by COPY.

    python -m bench.national --database-url postgresql://alluvial:alluvial@127.0.0.1/alluvial \
        [--miners 300000 --sites 30000 --buyers 500 --exporters 30 --purchases 2000000 \
         --years 3 --seed 7] [--scale 0.01]

Migrates the database, seeds the demo country (its districts and rivers), then adds miners,
river sites, buying offices, exporters, licences and users, and three years of custody: miners
sell stones (a share first recorded as a production lot) to licensed buyers; buyers consolidate
their purchases into lots and transfer them to exporters, who accept them, consolidate them
into export parcels, have them valued and sealed, and export them. One exporter holds its lots
back for one big parcel with at least `--big-parcel` upstream purchases (the trace target).

Every row is what the app's own write path (`backend.custody.service.record_event`) would have
stored: statuses and versions after every claim, hash chains computed with
`backend.custody.rules.event_payload`/`event_hash`, `lot_origin` attributed with
`rules.attribute`, flags worded by `rules.licence_problem`/`rules.flag`. Rows are buffered per
table and COPYed in chunks; only open lots (per buyer, per exporter) are held in memory. A lot
row is written once its final state is known, after the events that reference it, so the load
runs with `session_replication_role = replica` (foreign-key triggers off, unique indexes on);
the smoke test checks the references afterwards. It does not write the sync change feed.
"""

from __future__ import annotations

import argparse
import bisect
import hashlib
import json
import operator
import random
import resource
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from shapely.geometry import Point
from sqlalchemy import JSON

from backend import schema
from backend.auth.models import Role
from backend.clock import as_utc
from backend.controls.balance import loss_tolerance
from backend.controls.licences import LicenceFacts, licence_problem
from backend.controls.points import point_distance_m, point_problem
from backend.custody.models import EventKind, LotStatus
from backend.custody.rules import (
    HASHED_EVENT_FIELDS,
    OriginKey,
    attribute,
    event_hash,
    event_payload,
    flag,
)
from backend.db import make_engine, session_factory
from backend.registry.demo import FAMILY, GIVEN, seed_demo
from backend.registry.models import (
    LicenceKind,
    LicenceStatus,
    MinerStatus,
    OrganisationKind,
    SiteStatus,
)
from backend.settings import Settings
from backend.sync import feed  # noqa: F401  (the app's publisher: the demo reaches the feed)
from backend.tables import metadata
from bench.common import libpq_url
from bench.national_data import (
    CARAT,
    CENT,
    LEONES_PER_USD,
    Parcel,
    SiteShape,
    districts,
    draw_stones,
    ewkb,
    ewkb_point,
    licence_area,
    new_id,
    purchase_point,
    river_sites,
    site_multipolygon,
)
from geodata import measure
from geodata.area import geodesic_area_ha

TOLERANCE_M = Settings().purchase_point_tolerance_m
COUNTRY = "SL"
EXPORT_DISTRICT = "SL-W-WU"  # exporters sit in Freetown
DEFAULTS = {
    "miners": 300_000,
    "sites": 30_000,
    "buyers": 500,
    "exporters": 30,
    "purchases": 2_000_000,
}
MINIMUM = {"miners": 20, "sites": 5, "buyers": 2, "exporters": 2, "purchases": 100}
TABLES = (
    "app_user",
    "user_district",
    "organisation",
    "licence",
    "licence_status_change",
    "miner",
    "site",
    "site_visit",
    "custody_event",
    "event_input",
    "event_output",
    "lot",
    "lot_origin",
    "stock_take",
)
PARCEL_DAYS = 14  # an ordinary exporter ships a parcel a fortnight
OUTSIDE_SHARE = 0.03  # purchase points recorded away from the site they name
HOLDER_SELLS = 0.85  # share of a licensed site's sales made by the licence holder
SELF_CHECK_EVERY = 997  # events between checks of the fast hash against rules.event_hash
UNUSABLE_PASSWORD = "!"  # generated users cannot log in; bench/trace.py makes its own


@dataclass(frozen=True)
class Sizes:
    miners: int
    sites: int
    buyers: int
    exporters: int
    purchases: int
    years: int
    seed: int
    produce_share: float
    big_parcel: int

    @property
    def big_target(self) -> int:
        """Upstream purchases of the big parcel: as asked, but at most half of all purchases."""
        return max(1, min(self.big_parcel, self.purchases // 2))


def sizes_from(args: argparse.Namespace) -> Sizes:
    counts = {}
    for name, default in DEFAULTS.items():
        asked = getattr(args, name)
        value = default if asked is None else asked
        counts[name] = max(MINIMUM[name], round(value * args.scale))
    counts["miners"] = max(counts["miners"], counts["sites"] * 2)
    return Sizes(
        **counts,
        years=args.years,
        seed=args.seed,
        produce_share=args.produce_share,
        big_parcel=args.big_parcel,
    )


# --- streaming rows ------------------------------------------------------------------------------


class Copier:
    """Per-table row buffers COPYed into PostgreSQL in chunks; counts rows and COPY seconds."""

    def __init__(self, conn: psycopg.Connection[Any], chunk: int) -> None:
        self.conn = conn
        self.chunk = chunk
        self.columns = {t: [c.name for c in metadata.tables[t].columns] for t in TABLES}
        self._blank = {t: dict.fromkeys(cols) for t, cols in self.columns.items()}
        self._pick = {t: operator.itemgetter(*cols) for t, cols in self.columns.items()}
        self._json = {
            t: [i for i, c in enumerate(metadata.tables[t].columns) if isinstance(c.type, JSON)]
            for t in TABLES
        }
        self.buffers: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self.rows: dict[str, int] = dict.fromkeys(TABLES, 0)
        self.seconds: dict[str, float] = dict.fromkeys(TABLES, 0.0)

    def add(self, table: str, row: dict[str, Any]) -> None:
        buf = self.buffers[table]
        buf.append(row)
        if len(buf) >= self.chunk:
            self.flush(table)

    def flush(self, table: str) -> None:
        buf = self.buffers[table]
        if not buf:
            return
        cols = self.columns[table]
        unknown = set(buf[0]) - set(cols)
        if unknown:
            raise RuntimeError(f"{table} has no column(s) {sorted(unknown)}: the model changed")
        started = time.perf_counter()
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy,
        ):
            blank, pick, json_at = self._blank[table], self._pick[table], self._json[table]
            for row in buf:
                values = pick({**blank, **row})
                if json_at:
                    values = list(values)
                    for i in json_at:
                        if values[i] is not None:
                            values[i] = json.dumps(values[i], separators=(",", ":"))
                copy.write_row(values)
        self.seconds[table] += time.perf_counter() - started
        self.rows[table] += len(buf)
        buf.clear()

    def flush_all(self) -> None:
        for table in TABLES:
            self.flush(table)
        self.conn.commit()

    @property
    def total(self) -> int:
        return sum(self.rows.values()) + sum(len(b) for b in self.buffers.values())


class Progress:
    def __init__(self, copier: Copier, every: float = 2.0) -> None:
        self.copier = copier
        self.every = every
        self.started = time.perf_counter()
        self.last = 0.0

    def tick(self, message: str, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < self.every:
            return
        self.last = now
        rows = self.copier.total
        rate = rows / max(now - self.started, 1e-9)
        print(
            f"... {message}; {rows:,} rows, {rate:,.0f} rows/s, {now - self.started:,.0f} s",
            file=sys.stderr,
            flush=True,
        )


# --- the world in memory -------------------------------------------------------------------------


@dataclass
class SiteRec:
    id: uuid.UUID
    shape: SiteShape
    status: str
    licence: LicenceFacts | None
    holder: int  # miner index of the licence holder (or first digger)
    miners: tuple[int, int]  # [start, stop) of the site's miner indexes
    purchases: int = 0


@dataclass
class Org:
    index: int
    id: uuid.UUID
    name: str
    kind: str
    district: str
    licence_id: uuid.UUID
    user_id: uuid.UUID
    stock: Decimal = Decimal("0.000")


@dataclass(slots=True)
class HeldLot:
    """A lot not yet in its final state: its row is written when it is."""

    id: uuid.UUID
    tag: str
    parcel: Parcel
    created_at: datetime
    event_id: uuid.UUID
    holder_org: uuid.UUID | None
    holder_miner: uuid.UUID | None
    origins: dict[OriginKey, Decimal]
    usd: Decimal
    purchases: int
    version: int = 1


@dataclass
class Buyer:
    org: Org
    open: list[HeldLot] = field(default_factory=list)
    opened_day: int = 0
    target: int = 40
    receipts: int = 0
    lots: int = 0


@dataclass
class Exporter:
    org: Org
    held: list[HeldLot] = field(default_factory=list)
    last_parcel_day: int = 0
    parcels: int = 0
    accepted: int = 0
    big: bool = False  # holding lots back for the big parcel


@dataclass
class Transfer:
    event_id: uuid.UUID
    at: datetime
    lot: HeldLot
    sender: Buyer
    to: Exporter


def _canon(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return as_utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value


def fast_event_hash(
    ev: dict[str, Any],
    location: tuple[float, float] | None,
    inputs: list[tuple[uuid.UUID, Decimal, int, bool]],
    outputs: list[tuple[uuid.UUID, str, Decimal, int, dict[str, int] | None]],
    prev: str | None,
) -> str:
    """`rules.event_hash(rules.event_payload(...))` for the flat values this generator makes:
    values made canonical up front, so the payload needs no recursive walk before json.dumps."""
    fields = {name: _canon(ev[name]) for name in HASHED_EVENT_FIELDS}
    payload = event_payload(fields, location, inputs, outputs, prev)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def miner_name(seed: int, index: int) -> str:
    given = GIVEN[(index * 7 + seed) % len(GIVEN)]
    return f"{given} {FAMILY[(index * 13 // 7 + seed) % len(FAMILY)]}"


def at(day: date, seconds: float) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)


class Generator:
    def __init__(self, sizes: Sizes, copier: Copier, end: date) -> None:
        self.n = sizes
        self.out = copier
        self.rng = random.Random(sizes.seed)
        self.end = end
        self.days = 365 * sizes.years
        self.start = end - timedelta(days=self.days)
        self.progress = Progress(copier)
        self.chains: dict[uuid.UUID, tuple[int, str]] = {}
        self.miner_produced_at: dict[int, datetime] = {}
        self.miner_ids: list[uuid.UUID] = []
        self.sites: list[SiteRec] = []
        self.site_cum: list[float] = []
        self.buyers: list[Buyer] = []
        self.buyers_by_district: dict[str, list[Buyer]] = defaultdict(list)
        self.exporters: list[Exporter] = []
        self.exporter_cum: list[float] = []
        self.pending: list[Transfer] = []
        self.events = 0
        self.purchases = 0
        self.big_parcel: tuple[uuid.UUID, int] | None = None
        self.officer_id = new_id()
        self.export_office_id = new_id()

    # --- registry ---------------------------------------------------------------------------

    def _record(self, created: datetime) -> dict[str, Any]:
        return {"id": new_id(), "version": 1, "created_at": created, "updated_at": created}

    def _user(self, username: str, role: Role, org_id: uuid.UUID | None, uid: uuid.UUID) -> None:
        row = self._record(at(self.start, -86400 * 40))
        row.update(
            id=uid,
            username=username,
            password_hash=UNUSABLE_PASSWORD,
            role=role.value,
            organisation_id=org_id,
            active=True,
        )
        self.out.add("app_user", row)

    def _licence(
        self,
        kind: LicenceKind,
        number: str,
        *,
        miner: uuid.UUID | None,
        org: uuid.UUID | None,
        district: str,
        valid_from: date,
        valid_to: date,
        area: Any = None,
    ) -> LicenceFacts:
        issued = at(valid_from, 9 * 3600)
        row = self._record(issued)
        status = LicenceStatus.active if valid_to >= self.end else LicenceStatus.expired
        trade = kind is not LicenceKind.artisanal_mining
        row.update(
            kind=kind.value,
            number=number,
            holder_miner_id=miner,
            holder_organisation_id=org,
            district_code=district,
            valid_from=valid_from,
            valid_to=valid_to,
            status=status.value,
            fit_and_proper=True if trade else None,
            area=None if area is None else ewkb(area),
            area_ha=None if area is None else geodesic_area_ha(area),
        )
        self.out.add("licence", row)
        self.out.add(
            "licence_status_change",
            {
                "id": new_id(),
                "licence_id": row["id"],
                "from_status": None,
                "to_status": LicenceStatus.active.value,
                "reason": "issued (national bench data)",
                "changed_at": issued,
                "changed_by": None,
            },
        )
        if status is not LicenceStatus.active:
            self.out.add(
                "licence_status_change",
                {
                    "id": new_id(),
                    "licence_id": row["id"],
                    "from_status": LicenceStatus.active.value,
                    "to_status": status.value,
                    "reason": "lapsed (national bench data)",
                    "changed_at": at(valid_to + timedelta(days=1), 0),
                    "changed_by": None,
                },
            )
        return LicenceFacts(
            id=row["id"],
            number=number,
            kind=kind.value,
            status=LicenceStatus.active.value,  # as it stood while it was valid
            valid_from=valid_from,
            valid_to=valid_to,
            fit_and_proper=True if trade else None,
        )

    def registry(self) -> None:
        rng, n = self.rng, self.n
        all_districts = districts()
        shapes = river_sites(
            rng,
            n.sites,
            all_districts,
            lambda k: self.progress.tick(f"placed {k:,}/{n.sites:,} sites"),
        )
        self.progress.tick(f"placed {len(shapes):,} sites", force=True)
        registered = at(self.start, -86400 * 60)
        self._user("national-field-officer", Role.field_officer, None, self.officer_id)
        for code in sorted({s.district for s in shapes}):
            self.out.add(
                "user_district",
                {
                    "id": new_id(),
                    "user_id": self.officer_id,
                    "district_code": code,
                    "granted_at": registered,
                    "revoked_at": None,
                },
            )
        self._user("national-export-office", Role.export_office, None, self.export_office_id)

        # buying offices where the sites are, weighted by sites per district; exporters in Freetown
        by_district: dict[str, int] = defaultdict(int)
        for s in shapes:
            by_district[s.district] += 1
        codes = sorted(by_district)
        long_ago = self.start - timedelta(days=30)
        for kind, count in (
            (OrganisationKind.buying_office, n.buyers),
            (OrganisationKind.exporter, n.exporters),
        ):
            for i in range(count):
                district = (
                    rng.choices(codes, weights=[by_district[c] for c in codes])[0]
                    if kind is OrganisationKind.buying_office
                    else EXPORT_DISTRICT
                )
                label = "Buying Office" if kind is OrganisationKind.buying_office else "Exports"
                org_id = new_id()
                name = f"{rng.choice(FAMILY)} & Sons {label} {i + 1}"
                row = self._record(registered)
                row.update(
                    id=org_id,
                    name=name,
                    kind=kind.value,
                    country_code=COUNTRY,
                    district_code=district,
                    registration_number=f"SL-NAT-{kind.value[:3].upper()}-{i + 1:05d}",
                    address=f"Main Road, {district}",
                    active=True,
                )
                self.out.add("organisation", row)
                lkind = (
                    LicenceKind.buyer
                    if kind is OrganisationKind.buying_office
                    else LicenceKind.exporter
                )
                lic = self._licence(
                    lkind,
                    f"N{lkind.value[:3].upper()}-{i + 1:05d}",
                    miner=None,
                    org=org_id,
                    district=district,
                    valid_from=long_ago,
                    valid_to=self.end + timedelta(days=365),
                )
                user_id = new_id()
                role = Role.buyer if kind is OrganisationKind.buying_office else Role.exporter
                self._user(f"national-{role.value}-{i + 1:05d}", role, org_id, user_id)
                org = Org(i, org_id, name, kind.value, district, lic.id, user_id)
                if kind is OrganisationKind.buying_office:
                    b = Buyer(org, target=rng.randint(20, 60))
                    self.buyers.append(b)
                    self.buyers_by_district[district].append(b)
                else:
                    self.exporters.append(Exporter(org, big=i == 0))
        # a few exporters take most of the trade (Zipf weights)
        acc = 0.0
        for i in range(len(self.exporters)):
            acc += 1.0 / (i + 1)
            self.exporter_cum.append(acc)

        # miners in blocks per site; the first of each block holds the site's licence
        per_site = n.miners / len(shapes)
        acc = 0.0
        for k, shape in enumerate(shapes):
            first, stop = round(k * per_site), round((k + 1) * per_site)
            for m in range(first, stop):
                mid = new_id()
                self.miner_ids.append(mid)
                row = self._record(registered)
                row.update(
                    id=mid,
                    full_name=miner_name(n.seed, m),
                    national_id=f"SLN{m:09d}",
                    phone=None if m % 3 else f"+232 77 {m % 10**6:06d}",
                    photo_ref=None,
                    district_code=shape.district,
                    status=MinerStatus.active.value,
                    deleted_at=None,
                )
                self.out.add("miner", row)
            licensed = rng.random() < 0.85
            licence = None
            if licensed:
                valid_from = self.start - timedelta(days=rng.randrange(0, 300))
                # one licence in twenty lapses during the period (later sales get flagged)
                lapse = rng.random() < 0.05
                valid_to = (
                    self.start + timedelta(days=rng.randrange(60, self.days))
                    if lapse
                    else self.end + timedelta(days=rng.randrange(30, 365))
                )
                licence = self._licence(
                    LicenceKind.artisanal_mining,
                    f"NAML-{k + 1:07d}",
                    miner=self.miner_ids[first],
                    org=None,
                    district=shape.district,
                    valid_from=valid_from,
                    valid_to=valid_to,
                    area=licence_area(shape),
                )
            status = SiteStatus.active if licensed or rng.random() < 0.7 else SiteStatus.inactive
            site_id = new_id()
            geom = site_multipolygon(shape)
            row = self._record(registered)
            row.update(
                id=site_id,
                name=shape.name,
                district_code=shape.district,
                licence_id=None if licence is None else licence.id,
                status=status.value,
                geometry=ewkb(geom),
                area_ha=geodesic_area_ha(geom),
                notes=None if licensed else "worked without a licence when mapped",
                deleted_at=None,
            )
            self.out.add("site", row)
            self.sites.append(SiteRec(site_id, shape, status.value, licence, first, (first, stop)))
            # how busy a site is: lognormal, so a few sites sell a great deal
            acc += rng.lognormvariate(0.0, 1.1)
            self.site_cum.append(acc)
            self._site_visit(self.sites[-1])
            if k % 2000 == 0:
                self.progress.tick(f"registry: {k:,}/{len(shapes):,} sites with their miners")
        self.out.flush_all()
        self.progress.tick("registry written", force=True)

    def _site_visit(self, site: SiteRec) -> None:
        day = self.start + timedelta(days=self.rng.randrange(self.days))
        x, y = purchase_point(self.rng, site.shape, outside=self.rng.random() < 0.05)
        visited = at(day, self.rng.uniform(8, 16) * 3600)
        row = self._record(visited)
        row.update(
            site_id=site.id,
            district_code=site.shape.district,
            visited_at=visited,
            location=ewkb_point(x, y),
            diggers_counted=self.rng.randint(0, 80),
            notes=None,
            officer_id=self.officer_id,
            distance_to_site_m=Decimal(
                str(round(measure.distance_m(Point(x, y), site.shape.polygon), 1))
            ),
            deleted_at=None,
        )
        self.out.add("site_visit", row)

    # --- events -----------------------------------------------------------------------------

    def _event(
        self,
        event_id: uuid.UUID,
        kind: EventKind,
        occurred: datetime,
        chain_id: uuid.UUID,
        recorded_by: uuid.UUID,
        inputs: list[tuple[HeldLot, bool]],
        outputs: list[HeldLot],
        location: tuple[float, float] | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """One custody event with its inputs and outputs, chained as `record_event` chains it."""
        created = occurred + timedelta(seconds=self.rng.uniform(1, 900))
        ev: dict[str, Any] = dict.fromkeys(HASHED_EVENT_FIELDS)
        ev.update(
            id=event_id,
            kind=kind.value,
            occurred_at=occurred,
            created_at=created,
            recorded_by=recorded_by,
            country_code=COUNTRY,
            chain_id=chain_id,
            breakage_declared=False,
            flags=[],
        )
        ev.update(values)
        seq, prev = self.chains.get(chain_id, (0, None))
        ev["chain_seq"] = seq + 1
        in_rows = [
            (lot.id, lot.parcel.carats, lot.parcel.stones, consumed) for lot, consumed in inputs
        ]
        out_rows = [
            (lot.id, lot.tag, lot.parcel.carats, lot.parcel.stones, lot.parcel.sizes or None)
            for lot in outputs
        ]
        digest = fast_event_hash(ev, location, in_rows, out_rows, prev)
        if self.events % SELF_CHECK_EVERY == 0:
            # the app's own canonical form, now and then, so a change in rules.py shows here
            slow = event_hash(event_payload(ev, location, in_rows, out_rows, prev))
            if slow != digest:
                raise RuntimeError("bench hash differs from rules.event_hash: update national.py")
        self.chains[chain_id] = (seq + 1, digest)
        ev.update(
            version=1,
            updated_at=created,
            prev_hash=prev,
            hash=digest,
            location=None if location is None else ewkb_point(*location),
        )
        self.out.add("custody_event", ev)
        for lot_id, carats, stones, consumed in in_rows:
            self.out.add(
                "event_input",
                {
                    "id": new_id(),
                    "event_id": event_id,
                    "lot_id": lot_id,
                    "carats": carats,
                    "stone_count": stones,
                    "consumed": consumed,
                },
            )
        for lot in outputs:
            lot.created_at = created
            lot.event_id = event_id
            self.out.add(
                "event_output",
                {
                    "id": new_id(),
                    "event_id": event_id,
                    "lot_id": lot.id,
                    "carats": lot.parcel.carats,
                    "stone_count": lot.parcel.stones,
                },
            )
            for (site_id, miner_id, purchase_id, production_id), share in lot.origins.items():
                self.out.add(
                    "lot_origin",
                    {
                        "id": new_id(),
                        "lot_id": lot.id,
                        "site_id": site_id,
                        "miner_id": miner_id,
                        "purchase_event_id": purchase_id,
                        "production_lot_id": production_id,
                        "carats_share": share,
                    },
                )
        self.events += 1
        return ev

    def _lot_row(
        self,
        lot: HeldLot,
        status: LotStatus,
        version: int,
        updated: datetime,
        *,
        container: str | None = None,
        usd: Decimal | None = None,
    ) -> None:
        self.out.add(
            "lot",
            {
                "id": lot.id,
                "version": version,
                "created_at": lot.created_at,
                "updated_at": updated,
                "tag": lot.tag,
                "carats": lot.parcel.carats,
                "stone_count": lot.parcel.stones,
                "size_classes": lot.parcel.sizes or None,
                "holder_organisation_id": lot.holder_org,
                "holder_miner_id": lot.holder_miner,
                "status": status.value,
                "country_code": COUNTRY,
                "created_by_event_id": lot.event_id,
                "container_id": container,
                "usd_value": usd,
            },
        )

    def _merge(self, inputs: list[HeldLot], out_carats: Decimal) -> dict[OriginKey, Decimal]:
        """The output's origins, as `_origins_for_outputs` pools and attributes them."""
        pooled: dict[OriginKey, Decimal] = {}
        for lot in inputs:
            for key, share in lot.origins.items():
                pooled[key] = pooled.get(key, Decimal(0)) + share
        if sum(pooled.values(), Decimal(0)) == out_carats:
            return {k: v for k, v in pooled.items() if v > 0}  # what attribute() gives then
        return attribute(pooled, out_carats)

    def _flags(
        self, site: SiteRec, miner: int, day: date
    ) -> tuple[uuid.UUID | None, list[dict[str, str]]]:
        """`service._origin_flags`: the suspicious but possible, recorded and flagged."""
        flags = []
        name = site.shape.name
        if site.licence is None:
            flags.append(flag("site_unlicensed", f"site {name} has no mining licence"))
        if site.status != SiteStatus.active:
            flags.append(flag("site_not_active", f"site {name} is {site.status}"))
        lic = site.licence if miner == site.holder else None
        problem = licence_problem(lic, LicenceKind.artisanal_mining, day)
        if problem is not None:
            flags.append(
                flag("miner_licence_invalid", f"miner {miner_name(self.n.seed, miner)} {problem}")
            )
        return (None if lic is None else lic.id), flags

    def _purchase(self, day: date, when: datetime, site: SiteRec) -> None:
        rng = self.rng
        lo, hi = site.miners
        miner = (
            site.holder
            if site.licence is not None and rng.random() < HOLDER_SELLS
            else rng.randrange(lo, hi)
        )
        miner_id = self.miner_ids[miner]
        buyer = rng.choice(self.buyers_by_district.get(site.shape.district) or self.buyers)
        parcel, fair_usd = draw_stones(rng, site.shape.region)
        licence_id, flags = self._flags(site, miner, day)
        x, y = purchase_point(rng, site.shape, outside=rng.random() < OUTSIDE_SHARE)
        distance = point_distance_m(Point(x, y), site.shape.polygon)
        off_site = point_problem(distance, site.shape.name, TOLERANCE_M)
        if off_site is not None:
            flags.append(flag("purchase_point_outside_site", off_site))
        usd = max(CENT, Decimal(repr(fair_usd * rng.uniform(0.55, 1.05))).quantize(CENT))
        leones = rng.random() < 0.75
        price = (usd * LEONES_PER_USD).quantize(CENT) if leones else usd
        purchase_id = new_id()
        inputs: list[tuple[HeldLot, bool]] = []
        production_id: uuid.UUID | None = None
        if rng.random() < self.n.produce_share:
            prod = self._produce(when, site, miner, miner_id, parcel, licence_id, flags)
            production_id = prod.id
            inputs = [(prod, True)]
        buyer.receipts += 1
        receipt = f"{buyer.org.index + 1:04d}-{buyer.receipts:07d}"
        lot = HeldLot(
            new_id(),
            f"R{receipt}",
            parcel,
            when,
            purchase_id,
            buyer.org.id,
            None,
            {(site.id, miner_id, purchase_id, production_id): parcel.carats},
            usd,
            1,
        )
        self._event(
            purchase_id,
            EventKind.purchase,
            when,
            buyer.org.id,
            buyer.org.user_id,
            inputs,
            [lot],
            (x, y),
            device_time=when,
            device_id=f"tablet-{buyer.org.index + 1:04d}",
            organisation_id=buyer.org.id,
            organisation_licence_id=buyer.org.licence_id,
            site_id=site.id,
            miner_id=miner_id,
            miner_licence_id=licence_id,
            district_code=site.shape.district,
            price=price,
            currency="SLE" if leones else "USD",
            usd_value=usd,
            receipt_number=receipt,
            distance_to_site_m=Decimal(str(round(distance, 1))),
            flags=flags,
        )
        if inputs:
            prod_lot = inputs[0][0]
            self._lot_row(prod_lot, LotStatus.consumed, 2, when)
        if not buyer.open:
            buyer.opened_day = (day - self.start).days
        buyer.open.append(lot)
        buyer.org.stock += parcel.carats
        site.purchases += 1
        self.purchases += 1

    def _produce(
        self,
        purchased: datetime,
        site: SiteRec,
        miner: int,
        miner_id: uuid.UUID,
        parcel: Parcel,
        licence_id: uuid.UUID | None,
        purchase_flags: list[dict[str, str]],
    ) -> HeldLot:
        """A field officer records the production first; the purchase then consumes that lot."""
        when = purchased - timedelta(minutes=self.rng.uniform(20, 600))
        last = self.miner_produced_at.get(miner)
        if last is not None and when <= last:
            when = last + (purchased - last) / 2
        self.miner_produced_at[miner] = when
        lot_id = new_id()
        flags = [f for f in purchase_flags if f["code"] != "purchase_point_outside_site"]
        prod = HeldLot(
            lot_id,
            f"PL-{miner + 1:07d}-{self.events}",
            parcel,
            when,
            lot_id,
            None,
            miner_id,
            {(site.id, miner_id, None, lot_id): parcel.carats},
            Decimal(0),
            0,
        )
        self._event(
            new_id(),
            EventKind.produce,
            when,
            miner_id,
            self.officer_id,
            [],
            [prod],
            site_id=site.id,
            miner_id=miner_id,
            miner_licence_id=licence_id,
            district_code=site.shape.district,
            flags=flags,
        )
        return prod

    def _buyer_lot(self, buyer: Buyer, day: date) -> None:
        """Consolidate the buyer's open purchases into one lot and transfer it to an exporter."""
        inputs, buyer.open = buyer.open, []
        when = at(day, 17.5 * 3600 + buyer.org.index)
        parcel = Parcel()
        for lot in inputs:
            parcel.add(lot.parcel)
        buyer.lots += 1
        out = HeldLot(
            new_id(),
            f"B{buyer.org.index + 1:04d}-{buyer.lots:05d}",
            parcel,
            when,
            uuid.UUID(int=0),
            buyer.org.id,
            None,
            self._merge(inputs, parcel.carats),
            sum((lot.usd for lot in inputs), Decimal(0)),
            sum(lot.purchases for lot in inputs),
        )
        self._event(
            new_id(),
            EventKind.consolidate,
            when,
            buyer.org.id,
            buyer.org.user_id,
            [(lot, True) for lot in inputs],
            [out],
            organisation_id=buyer.org.id,
            organisation_licence_id=buyer.org.licence_id,
        )
        for lot in inputs:
            self._lot_row(lot, LotStatus.consumed, 2, when)
            lot.origins = {}
        exporter = self.exporters[
            min(
                len(self.exporters) - 1,
                _bisect(self.exporter_cum, self.rng.random() * self.exporter_cum[-1]),
            )
        ]
        sent = when + timedelta(minutes=15)
        transfer_id = new_id()
        self._event(
            transfer_id,
            EventKind.transfer,
            sent,
            buyer.org.id,
            buyer.org.user_id,
            [(out, False)],
            [],
            organisation_id=buyer.org.id,
            organisation_licence_id=buyer.org.licence_id,
            counterparty_organisation_id=exporter.org.id,
            counterparty_licence_id=exporter.org.licence_id,
        )
        out.version = 2  # claimed: active -> in_transit
        buyer.org.stock -= parcel.carats
        self.pending.append(Transfer(transfer_id, sent, out, buyer, exporter))
        buyer.target = self.rng.randint(20, 60)

    def _accept(self, t: Transfer, when: datetime) -> None:
        exporter = t.to
        exporter.accepted += 1
        lot = t.lot
        out = HeldLot(
            new_id(),
            f"X{exporter.org.index + 1:03d}-{exporter.accepted:06d}",
            Parcel(lot.parcel.carats, lot.parcel.stones, dict(lot.parcel.sizes)),
            when,
            uuid.UUID(int=0),
            exporter.org.id,
            None,
            self._merge([lot], lot.parcel.carats),
            lot.usd,
            lot.purchases,
        )
        self._event(
            new_id(),
            EventKind.accept,
            when,
            exporter.org.id,
            exporter.org.user_id,
            [(lot, True)],
            [out],
            organisation_id=exporter.org.id,
            organisation_licence_id=exporter.org.licence_id,
            counterparty_organisation_id=t.sender.org.id,
            counterparty_licence_id=t.sender.org.licence_id,
            accepts_event_id=t.event_id,
        )
        self._lot_row(lot, LotStatus.consumed, lot.version + 1, when)
        exporter.held.append(out)
        exporter.org.stock += out.parcel.carats

    def _parcel(self, exporter: Exporter, day: date, hour: float) -> HeldLot:
        """Consolidate held lots into an export parcel; value, seal and export it the same day."""
        inputs, exporter.held = exporter.held, []
        exporter.parcels += 1
        exporter.last_parcel_day = (day - self.start).days
        when = at(day, hour * 3600 + exporter.org.index)
        parcel = Parcel()
        for lot in inputs:
            parcel.add(lot.parcel)
        # cleaning and re-weighing loss: within the tolerance that needs no reason
        loss = (parcel.carats * Decimal(repr(self.rng.uniform(0, 0.003)))).quantize(CARAT)
        loss = min(loss, loss_tolerance(parcel.carats))
        out_parcel = Parcel(parcel.carats - loss, parcel.stones, parcel.sizes)
        out = HeldLot(
            new_id(),
            f"SL-EXP-{exporter.org.index + 1:03d}-{day.year}-{exporter.parcels:04d}",
            out_parcel,
            when,
            uuid.UUID(int=0),
            exporter.org.id,
            None,
            self._merge(inputs, out_parcel.carats),
            sum((lot.usd for lot in inputs), Decimal(0)),
            sum(lot.purchases for lot in inputs),
        )
        org = exporter.org
        common: dict[str, Any] = {
            "organisation_id": org.id,
            "organisation_licence_id": org.licence_id,
        }
        self._event(
            new_id(),
            EventKind.consolidate,
            when,
            org.id,
            org.user_id,
            [(lot, True) for lot in inputs],
            [out],
            **common,
        )
        for lot in inputs:
            self._lot_row(lot, LotStatus.consumed, 2, when)
            lot.origins = {}
        org.stock -= loss
        value = (out.usd * Decimal(repr(self.rng.uniform(1.05, 1.25)))).quantize(CENT)
        valued = when + timedelta(hours=1)
        self._event(
            new_id(),
            EventKind.value,
            valued,
            org.id,
            self.export_office_id,
            [(out, False)],
            [],
            usd_value=value,
            **common,
        )
        container = f"SL-KP-{day.year}-{org.index + 1:03d}-{exporter.parcels:04d}"
        sealed = when + timedelta(hours=2)
        self._event(
            new_id(),
            EventKind.seal,
            sealed,
            org.id,
            self.export_office_id,
            [(out, False)],
            [],
            container_id=container,
            **common,
        )
        shipped = when + timedelta(hours=4)
        self._event(
            new_id(),
            EventKind.export,
            shipped,
            org.id,
            self.export_office_id,
            [(out, True)],
            [],
            **common,
        )
        org.stock -= out.parcel.carats
        # value: +1; seal: claim +1 and container +1; export: claim +1
        self._lot_row(out, LotStatus.exported, 5, shipped, container=container, usd=value)
        return out

    def _stock_takes(self, day: date) -> None:
        counted = at(day, 0)
        for org in [b.org for b in self.buyers] + [e.org for e in self.exporters]:
            short = self.rng.random() < 0.02
            carats = org.stock
            if short and carats > 0:
                carats = (carats * Decimal("0.997")).quantize(CARAT)
            row = self._record(counted + timedelta(hours=1))
            row.update(
                organisation_id=org.id,
                counted_at=counted,
                counted_carats=carats,
                counted_stones=None,
                recorded_by=org.user_id,
                device_id=None,
                notes="quarterly count" + (" (short: under investigation)" if short else ""),
            )
            self.out.add("stock_take", row)

    # --- three years, day by day --------------------------------------------------------------

    def simulate(self) -> None:
        rng, n = self.rng, self.n
        big = self.exporters[0]
        for d in range(self.days):
            day = self.start + timedelta(days=d)
            if day.day == 1 and day.month in (1, 4, 7, 10):
                self._stock_takes(day)
            # exporters accept yesterday's transfers in the morning
            pending, self.pending = self.pending, []
            for i, t in enumerate(pending):
                self._accept(t, at(day, 8 * 3600 + i * 2))
            # parcels: ordinary exporters fortnightly; the big one when it holds enough
            for e in self.exporters:
                if not e.held:
                    continue
                if e.big:
                    upstream = sum(lot.purchases for lot in e.held)
                    if upstream >= n.big_target or d == self.days - 1:
                        out = self._parcel(e, day, 10)
                        self.big_parcel = (out.id, upstream)
                        e.big = False
                elif d - e.last_parcel_day >= PARCEL_DAYS:
                    self._parcel(e, day, 10.5)
            # the day's purchases, 06:00 to 17:00
            today = (d + 1) * n.purchases // self.days - d * n.purchases // self.days
            times = sorted(rng.random() * 11 * 3600 for _ in range(today))
            picks = rng.choices(self.sites, cum_weights=self.site_cum, k=today)
            for seconds, site in zip(times, picks, strict=True):
                self._purchase(day, at(day, 6 * 3600 + seconds), site)
            # buyers close a lot when it is full or a fortnight old
            for b in self.buyers:
                if b.open and (len(b.open) >= b.target or d - b.opened_day >= 14):
                    self._buyer_lot(b, day)
            self.progress.tick(
                f"day {d + 1:,}/{self.days:,}: {self.purchases:,}/{n.purchases:,} purchases, "
                f"{self.events:,} events"
            )
        if self.big_parcel is None and big.held:
            self.big_parcel = (self._parcel(big, self.end - timedelta(days=1), 20).id, 0)

    def leftovers(self) -> None:
        """Lots still held at the end: open purchases, transfers in transit, exporters' stock."""
        for b in self.buyers:
            for lot in b.open:
                self._lot_row(lot, LotStatus.active, 1, lot.created_at)
        for t in self.pending:
            self._lot_row(t.lot, LotStatus.in_transit, 2, t.at)
        for e in self.exporters:
            for lot in e.held:
                self._lot_row(lot, LotStatus.active, 1, lot.created_at)


def _bisect(cum: list[float], x: float) -> int:
    return bisect.bisect_right(cum, x)


# --- the run -------------------------------------------------------------------------------------


def prepare(database_url: str) -> None:
    """Migrate and seed the demo country (idempotent), as `python -m backend migrate` would."""
    settings = Settings(database_url=database_url)
    engine = make_engine(settings)
    try:
        schema.upgrade(engine)
        with session_factory(engine)() as session:
            seed_demo(session=session, settings=settings)
    finally:
        engine.dispose()


def vacuum(database_url: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - started


def run(
    sizes: Sizes, database_url: str, *, chunk: int = 20_000, end: date | None = None
) -> dict[str, Any]:
    wall = time.perf_counter()
    prepare(database_url)
    with psycopg.connect(libpq_url(database_url)) as conn:
        already = conn.execute("SELECT count(*) FROM custody_event").fetchone()
        if already and already[0]:
            raise SystemExit(
                f"the database already holds {already[0]:,} custody events; "
                "load national data into a fresh database"
            )
        # lots are written once final, after the events naming them: no FK triggers during load
        conn.execute("SET session_replication_role = replica")
        conn.execute("SET synchronous_commit = off")
        copier = Copier(conn, chunk)
        gen = Generator(sizes, copier, end or datetime.now(UTC).date())
        gen.registry()
        gen.simulate()
        gen.leftovers()
        copier.flush_all()
        conn.execute("SET session_replication_role = origin")
        conn.commit()
    load_seconds = time.perf_counter() - wall
    gen.progress.tick("loaded; VACUUM ANALYZE", force=True)
    vacuum_seconds = vacuum(database_url)
    busiest = max(gen.sites, key=lambda s: s.purchases)
    assert gen.big_parcel is not None
    return {
        "copier": copier,
        "load_seconds": load_seconds,
        "vacuum_seconds": vacuum_seconds,
        "big_parcel": gen.big_parcel,
        "busiest_site": (busiest.id, busiest.purchases),
        "events": gen.events,
        "purchases": gen.purchases,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def report(sizes: Sizes, result: dict[str, Any]) -> None:
    copier: Copier = result["copier"]
    seconds = result["load_seconds"]
    print(f"## bench.national: {sizes}")
    print(f"machine: {__import__('os').cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(f"{'table':<22} {'rows':>12} {'COPY s':>8} {'rows/s (COPY)':>14} {'rows/s (wall)':>14}")
    for table in TABLES:
        rows, s = copier.rows[table], copier.seconds[table]
        print(
            f"{table:<22} {rows:>12,} {s:>8.1f} {rows / s if s else 0:>14,.0f} "
            f"{rows / seconds:>14,.0f}"
        )
    total = sum(copier.rows.values())
    copy_s = sum(copier.seconds.values())
    copy_rate = total / copy_s if copy_s else 0
    wall_rate = total / seconds
    print(f"{'total':<22} {total:>12,} {copy_s:>8.1f} {copy_rate:>14,.0f} {wall_rate:>14,.0f}")
    print(
        f"load wall time: {seconds:,.1f} s (migrate, seed, generate, COPY), "
        f"then VACUUM ANALYZE {result['vacuum_seconds']:,.1f} s"
    )
    print(f"custody events: {result['events']:,}; purchases: {result['purchases']:,}")
    print(f"peak RSS: {result['peak_rss_kib'] / 1024:,.1f} MiB")
    lot_id, upstream = result["big_parcel"]
    site_id, purchases = result["busiest_site"]
    print(f"big_parcel_lot_id={lot_id} upstream_purchases={upstream}")
    print(f"busiest_site_id={site_id} purchases={purchases}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.national", description=__doc__.splitlines()[0]
    )
    p.add_argument("--database-url", required=True, help="PostgreSQL + PostGIS URL")
    for name, default in DEFAULTS.items():
        p.add_argument(f"--{name}", type=int, default=None, help=f"default {default:,}")
    p.add_argument("--years", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    p.add_argument(
        "--produce-share",
        type=float,
        default=0.1,
        help="share of purchases whose production lot a field officer recorded first",
    )
    p.add_argument(
        "--big-parcel",
        type=int,
        default=10_000,
        help="upstream purchases of the one big export parcel (at most half of all purchases)",
    )
    p.add_argument("--chunk", type=int, default=20_000, help="rows per COPY")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = sizes_from(args)
    result = run(sizes, args.database_url, chunk=args.chunk)
    report(sizes, result)


if __name__ == "__main__":
    main()
