"""Incident endpoints under /api/v1: report, list, read, follow up."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from backend.api.inputs import parse_model
from backend.api.jsonio import JSON
from backend.api.listing import (
    Q_CURSOR,
    Q_LIMIT,
    Q_SINCE,
    enum_param,
    page_of,
    reject_unknown_params,
    run_page,
    since_param,
    uuid_param,
)
from backend.api.routing import Context, QueryParam, Router
from backend.auth.permissions import Action, require
from backend.errors import NotFound
from backend.incidents import queries, service, views
from backend.incidents.models import Incident, IncidentKind, IncidentStatus
from backend.incidents.schemas import FollowUpIn, IncidentCreate, IncidentPublic, IncidentsPublic

router = Router("incidents")
API = "/api/v1"
SUBJECTS = ("site_id", "miner_id", "organisation_id", "lot_id")


def _enum(name: str, values: type[IncidentKind] | type[IncidentStatus]) -> QueryParam:
    return QueryParam(
        name,
        f"one of {', '.join(v.value for v in values)}",
        {"type": "string", "enum": [v.value for v in values]},
    )


def _out(ctx: Context, rows: list[Incident]) -> list[dict[str, Any]]:
    steps = queries.follow_ups(ctx.session, [r.id for r in rows])
    return [views.incident_public(r, steps.get(r.id, [])) for r in rows]


@router.route(
    "GET",
    API + "/incidents",
    "List incidents (field officers: their districts)",
    response=IncidentsPublic,
    query=(
        _enum("status", IncidentStatus),
        _enum("kind", IncidentKind),
        QueryParam("district", "district code, e.g. SL-E-KO"),
        *(QueryParam(s, f"incidents about one {s.removesuffix('_id')}") for s in SUBJECTS),
        Q_SINCE,
        Q_LIMIT,
        Q_CURSOR,
    ),
    errors=(403, 422),
)
def list_incidents(ctx: Context) -> Response:
    require(ctx.user, "incident", Action.read)
    reject_unknown_params(ctx.request, ("status", "kind", "district", *SUBJECTS, "updated_since"))
    f = queries.Filters(
        status=enum_param(ctx.request, "status", [s.value for s in IncidentStatus]),
        kind=enum_param(ctx.request, "kind", [k.value for k in IncidentKind]),
        district=ctx.query.get("district"),
        site_id=uuid_param(ctx.request, "site_id"),
        miner_id=uuid_param(ctx.request, "miner_id"),
        organisation_id=uuid_param(ctx.request, "organisation_id"),
        lot_id=uuid_param(ctx.request, "lot_id"),
        updated_since=since_param(ctx.request),
    )
    rows, cursor = run_page(
        ctx.session, queries.incidents(ctx.user, f), Incident.id, page_of(ctx.request, ctx.settings)
    )
    return JSON({"items": _out(ctx, rows), "next_cursor": cursor})


@router.route(
    "POST",
    API + "/incidents",
    "Report an incident: a seizure, a licence violation, armed-group presence at a site, or "
    "an inspection finding",
    request=IncidentCreate,
    response=IncidentPublic,
    status=201,
    errors=(403, 409, 422),
)
def report_incident(ctx: Context) -> Response:
    require(ctx.user, "incident", Action.write)
    props = parse_model(IncidentCreate, ctx.body)
    row = service.report_incident(session=ctx.session, principal=ctx.user, props=props)
    return JSON(_out(ctx, [row])[0], status_code=201)


@router.route(
    "GET",
    API + "/incidents/{id}",
    "Read an incident with its follow-up history",
    response=IncidentPublic,
    errors=(403, 404),
)
def get_incident(ctx: Context) -> Response:
    require(ctx.user, "incident", Action.read)
    row = queries.one(ctx.session, ctx.user, ctx.record_id())
    if row is None:
        raise NotFound(f"no incident {ctx.path['id']} in your scope")
    return JSON(_out(ctx, [row])[0])


@router.route(
    "POST",
    API + "/incidents/{id}/follow-ups",
    "Follow an incident up: a note, and `status` closed to close it (or open to reopen)",
    request=FollowUpIn,
    response=IncidentPublic,
    status=201,
    errors=(403, 404, 409, 422),
)
def add_follow_up(ctx: Context) -> Response:
    require(ctx.user, "incident", Action.write)
    props = parse_model(FollowUpIn, ctx.body)
    row = service.follow_up(
        session=ctx.session, principal=ctx.user, incident_id=ctx.record_id(), props=props
    )
    return JSON(_out(ctx, [row])[0], status_code=201)
