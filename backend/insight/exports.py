"""Exports for ministries: sites, licence areas and statistics as CSV, GeoJSON or GeoPackage.

CSV and GeoJSON stream rows from the database in batches as the client reads them (a session
of their own, since the request's closes when the handler returns), so memory stays flat as
rows grow. GeoPackage is written by GDAL through pyogrio, never by hand: in batches appended to
a temporary file, which is then streamed and removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

from shapely import to_wkb
from shapely.geometry import shape
from sqlalchemy.orm import Session, sessionmaker

from backend.api.jsonio import dumps, jsonable
from backend.auth.principal import Principal
from backend.ogc.collections import COLLECTIONS
from backend.spatial import from_db

BATCH = 2000
LAYERS = {"sites": "sites", "licence-areas": "licence_areas"}


def _flat(feature: dict[str, Any]) -> dict[str, Any]:
    return {"id": feature["id"], **jsonable(feature["properties"])}


def features(
    session: Session, principal: Principal, collection: str
) -> Iterator[tuple[dict[str, Any], Any]]:
    """(GeoJSON feature, row) of a collection in the principal's scope, fetched in batches."""
    c = COLLECTIONS[collection]
    stmt = c.build(session, principal, None, (None, None)).order_by(*c.order())
    for row in session.execute(stmt.execution_options(yield_per=BATCH)):
        yield c.feature(row), row


def streamed_features(
    sessions: sessionmaker[Session], principal: Principal, collection: str
) -> Iterator[tuple[dict[str, Any], Any]]:
    """`features` in a session of its own, for a response body read after the handler returned."""
    with sessions() as session:
        yield from features(session, principal, collection)


def csv_stream(rows: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    for n, row in enumerate(rows, start=1):
        if writer is None:
            writer = csv.DictWriter(buf, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow(
            {
                k: "" if v is None else (json.dumps(v) if isinstance(v, list | dict) else v)
                for k, v in row.items()
            }
        )
        if n % 500 == 0:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def geojson_stream(feats: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    yield b'{"type":"FeatureCollection","features":['
    first = True
    for f in feats:
        yield (b"" if first else b",") + dumps(f)
        first = False
    yield b"]}"


def collection_rows(
    sessions: sessionmaker[Session], principal: Principal, collection: str
) -> Iterator[dict[str, Any]]:
    for feature, _ in streamed_features(sessions, principal, collection):
        shape = feature["geometry"]
        yield {**_flat(feature), "geometry_wkt": None if shape is None else _wkt(shape)}


def _wkt(geometry: dict[str, Any]) -> str:
    return str(shape(geometry).wkt)


def _write_layer(
    path: str, layer: str, batches: Iterator[list[tuple[dict[str, Any], Any]]], geometry_type: str
) -> int:
    import numpy as np  # GDAL's bindings load on the first GeoPackage, not at server start
    import pyogrio.raw

    written = 0
    for batch in batches:
        props = [_flat(f) for f, _ in batch]
        names = list(props[0])
        fields = [np.array([_cell(p[n]) for p in props], dtype=object) for n in names]
        geoms = np.array([to_wkb(from_db(g), flavor="iso") for _, g in batch], dtype=object)
        pyogrio.raw.write(
            path,
            geoms,
            fields,
            fields=names,
            layer=layer,
            driver="GPKG",
            geometry_type=geometry_type,
            crs="EPSG:4326",
            append=written > 0 or (os.path.exists(path) and os.path.getsize(path) > 0),
        )
        written += len(batch)
    return written


def _cell(value: Any) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def _batched(
    it: Iterator[tuple[dict[str, Any], Any]], geometry_of: Callable[[Any], Any]
) -> Iterator[list[tuple[dict[str, Any], Any]]]:
    batch: list[tuple[dict[str, Any], Any]] = []
    for feature, row in it:
        batch.append((feature, geometry_of(row)))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def write_geopackage(
    session: Session, principal: Principal, statistics: list[dict[str, Any]]
) -> tuple[str, dict[str, int]]:
    """A GeoPackage with layers sites, licence_areas (EPSG:4326) and statistics (no geometry)."""
    fd, path = tempfile.mkstemp(suffix=".gpkg", prefix="alluvial-export-")
    os.close(fd)
    os.unlink(path)  # GDAL creates it
    counts = {}
    geometry_of = {"sites": lambda r: r.geometry, "licence-areas": lambda r: r.area}
    for collection, layer in LAYERS.items():
        counts[layer] = _write_layer(
            path,
            layer,
            _batched(features(session, principal, collection), geometry_of[collection]),
            "MultiPolygon",
        )
    if statistics:
        import numpy as np
        import pyogrio.raw

        names = list(statistics[0])
        fields = [
            np.array([_cell(jsonable(r[n])) for r in statistics], dtype=object) for n in names
        ]
        pyogrio.raw.write(
            path,
            None,
            fields,
            fields=names,
            layer="statistics",
            driver="GPKG",
            append=os.path.exists(path),
        )
    counts["statistics"] = len(statistics)
    return path, counts


def file_stream(path: str, chunk: int = 64 * 1024) -> Iterator[bytes]:
    try:
        with open(path, "rb") as f:
            while data := f.read(chunk):
                yield data
    finally:
        os.unlink(path)
