"""Evidence endpoints under /api/v1: compute and read reports, capacity rates, profiles."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session
from starlette.responses import HTMLResponse, Response

from backend.api.inputs import parse_model
from backend.api.jsonio import JSON
from backend.api.routing import Context, Router
from backend.auth.permissions import Action, require
from backend.auth.principal import Principal
from backend.custody.models import Lot
from backend.errors import NotFound
from backend.evidence import access, facts, profiles, reports, service, views
from backend.evidence.models import EvidenceReport
from backend.evidence.schemas import (
    ProfilesPublic,
    RateIn,
    RatePublic,
    RatesPublic,
    ReportPublic,
)

router = Router("evidence")
API = "/api/v1"


def _public(session: Session, report: EvidenceReport, tag: str) -> dict[str, object]:
    return views.report_public(
        report, tag, reports.is_current(session, report), reports.overrides_of(session, report.id)
    )


def _report(ctx: Context) -> dict[str, object]:
    report = ctx.session.get(EvidenceReport, ctx.record_id())
    if report is None:
        raise NotFound(f"no evidence report {ctx.record_id()}")
    lot = _readable(ctx.session, ctx.user, report.lot_id)
    return _public(ctx.session, report, lot.tag)


def _readable(session: Session, user: Principal, lot_id: object) -> Lot:
    return access.readable_lot(session, user, lot_id)


@router.route(
    "POST",
    API + "/lots/{id}/evidence",
    "Compute the lot's internal-control evidence now and store the report (export office)",
    response=ReportPublic,
    status=201,
    errors=(403, 404),
)
def compute(ctx: Context) -> Response:
    access.require_compute(ctx.user)
    lot = _readable(ctx.session, ctx.user, ctx.record_id())
    report = service.compute_report(
        session=ctx.session, principal=ctx.user, lot_id=lot.id, settings=ctx.settings
    )
    return JSON(_public(ctx.session, report, lot.tag), status_code=201)


@router.route(
    "GET",
    API + "/lots/{id}/evidence",
    "The lot's latest evidence report; `current` says whether its data changed since",
    response=ReportPublic,
    errors=(403, 404),
)
def latest(ctx: Context) -> Response:
    lot = _readable(ctx.session, ctx.user, ctx.record_id())
    report = reports.latest_report(ctx.session, lot.id)
    if report is None:
        raise NotFound(f"lot {lot.tag} has no evidence report yet; POST to compute one")
    return JSON(_public(ctx.session, report, lot.tag))


@router.route(
    "GET",
    API + "/evidence-reports/{id}.html",
    "An evidence report as a readable page",
    media_type="text/html",
    errors=(403, 404),
)
def report_page(ctx: Context) -> Response:
    return HTMLResponse(views.report_html(_report(ctx)))


@router.route(
    "GET",
    API + "/evidence-reports/{id}",
    "An evidence report",
    response=ReportPublic,
    errors=(403, 404),
)
def report_json(ctx: Context) -> Response:
    return JSON(_report(ctx))


# --- regional reference data --------------------------------------------------------------------


def _rates(ctx: Context) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for region, row in profiles.rate_rows(ctx.session):
        out.append(
            {
                "region_code": region.code,
                "region_name": region.name,
                "carats_per_digger_day": str(
                    row.carats_per_digger_day if row else facts.DEFAULT_CARATS_PER_DIGGER_DAY
                ),
                "working_days_per_year": (
                    row.working_days_per_year if row else facts.DEFAULT_WORKING_DAYS
                ),
                "note": row.note if row else None,
                "default": row is None,
                "version": row.version if row else 0,
            }
        )
    return out


@router.route(
    "GET",
    API + "/capacity-rates",
    "Each region's capacity rate (carats per digger-day, working days a year)",
    response=RatesPublic,
    errors=(403,),
)
def list_rates(ctx: Context) -> Response:
    require(ctx.user, "capacity_rate", Action.read)
    return JSON({"items": _rates(ctx)})


@router.route(
    "PUT",
    API + "/capacity-rates/{region}",
    "Set a region's capacity rate (ministry); a change sends the version it read",
    request=RateIn,
    response=RatePublic,
    errors=(403, 404, 409, 422),
)
def put_rate(ctx: Context) -> Response:
    require(ctx.user, "capacity_rate", Action.write)
    body = parse_model(RateIn, ctx.body)
    region = str(ctx.path["region"])
    profiles.set_rate(
        session=ctx.session,
        principal=ctx.user,
        region_code=region,
        carats_per_digger_day=Decimal(body.carats_per_digger_day).quantize(Decimal("0.0001")),
        working_days_per_year=body.working_days_per_year,
        note=body.note,
        version=body.version,
    )
    found = [r for r in _rates(ctx) if r["region_code"] == region]
    return JSON(found[0])


def _profiles(ctx: Context) -> list[dict[str, object]]:
    latest = facts.latest_profiles(ctx.session)
    out: list[dict[str, object]] = []
    for region in profiles.regions(ctx.session):
        p = latest.get(region.code)
        out.append(
            {
                "region_code": region.code,
                "built_at": None if p is None else p.built_at.isoformat(),
                "lots": 0 if p is None else p.lots,
                "stones": 0 if p is None else p.stones,
                "carats": "0.000" if p is None else str(p.carats),
                "usd_per_carat": (
                    None
                    if p is None or p.carats == 0
                    else str((p.usd_value / p.carats).quantize(Decimal("0.01")))
                ),
                "size_classes": {} if p is None else p.size_classes,
            }
        )
    return out


@router.route(
    "GET",
    API + "/footprint-profiles",
    "Each region's footprint profile (size classes and USD/ct) as last refreshed",
    response=ProfilesPublic,
    errors=(403,),
)
def list_profiles(ctx: Context) -> Response:
    require(ctx.user, "footprint_profile", Action.read)
    return JSON({"items": _profiles(ctx)})


@router.route(
    "POST",
    API + "/footprint-profiles/refresh",
    "Rebuild every region's footprint profile from the purchases recorded so far",
    response=ProfilesPublic,
    errors=(403,),
)
def refresh(ctx: Context) -> Response:
    require(ctx.user, "footprint_profile", Action.write)
    profiles.refresh_profiles(session=ctx.session, principal=ctx.user)
    return JSON({"items": _profiles(ctx)})
