"""The synthetic country behind `bench.national`: sites along the demo rivers, stone sizes, prices.

Pure data and randomness, no database: districts and river centrelines come from the demo
country (`geodata.boundaries.demo_country`, `backend.registry.demo.RIVERS`); each site is a
small pit-cluster polygon inside its district; each region has its own lognormal of carats per
stone; prices per carat grow with stone size.
"""

from __future__ import annotations

import math
import random
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.prepared import PreparedGeometry, prep

from backend.registry.demo import FAMILY, GIVEN, RIVERS, _site_polygon
from backend.spatial import SRID, as_multipolygon
from geodata.boundaries import demo_country

CARAT = Decimal("0.001")
CENT = Decimal("0.01")

# Carats per stone, lognormal (mu, sigma of the natural log) per region: the Kono and Kenema
# gravels of the East give larger stones than the Sewa's lower reaches in the South.
STONE_SIZE: dict[str, tuple[float, float]] = {
    "SL-E": (math.log(0.30), 1.00),
    "SL-S": (math.log(0.18), 0.85),
    "SL-N": (math.log(0.12), 0.75),
    "SL-W": (math.log(0.10), 0.70),
}
# Sieve classes, by the weight of one stone (carats): the upper bound of each class.
SIZE_CLASSES: tuple[tuple[str, float], ...] = (
    ("-7", 0.03),
    ("+7-11", 0.10),
    ("+11", 0.25),
    ("grainers", 1.00),
    ("1-3ct", 3.00),
    ("+3ct", math.inf),
)
LEONES_PER_USD = Decimal("22.50")


def ewkb_point(x: float, y: float) -> str:
    """Hex EWKB of a 4326 point: exact doubles, so the stored point hashes as it was generated."""
    return struct.pack("<BIIdd", 1, 0x20000001, SRID, x, y).hex()


def ewkb(geom: BaseGeometry) -> str:
    return str(shapely.to_wkb(shapely.set_srid(geom, SRID), hex=True, include_srid=True))


def person_name(rng: random.Random) -> str:
    return f"{rng.choice(GIVEN)} {rng.choice(FAMILY)}"


@dataclass(frozen=True)
class District:
    code: str
    region: str
    boundary: BaseGeometry
    prepared: PreparedGeometry


def districts() -> list[District]:
    country = demo_country()
    found = []
    for region in country["regions"]:
        for d in region["districts"]:
            found.append(District(d["code"], region["code"], d["boundary"], prep(d["boundary"])))
    return found


@dataclass
class SiteShape:
    index: int
    name: str
    district: str
    region: str
    polygon: Polygon
    centre: Point
    radius: float  # degrees; every point within 0.6 * radius of the centre is inside


def river_sites(
    rng: random.Random, count: int, all_districts: list[District], progress: Callable[[int], None]
) -> list[SiteShape]:
    """`count` pit clusters scattered along (and up the side valleys of) the demo rivers.

    A site is kept only if its whole polygon lies inside one district, as field officers map
    them; the lateral spread (about 2 km, tails to 8 km) stands in for tributaries.
    """
    lines = [(name, LineString(coords)) for name, coords in RIVERS.items()]
    lengths = [line.length for _, line in lines]
    sites: list[SiteShape] = []
    attempts = 0
    while len(sites) < count:
        attempts += 1
        if attempts > count * 50 + 1000:
            raise RuntimeError(f"could place only {len(sites)} of {count} sites along the rivers")
        name, line = rng.choices(lines, weights=lengths)[0]
        at = rng.random()
        p = line.interpolate(at, normalized=True)
        ahead = line.interpolate(min(at + 0.001, 1.0), normalized=True)
        behind = line.interpolate(max(at - 0.001, 0.0), normalized=True)
        dx, dy = ahead.x - behind.x, ahead.y - behind.y
        norm = math.hypot(dx, dy) or 1.0
        off = max(-0.08, min(0.08, rng.gauss(0.0, 0.02)))
        centre = Point(p.x - dy / norm * off, p.y + dx / norm * off)
        district = next((d for d in all_districts if d.prepared.contains(centre)), None)
        if district is None:
            continue
        polygon = _site_polygon(rng, centre)
        if not district.prepared.contains(polygon):
            continue
        xs = [c[0] for c in polygon.exterior.coords]
        radius = (max(xs) - min(xs)) / 2 / 1.4 / 1.2
        sites.append(
            SiteShape(
                index=len(sites),
                name=f"{name} valley site {len(sites) + 1}",
                district=district.code,
                region=district.region,
                polygon=polygon,
                centre=centre,
                radius=radius,
            )
        )
        if len(sites) % 1000 == 0:
            progress(len(sites))
    return sites


