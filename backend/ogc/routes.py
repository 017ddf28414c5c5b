"""OGC API - Features endpoints under /api/v1/ogc: landing page, conformance, collections and items.

Items page by `offset` with `next` links (GDAL and QGIS follow them to the last page), and
report `numberMatched` and `numberReturned`. A bearer token works as everywhere; a collection a
role may not read is absent from its list and answers 404, like a record out of scope.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from starlette.responses import Response

from backend.api.jsonio import JSON, GeoJSON
from backend.api.pagination import parse_bbox
from backend.api.params import BBOX_SCHEMA, integer_schema
from backend.api.routing import Context, QueryParam, Router
from backend.errors import FieldError, NotFound, ValidationFailed
from backend.ogc.collections import COLLECTIONS, Collection, Interval, visible
from backend.ogc.links import OGC_ROOT, base_url, href, link

router = Router("ogc")
GEOJSON = "application/geo+json"
JSON_MEDIA = "application/json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
ITEM_PARAMS = ("bbox", "datetime", "limit", "offset", "f")
Q_ITEMS = (
    QueryParam("bbox", "minLon,minLat,maxLon,maxLat (WGS 84)", BBOX_SCHEMA),
    QueryParam("datetime", "an RFC 3339 instant or interval (start/end, `..` open)"),
    QueryParam(
        "limit",
        "features per page (capped at the server's maximum)",
        integer_schema(1),
    ),
    QueryParam("offset", "features to skip (follow the `next` link)", integer_schema(0)),
    QueryParam("f", "json (the only encoding)"),
)


def _bad(name: str, detail: str) -> ValidationFailed:
    return ValidationFailed(f"{name}: {detail}", errors=[FieldError(f"/query/{name}", detail)])


def _check_params(ctx: Context, known: tuple[str, ...]) -> None:
    unknown = sorted(set(ctx.query) - set(known))
    if unknown:
        raise _bad(unknown[0], f"not a parameter here; known: {', '.join(known)}")
    f = ctx.query.get("f")
    if f is not None and f not in ("json", "geojson"):
        raise _bad("f", "only json is offered")


def _instant(raw: str, end: bool) -> datetime | None:
    if raw in ("..", ""):
        return None
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _bad("datetime", "expected RFC 3339, e.g. 2026-01-01T00:00:00Z/..") from None
    if value.tzinfo is None:
        raise _bad("datetime", "add Z or an offset such as +00:00")
    return value


def parse_interval(raw: str | None) -> Interval:
    if raw is None:
        return None, None
    if "/" in raw:
        first, _, last = raw.partition("/")
        start, end = _instant(first, False), _instant(last, True)
        if start is not None and end is not None and start > end:
            raise _bad("datetime", "the interval ends before it starts")
        return start, end
    if raw == "..":
        raise _bad("datetime", "an instant cannot be open")
    return _instant(raw, False), _instant(raw, True)


def _int(ctx: Context, name: str, default: int, minimum: int) -> int:
    raw = ctx.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, f"expected an integer >= {minimum}") from None
    if value < minimum:
        raise _bad(name, f"expected an integer >= {minimum}")
    return value


def _collection(ctx: Context) -> Collection:
    c = COLLECTIONS.get(ctx.path["collection"])
    if c is None or ctx.user.role not in c.roles:
        raise NotFound(f"no collection {ctx.path['collection']}")
    return c


def collection_json(ctx: Context, c: Collection) -> dict[str, Any]:
    r = ctx.request
    return {
        "id": c.id,
        "title": c.title,
        "description": c.description,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}},
        "links": [
            link("self", href(r, f"/collections/{c.id}"), JSON_MEDIA, c.title),
            link("items", href(r, f"/collections/{c.id}/items"), GEOJSON, c.title),
        ],
    }


@router.route("GET", OGC_ROOT, "OGC API landing page", errors=(401,))
def landing(ctx: Context) -> Response:
    _check_params(ctx, ("f",))
    r = ctx.request
    return JSON(
        {
            "title": "Alluvial diamond production tracking",
            "description": "Sites, licence areas and production aggregates (OGC API - Features)",
            "links": [
                link("self", href(r, ""), JSON_MEDIA, "this document"),
                link(
                    "service-desc",
                    base_url(r) + "/openapi.json",
                    "application/vnd.oai.openapi+json;version=3.0",
                    "the API definition",
                ),
                link("conformance", href(r, "/conformance"), JSON_MEDIA, "conformance classes"),
                link("data", href(r, "/collections"), JSON_MEDIA, "feature collections"),
            ],
        }
    )


@router.route("GET", OGC_ROOT + "/conformance", "Conformance classes", errors=(401,))
def conformance(ctx: Context) -> Response:
    _check_params(ctx, ("f",))
    return JSON({"conformsTo": CONFORMANCE})


@router.route("GET", OGC_ROOT + "/collections", "Feature collections you may read", errors=(401,))
def collections(ctx: Context) -> Response:
    _check_params(ctx, ("f",))
    r = ctx.request
    return JSON(
        {
            "links": [link("self", href(r, "/collections"), JSON_MEDIA)],
            "collections": [collection_json(ctx, c) for c in visible(ctx.user)],
        }
    )


@router.route(
    "GET", OGC_ROOT + "/collections/{collection}", "One feature collection", errors=(401, 404)
)
def collection(ctx: Context) -> Response:
    _check_params(ctx, ("f",))
    return JSON(collection_json(ctx, _collection(ctx)))


@router.route(
    "GET",
    OGC_ROOT + "/collections/{collection}/items",
    "Features of a collection, a page at a time",
    query=Q_ITEMS,
    media_type=GEOJSON,
    errors=(401, 404, 422),
)
def items(ctx: Context) -> Response:
    c = _collection(ctx)
    _check_params(ctx, ITEM_PARAMS)
    bbox = parse_bbox(ctx.query.get("bbox"))
    interval = parse_interval(ctx.query.get("datetime"))
    limit = min(_int(ctx, "limit", ctx.settings.page_size_default, 1), ctx.settings.page_size_max)
    offset = _int(ctx, "offset", 0, 0)
    stmt = c.build(ctx.session, ctx.user, bbox, interval)
    matched = int(ctx.session.scalar(c.matched(ctx.session, ctx.user, bbox, interval)) or 0)
    rows = ctx.session.execute(stmt.order_by(*c.order()).offset(offset).limit(limit)).all()
    features = [c.feature(row) for row in rows]
    r = ctx.request
    keep = {k: ctx.query[k] for k in ("bbox", "datetime") if k in ctx.query}
    page = f"/collections/{c.id}/items"
    links = [
        link("self", href(r, page, **keep, limit=limit, offset=offset), GEOJSON),
        link("collection", href(r, f"/collections/{c.id}"), JSON_MEDIA),
    ]
    if offset + len(features) < matched:
        links.append(
            link(
                "next",
                href(r, page, **keep, limit=limit, offset=offset + limit),
                GEOJSON,
                "next page",
            )
        )
    if offset > 0:
        links.append(
            link(
                "prev",
                href(r, page, **keep, limit=limit, offset=max(0, offset - limit)),
                GEOJSON,
                "previous page",
            )
        )
    return GeoJSON(
        {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
            "timeStamp": datetime.now(UTC),
            "links": links,
        }
    )


@router.route(
    "GET",
    OGC_ROOT + "/collections/{collection}/items/{featureId}",
    "One feature",
    media_type=GEOJSON,
    errors=(401, 404),
)
def item(ctx: Context) -> Response:
    c = _collection(ctx)
    _check_params(ctx, ("f",))
    fid = str(ctx.path["featureId"])
    clause = c.by_id(fid)
    if clause is None:
        raise NotFound(f"no feature {fid} in {c.id}")
    row = ctx.session.execute(
        c.build(ctx.session, ctx.user, None, (None, None)).where(clause)
    ).first()
    if row is None:
        raise NotFound(f"no feature {fid} in {c.id}")
    feature = c.feature(row)
    r = ctx.request
    feature["links"] = [
        link("self", href(r, f"/collections/{c.id}/items/{fid}"), GEOJSON),
        link("collection", href(r, f"/collections/{c.id}"), JSON_MEDIA),
    ]
    return GeoJSON(feature)
