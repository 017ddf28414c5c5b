"""`seed-demo`: the demo country (Sierra Leone) with districts, organisations, miners, licences,
and mining sites along its diamond rivers. Deterministic, and loaded once.

Boundaries are real (Natural Earth, shipped in `geodata/data`). The river centrelines below are
hand-traced approximations of the Sewa, Moa, Bafi and Bagbe valleys, good enough to put demo
sites where alluvial digging happens; people, licences and sites are synthetic.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend import changes
from backend.audit.service import record as audit
from backend.registry import syncable  # noqa: F401  (registers registry records with changes)
from backend.registry.models import (
    Jurisdiction,
    JurisdictionLevel,
    Licence,
    LicenceKind,
    LicenceStatus,
    LicenceStatusChange,
    Miner,
    Organisation,
    OrganisationKind,
    Site,
    SiteStatus,
)
from backend.settings import Settings
from backend.spatial import as_multipolygon, to_db
from geodata.area import geodesic_area_ha
from geodata.boundaries import demo_country

RIVERS: dict[str, list[tuple[float, float]]] = {
    "Sewa": [
        (-11.05, 8.95),
        (-11.15, 8.72),
        (-11.28, 8.50),
        (-11.45, 8.25),
        (-11.60, 7.98),
        (-11.70, 7.70),
        (-11.78, 7.45),
    ],
    "Moa": [
        (-10.58, 8.48),
        (-10.72, 8.25),
        (-10.90, 8.02),
        (-11.07, 7.80),
        (-11.25, 7.50),
        (-11.42, 7.22),
        (-11.52, 7.05),
    ],
    "Bafi": [(-10.92, 8.85), (-10.98, 8.70), (-11.06, 8.55), (-11.14, 8.42)],
    "Bagbe": [(-10.85, 9.10), (-10.95, 8.98), (-11.05, 8.95)],
}
GIVEN = [
    "Mohamed",
    "Fatmata",
    "Ibrahim",
    "Aminata",
    "Abu",
    "Mariama",
    "Alusine",
    "Isatu",
    "Sahr",
    "Kadiatu",
    "Tamba",
    "Hawa",
    "Foday",
    "Musu",
    "Sorie",
    "Jeneba",
    "Komba",
    "Finda",
    "Lansana",
    "Adama",
]
FAMILY = [
    "Kamara",
    "Sesay",
    "Koroma",
    "Conteh",
    "Bangura",
    "Turay",
    "Kargbo",
    "Mansaray",
    "Jalloh",
    "Kanu",
    "Fofanah",
    "Lahai",
    "Gbondo",
    "Sandi",
    "Tucker",
    "Musa",
    "Kallon",
    "Sheriff",
    "Fomba",
    "Bockarie",
]
TOWNS = [
    ("Koidu", -10.971, 8.644),
    ("Kenema", -11.190, 7.877),
    ("Bo", -11.738, 7.965),
    ("Tongo", -11.070, 8.220),
    ("Kailahun", -10.574, 8.279),
    ("Freetown", -13.234, 8.484),
]


def _site_polygon(rng: random.Random, centre: Point) -> Polygon:
    """An irregular pit-cluster outline of roughly 0.5 to 4 ha around `centre`."""
    radius = rng.uniform(0.0004, 0.0010)  # degrees, ~45-110 m
    points = []
    for i in range(9):
        angle = 2 * 3.14159265 * i / 9
        r = radius * rng.uniform(0.7, 1.2)
        from math import cos, sin

        points.append((centre.x + r * cos(angle) * 1.4, centre.y + r * sin(angle)))
    return Polygon(points)


def _district_of(point: Point, districts: list[tuple[str, BaseGeometry]]) -> str | None:
    for code, boundary in districts:
        if boundary.contains(point):
            return code
    return None


def seed_demo(*, session: Session, settings: Settings) -> dict[str, int] | None:
    country = demo_country()
    if (
        session.scalars(select(Jurisdiction).where(Jurisdiction.code == country["code"])).first()
        is not None
    ):
        return None
    rng = random.Random(7)
    counts: dict[str, int] = {}
    session.add(
        Jurisdiction(
            code=country["code"],
            name=country["name"],
            level=JurisdictionLevel.country,
            country_code=country["code"],
            boundary=to_db(as_multipolygon(country["boundary"])),
        )
    )
    session.flush()
    districts: list[tuple[str, BaseGeometry]] = []
    for region in country["regions"]:
        session.add(
            Jurisdiction(
                code=region["code"],
                name=region["name"],
                level=JurisdictionLevel.region,
                country_code=country["code"],
                parent_code=country["code"],
                boundary=to_db(as_multipolygon(region["boundary"])),
            )
        )
        session.flush()
        for d in region["districts"]:
            session.add(
                Jurisdiction(
                    code=d["code"],
                    name=d["name"],
                    level=JurisdictionLevel.district,
                    country_code=country["code"],
                    parent_code=region["code"],
                    boundary=to_db(as_multipolygon(d["boundary"])),
                )
            )
            districts.append((d["code"], d["boundary"]))
    session.flush()
    counts["jurisdictions"] = 1 + len(country["regions"]) + len(districts)

    today = date.today()
    orgs: list[Organisation] = []
    for town, lon, lat in TOWNS:
        district = _district_of(Point(lon, lat), districts)
        kinds = [OrganisationKind.buying_office] + (
            [OrganisationKind.exporter] * 3 if town == "Freetown" else []
        )
        for n, kind in enumerate(kinds):
            label = "Buying Office" if kind is OrganisationKind.buying_office else f"Exports {n}"
            orgs.append(
                Organisation(
                    name=f"{town} Diamond {label}",
                    kind=kind,
                    country_code=country["code"],
                    district_code=district,
                    registration_number=f"SL-REG-{len(orgs) + 1:04d}",
                    address=f"Main Road, {town}",
                )
            )
    session.add_all(orgs)
    session.flush()
    for i, org in enumerate(orgs):
        licence_kind = (
            LicenceKind.buyer
            if org.kind == OrganisationKind.buying_office
            else LicenceKind.exporter
        )
        prefix = "BUY" if licence_kind is LicenceKind.buyer else "EXP"
        lic = Licence(
            kind=licence_kind,
            number=f"{prefix}-{today.year}-{i + 1:03d}",
            holder_organisation_id=org.id,
            district_code=org.district_code,
            valid_from=today - timedelta(days=200),
            valid_to=today + timedelta(days=165),
            status=LicenceStatus.active,
            fit_and_proper=True,
        )
        session.add(lic)
    counts["organisations"] = len(orgs)

    sites = 0
    licences = len(orgs)
    miners = 0
    for river, line_coords in RIVERS.items():
        line = LineString(line_coords)
        steps = int(line.length / 0.03)  # ~3.3 km apart
        for k in range(steps + 1):
            on_line = line.interpolate(k / max(steps, 1), normalized=True)
            centre = Point(
                on_line.x + rng.uniform(-0.002, 0.002), on_line.y + rng.uniform(-0.002, 0.002)
            )
            district = _district_of(centre, districts)
            if district is None:
                continue
            shape = _site_polygon(rng, centre)
            if not districts[[c for c, _ in districts].index(district)][1].contains(shape):
                continue
            holder = Miner(
                full_name=f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                national_id=f"SL{rng.randrange(10**8):08d}",
                phone=f"+232 76 {rng.randrange(10**6):06d}",
                district_code=district,
            )
            session.add(holder)
            miners += 1
            for _ in range(rng.randrange(2, 6)):
                session.add(
                    Miner(
                        full_name=f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}",
                        district_code=district,
                        national_id=f"SL{rng.randrange(10**8):08d}",
                    )
                )
                miners += 1
            session.flush()
            licence_id = None
            if rng.random() < 0.75:
                licences += 1
                area = shape.buffer(0.0003, join_style="mitre")
                status = rng.choices(
                    [LicenceStatus.active, LicenceStatus.suspended, LicenceStatus.expired],
                    [8, 1, 1],
                )[0]
                lic = Licence(
                    kind=LicenceKind.artisanal_mining,
                    number=f"AML-{district[-2:]}-{licences:04d}",
                    holder_miner_id=holder.id,
                    district_code=district,
                    valid_from=today - timedelta(days=rng.randrange(30, 300)),
                    valid_to=today + timedelta(days=rng.randrange(-20, 300)),
                    status=status,
                    area=to_db(as_multipolygon(area)),
                    area_ha=geodesic_area_ha(area),
                )
                session.add(lic)
                session.flush()
                licence_id = lic.id
                session.add(
                    LicenceStatusChange(
                        licence_id=lic.id,
                        to_status=LicenceStatus.active,
                        reason="issued (demo data)",
                    )
                )
                if status is not LicenceStatus.active:
                    session.add(
                        LicenceStatusChange(
                            licence_id=lic.id,
                            from_status=LicenceStatus.active,
                            to_status=status,
                            reason="demo data",
                        )
                    )
            sites += 1
            session.add(
                Site(
                    name=f"{river} valley pit cluster {k + 1}",
                    district_code=district,
                    licence_id=licence_id,
                    status=SiteStatus.active
                    if licence_id
                    else rng.choice([SiteStatus.active, SiteStatus.inactive]),
                    geometry=to_db(as_multipolygon(shape)),
                    area_ha=geodesic_area_ha(shape),
                    notes=None if licence_id else "worked without a licence when mapped",
                )
            )
    counts["licences"] = licences
    counts["miners"] = miners
    counts["sites"] = sites
    session.flush()
    # Devices see the demo country too: every seeded record goes to the change feed.
    for model in (Jurisdiction, Organisation, Miner, Licence, Site):
        for row in session.scalars(select(model).order_by(col(model.id))):
            changes.changed(session, row)
    audit(
        session=session,
        principal=None,
        action="seed-demo",
        entity_type="jurisdiction",
        entity_id=country["code"],
        before=None,
        after=dict(counts),
    )
    session.commit()
    return counts
