"""Insight endpoints under /api/v1/insight: thin handlers that check the role, parse, present."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response, StreamingResponse

from backend.api.inputs import parse_model
from backend.api.jsonio import JSON
from backend.api.listing import Q_CURSOR, enum_param, page_of, reject_unknown_params
from backend.api.pagination import encode_cursor
from backend.api.params import integer_schema
from backend.api.routing import Context, QueryParam, Router
from backend.clock import utcnow
from backend.errors import FieldError, NotFound, ValidationFailed
from backend.insight import (
    access,
    aggregates,
    coverage,
    exports,
    nonreporting,
    returns,
    spotcheck,
    statistics,
    tasks,
)
from backend.insight.access import require_role
from backend.insight.periods import Period, key_of, parse_key, within
from backend.insight.schemas import TaskRequest
from backend.insight.statistics import ALLOWED_BY, By
from backend.settings import Settings

router = Router("insight")
API = "/api/v1/insight"
JSON_MEDIA = "application/json"


# The period keys the handlers parse (backend/insight/periods.py): a month, quarter or half.
PERIOD_KEY = r"^(19|2\d)\d{2}-((0[1-9]|1[0-2])|Q[1-4]|H[12])$"
QUARTER_KEY = r"^(19|2\d)\d{2}-Q[1-4]$"
# Each quarter of a trend is computed on request: a bounded span keeps that bounded.
MAX_TREND_YEARS = 20


def _q(name: str, description: str, kind: str = "string", **schema: Any) -> QueryParam:
    return QueryParam(name, description, {"type": kind, **schema})


def _int(ctx: Context, name: str, default: int, lo: int, hi: int) -> int:
    raw = ctx.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
        if not lo <= value <= hi:
            raise ValueError
    except ValueError:
        detail = f"expected an integer from {lo} to {hi}"
        raise ValidationFailed(
            f"{name}: {detail}", errors=[FieldError(f"/query/{name}", detail)]
        ) from None
    return value


def _meta(ctx: Context) -> dict[str, Any]:
    stamp = aggregates.last_refresh(ctx.session)
    return {"aggregates_refreshed_at": stamp.refreshed_at if stamp else None}


def _district(ctx: Context) -> str | None:
    code: str | None = ctx.query.get("district")
    if code is not None and not ctx.user.may_see_district(code):
        raise NotFound(f"no district {code} in your scope")
    return code


@router.route(
    "POST", API + "/refresh", "Rebuild the statistics aggregate (admin, ministry)", errors=(403,)
)
def refresh(ctx: Context) -> Response:
    stamp = aggregates.refresh(session=ctx.session, principal=ctx.user)
    return JSON(
        {"refreshed_at": stamp.refreshed_at, "stat_rows": stamp.stat_rows, "seconds": stamp.seconds}
    )


@router.route(
    "GET",
    API + "/statistics",
    "Carats, USD, stones and USD/ct by district, site, licence or buyer and period",
    query=(
        _q("by", "district | site | licence | buyer", enum=[b.value for b in By]),
        _q("period", "month | quarter | half", enum=[p.value for p in Period]),
        _q("from", "first period, e.g. 2026-Q1", pattern=PERIOD_KEY),
        _q("to", "last period, e.g. 2026-Q4", pattern=PERIOD_KEY),
        _q("district", "district code"),
        QueryParam(
            "limit",
            "keys per page (sites, licences, buyers or districts), each with all its periods",
            integer_schema(1, Settings.page_size_max),
        ),
        Q_CURSOR,
    ),
    errors=(403, 404, 422),
)
def get_statistics(ctx: Context) -> Response:
    require_role(ctx.user, access.STATISTICS, "read statistics")
    reject_unknown_params(ctx.request, ("by", "period", "from", "to", "district"))
    by = By(enum_param(ctx.request, "by", [b.value for b in By]) or By.district)
    period = Period(enum_param(ctx.request, "period", [p.value for p in Period]) or Period.quarter)
    start = ctx.query.get("from")
    end = ctx.query.get("to")
    q = statistics.Query(
        by=by,
        period=period,
        start=None if start is None else within(start, period, "/query/from", first=True),
        end=None if end is None else within(end, period, "/query/to", first=False),
        district=_district(ctx),
    )
    page = page_of(ctx.request, ctx.settings)
    after = None if page.after is None else statistics.key_from_cursor(by, page.after)
    keys, more = statistics.page_keys(ctx.session, ctx.user, q, page.limit, after)
    rows = statistics.run(ctx.session, ctx.user, q, keys)
    cursor = None
    if more and page.signer is not None:
        cursor = encode_cursor(statistics.key_as_cursor(by, keys[-1]), page.signer)
    return JSON({"by": by, "period": period, **_meta(ctx), "items": rows, "next_cursor": cursor})


@router.route(
    "GET",
    API + "/kp-return",
    "KP statistics return: production per half-year, exports per quarter, reconciled",
    query=(
        _q("year", "calendar year", "integer", minimum=2000, maximum=2100),
        _q("quarter", "one quarter of exports only, e.g. 2026-Q2", pattern=QUARTER_KEY),
        _q("format", "json | csv", enum=["json", "csv"]),
    ),
    alternates=("text/csv",),
    errors=(403, 422),
)
def kp_return(ctx: Context) -> Response:
    require_role(ctx.user, access.RETURNS, "read KP statistics returns")
    reject_unknown_params(ctx.request, ("year", "quarter", "format"))
    year = _int(ctx, "year", utcnow().year, 2000, 2100)
    quarter = ctx.query.get("quarter")
    if quarter is not None:
        parse_key(quarter, Period.quarter, "/query/quarter")
        if int(quarter[:4]) != year and "year" in ctx.query:
            raise ValidationFailed(
                "quarter is not in year",
                errors=[FieldError("/query/quarter", f"must be a quarter of {year}")],
            )
        year = int(quarter[:4])
    fmt = enum_param(ctx.request, "format", ["json", "csv"]) or "json"
    ret = returns.kp_return(ctx.session, year, quarter, country="SL")
    if fmt == "csv":
        return StreamingResponse(
            (line.encode() for line in returns.csv_lines(ret)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="kp-return-{year}.csv"'},
        )
    return JSON({**ret, **_meta(ctx)})


@router.route(
    "GET",
    API + "/coverage",
    "Coverage per district (aggregates only): licensed sites, registered miners, GPS purchases",
    query=(
        _q("district", "district code"),
        _q(
            "unvisited_days",
            "a site is unvisited after this many days",
            "integer",
            minimum=1,
            maximum=3650,
        ),
    ),
    errors=(403, 404, 422),
)
def get_coverage(ctx: Context) -> Response:
    require_role(ctx.user, access.COVERAGE, "read coverage")
    reject_unknown_params(ctx.request, ("district", "unvisited_days"))
    days = _int(ctx, "unvisited_days", 90, 1, 3650)
    rows = coverage.snapshot(
        ctx.session, ctx.user, now=utcnow(), unvisited_days=days, district=_district(ctx)
    )
    return JSON({**_meta(ctx), "items": rows})


@router.route(
    "GET",
    API + "/coverage/trends",
    "Quarterly trends of coverage per district",
    query=(
        _q("from", "first quarter, e.g. 2026-Q1", pattern=QUARTER_KEY),
        _q("to", "last quarter", pattern=QUARTER_KEY),
        _q("district", "district code"),
    ),
    errors=(403, 404, 422),
)
def coverage_trends(ctx: Context) -> Response:
    require_role(ctx.user, access.COVERAGE, "read coverage")
    reject_unknown_params(ctx.request, ("from", "to", "district"))
    now = key_of(utcnow().date(), Period.quarter)
    last = parse_key(ctx.query.get("to", now), Period.quarter, "/query/to")
    first = parse_key(
        ctx.query.get("from", f"{int(last[:4]) - 1}{last[4:]}"), Period.quarter, "/query/from"
    )
    if first > last:
        raise ValidationFailed(
            "from is after to", errors=[FieldError("/query/from", "must not be after to")]
        )
    if int(last[:4]) - int(first[:4]) > MAX_TREND_YEARS:
        raise ValidationFailed(
            f"a trend spans at most {MAX_TREND_YEARS} years",
            errors=[FieldError("/query/from", f"at most {MAX_TREND_YEARS} years before to")],
        )
    rows = coverage.trends(ctx.session, ctx.user, first=first, last=last, district=_district(ctx))
    return JSON({**_meta(ctx), "items": rows})


@router.route(
    "GET",
    API + "/non-reporting",
    "Licensed traders and mining licences with no records in N days",
    query=(_q("days", "silence longer than this many days", "integer", minimum=1, maximum=3650),),
    errors=(403, 422),
)
def non_reporting(ctx: Context) -> Response:
    require_role(ctx.user, access.NON_REPORTING, "read non-reporting lists")
    reject_unknown_params(ctx.request, ("days",))
    days = _int(ctx, "days", 90, 1, 3650)
    now = utcnow()
    return JSON(
        {
            "days": days,
            "traders": nonreporting.traders(ctx.session, now=now, days=days),
            "mining_licences": nonreporting.mining_licences(
                ctx.session, ctx.user, now=now, days=days
            ),
        }
    )


@router.route(
    "GET",
    API + "/non-reporting/habitual",
    "Habitual non-reporters: traders silent in most of the last quarters",
    query=(
        _q(
            "quarters",
            "how many complete quarters to look back",
            "integer",
            minimum=1,
            maximum=20,
        ),
        _q(
            "threshold",
            "silent in at least this many of them (more than `quarters`: all of them)",
            "integer",
            minimum=1,
            maximum=20,
        ),
    ),
    errors=(403, 422),
)
def habitual(ctx: Context) -> Response:
    require_role(ctx.user, access.NON_REPORTING, "read non-reporting lists")
    reject_unknown_params(ctx.request, ("quarters", "threshold"))
    quarters = _int(ctx, "quarters", 4, 1, 20)
    threshold = min(_int(ctx, "threshold", max(1, quarters // 2 + 1), 1, 20), quarters)
    rows = nonreporting.habitual(ctx.session, now=utcnow(), quarters=quarters, threshold=threshold)
    return JSON({"quarters": quarters, "threshold": threshold, "items": rows})


def _window(ctx: Context) -> spotcheck.Window:
    return spotcheck.Window(
        now=utcnow(),
        days=_int(ctx, "days", 90, 7, 3650),
        unvisited_days=_int(ctx, "unvisited_days", 90, 1, 3650),
    )


@router.route(
    "GET",
    API + "/spot-checks",
    "Risk-ranked sites and buyers of a district, each with its reasons",
    query=(
        QueryParam("district", "district code", required=True),
        _q("days", "signal window in days", "integer", minimum=7, maximum=3650),
        _q(
            "unvisited_days",
            "a site is overdue after this many days",
            "integer",
            minimum=1,
            maximum=3650,
        ),
    ),
    errors=(403, 404, 422),
)
def spot_checks(ctx: Context) -> Response:
    require_role(ctx.user, access.SPOT_CHECKS, "read spot-check plans")
    reject_unknown_params(ctx.request, ("district", "days", "unvisited_days"))
    district = _district(ctx)
    if district is None:
        raise ValidationFailed(
            "district is required", errors=[FieldError("/query/district", "required")]
        )
    return JSON({**spotcheck.plan(ctx.session, district, _window(ctx)), **_meta(ctx)})


@router.route(
    "POST",
    API + "/inspection-tasks",
    "Turn the top of a district's spot-check plan into tasks for a field officer",
    request=TaskRequest,
    status=201,
    errors=(403, 422),
)
def issue_tasks(ctx: Context) -> Response:
    body = parse_model(TaskRequest, ctx.body)
    made = tasks.issue(
        session=ctx.session,
        principal=ctx.user,
        district_code=body.district,
        officer_id=body.officer_id,
        top=body.top,
        window=spotcheck.Window(now=utcnow(), days=body.days, unvisited_days=body.unvisited_days),
    )
    return JSON({"items": [tasks.task_public(t) for t in made]}, status_code=201)


@router.route(
    "GET",
    API + "/inspection-tasks",
    "Inspection tasks (officers: their districts)",
    query=(_q("status", "open | closed", enum=["open", "closed"]),),
    errors=(403, 422),
)
def list_tasks(ctx: Context) -> Response:
    require_role(ctx.user, access.TASKS_READ, "read inspection tasks")
    reject_unknown_params(ctx.request, ("status",))
    status = enum_param(ctx.request, "status", ["open", "closed"])
    rows = tasks.tasks_for(ctx.session, ctx.user, status)
    return JSON({"items": [tasks.task_public(t) for t in rows]})


DATASETS = ("sites", "licence-areas", "statistics", "all")
FORMATS = ("csv", "geojson", "gpkg")


@router.route(
    "GET",
    API + "/exports/{dataset}",
    "Export sites, licence areas or statistics as CSV, GeoJSON or GeoPackage (streamed)",
    query=(
        _q("format", "csv | geojson | gpkg", enum=list(FORMATS)),
        _q("by", "statistics: district | site | licence | buyer"),
        _q("period", "statistics: month | quarter | half"),
    ),
    media_type="text/csv",
    alternates=("application/geo+json", "application/geopackage+sqlite3"),
    errors=(403, 404, 422),
)
def export(ctx: Context) -> Response:
    require_role(ctx.user, access.EXPORTS, "export data")
    reject_unknown_params(ctx.request, ("format", "by", "period"))
    dataset = str(ctx.path["dataset"])
    if dataset not in DATASETS:
        raise NotFound(f"no export {dataset}; exports: {', '.join(DATASETS)}")
    fmt = enum_param(ctx.request, "format", list(FORMATS)) or "csv"
    by = By(enum_param(ctx.request, "by", [b.value for b in By]) or By.district)
    period = Period(enum_param(ctx.request, "period", [p.value for p in Period]) or Period.quarter)
    sessions = ctx.request.app.state.sessions
    stamp = datetime.now(UTC).strftime("%Y%m%d")

    def stats() -> list[dict[str, Any]]:
        allowed = ALLOWED_BY.get(ctx.user.role)
        chosen = by if allowed is None or by in allowed else sorted(allowed)[0]
        return statistics.run(ctx.session, ctx.user, statistics.Query(by=By(chosen), period=period))

    if fmt == "gpkg":
        if dataset != "all":
            raise ValidationFailed(
                "a GeoPackage holds every layer: ask for exports/all",
                errors=[FieldError("/query/format", "gpkg needs dataset all")],
            )
        path, _ = exports.write_geopackage(ctx.session, ctx.user, stats())
        return StreamingResponse(
            exports.file_stream(path),
            media_type="application/geopackage+sqlite3",
            headers={"Content-Disposition": f'attachment; filename="alluvial-{stamp}.gpkg"'},
        )
    if dataset == "all":
        raise ValidationFailed(
            "exports/all is a GeoPackage",
            errors=[FieldError("/query/format", "use gpkg for all layers")],
        )
    name = f"{dataset}-{stamp}.{fmt}"
    disposition = {"Content-Disposition": f'attachment; filename="{name}"'}
    if dataset == "statistics":
        rows = stats()
        if fmt == "geojson":
            raise ValidationFailed(
                "statistics have no geometry",
                errors=[
                    FieldError("/query/format", "statistics export as csv (or inside the gpkg)")
                ],
            )
        return StreamingResponse(
            exports.csv_stream(iter(rows)), media_type="text/csv", headers=disposition
        )
    if fmt == "geojson":
        feats = (f for f, _ in exports.streamed_features(sessions, ctx.user, dataset))
        return StreamingResponse(
            exports.geojson_stream(feats), media_type="application/geo+json", headers=disposition
        )
    return StreamingResponse(
        exports.csv_stream(exports.collection_rows(sessions, ctx.user, dataset)),
        media_type="text/csv",
        headers=disposition,
    )