def site_multipolygon(site: SiteShape) -> BaseGeometry:
    return as_multipolygon(site.polygon)


def licence_area(site: SiteShape) -> BaseGeometry:
    return as_multipolygon(site.polygon.buffer(0.0003, join_style="mitre"))


def purchase_point(rng: random.Random, site: SiteShape, outside: bool) -> tuple[float, float]:
    """A GPS fix (6 decimals) inside the site, or, for the suspicious few, 0.6 to 3 km away."""
    angle = rng.uniform(0, 2 * math.pi)
    r = rng.uniform(0.006, 0.027) if outside else site.radius * 0.6 * math.sqrt(rng.random())
    return (
        round(site.centre.x + r * math.cos(angle), 6),
        round(site.centre.y + r * math.sin(angle), 6),
    )


@dataclass
class Parcel:
    """Carats, stones and the sieve-class histogram of some stones."""

    carats: Decimal = Decimal("0.000")
    stones: int = 0
    sizes: dict[str, int] = field(default_factory=dict)

    def add(self, other: Parcel) -> None:
        self.carats += other.carats
        self.stones += other.stones
        for k, n in other.sizes.items():
            self.sizes[k] = self.sizes.get(k, 0) + n


def size_class(carats: float) -> str:
    for name, upper in SIZE_CLASSES:
        if carats < upper:
            return name
    return SIZE_CLASSES[-1][0]


def draw_stones(rng: random.Random, region: str) -> tuple[Parcel, float]:
    """The stones one miner sells at once: 1 to ~12 stones from the region's size law.

    Returns the parcel and its fair USD value (before the buyer's price is haggled).
    """
    mu, sigma = STONE_SIZE.get(region, STONE_SIZE["SL-S"])
    n = 1 + min(int(rng.expovariate(1 / 2.5)), 11)
    total = 0.0
    usd = 0.0
    sizes: dict[str, int] = {}
    for _ in range(n):
        ct = max(0.005, min(rng.lognormvariate(mu, sigma), 40.0))
        total += ct
        # price per carat rises with size (roughly ct^0.6), US$ 120/ct for a 0.2 ct stone
        usd += ct * 120.0 * (ct / 0.2) ** 0.6
        k = size_class(ct)
        sizes[k] = sizes.get(k, 0) + 1
    carats = Decimal(repr(total)).quantize(CARAT)
    if carats <= 0:
        carats = CARAT
    return Parcel(carats, n, sizes), usd


class Ids:
    """UUIDv7 as `backend.ids.uuid7` lays them out (ms time, 12-bit counter, random), minus its
    lock and os.urandom call per id, which cost more than the rest of a purchase's rows."""

    def __init__(self, seed: int) -> None:
        self._bits = random.Random(seed ^ 0x5EED)
        self._last_ms = 0
        self._counter = 0

    def __call__(self) -> uuid.UUID:
        ms = time.time_ns() // 1_000_000
        if ms <= self._last_ms:
            self._counter += 1
            if self._counter > 0xFFF:
                self._last_ms += 1
                self._counter = 0
            ms = self._last_ms
        else:
            self._last_ms = ms
            self._counter = 0
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | self._counter << 64 | 0b10 << 62
        return uuid.UUID(int=value | self._bits.getrandbits(62))


new_id = Ids(7)
