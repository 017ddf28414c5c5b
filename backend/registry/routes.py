"""Registry endpoints under /api/v1: thin handlers that parse, call a use case, and present."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlmodel import col
from starlette.responses import Response

from backend.api.inputs import parse_feature_input, parse_model
from backend.api.jsonio import JSON, GeoJSON
from backend.api.listing import (
    Q_CURSOR,
    Q_LIMIT,
    Q_SINCE,
    bbox_param,
    enum_param,
    feature_collection,
    page_of,
    reject_unknown_params,
    run_page,
    since_param,
    uuid_param,
)
from backend.api.params import BBOX_SCHEMA, BOOLEAN_SCHEMA, UUID_SCHEMA, integer_schema
from backend.api.routing import Context, QueryParam, Router
from backend.auth.permissions import PURCHASE_MINER_VIEW, Action, require
from backend.errors import FieldError, NotFound, ValidationFailed
from backend.registry import queries, service, views
from backend.registry.models import (
    Jurisdiction,
    JurisdictionLevel,
    Licence,
    LicenceKind,
    LicenceStatus,
    LicenceStatusChange,
    Miner,
    MinerStatus,
    Organisation,
    OrganisationKind,
    Site,
    SiteStatus,
    SiteVisit,
)
from backend.registry.schemas import (
    GEOMETRY_TYPES,
    JurisdictionCreate,
    JurisdictionProperties,
    JurisdictionUpdate,
    LicenceCreate,
    LicenceHistoryPublic,
    LicenceProperties,
    LicenceStatusChangeIn,
    LicenceUpdate,
    MinerCreate,
    MinerPublic,
    MinersPublic,
    MinerUpdate,
    OrganisationCreate,
    OrganisationPublic,
    OrganisationsPublic,
    OrganisationUpdate,
    SiteCreate,
    SiteProperties,
    SiteUpdate,
    SiteVisitCreate,
    SiteVisitProperties,
    SiteVisitUpdate,
    Tombstone,
)

router = Router("registry")
API = "/api/v1"

Q_BBOX = QueryParam("bbox", "minLon,minLat,maxLon,maxLat (WGS 84)", BBOX_SCHEMA)
Q_DISTRICT = QueryParam("district", "district code, e.g. SL-E-KO")


def _q_enum(name: str, values: type[Any]) -> QueryParam:
    return QueryParam(
        name,
        f"one of {', '.join(v.value for v in values)}",
        {"type": "string", "enum": [v.value for v in values]},
    )


def _values(e: type[Any]) -> list[str]:
    return [v.value for v in e]


def _feature_in(ctx: Context, model: Any, kind: str, *, required: bool) -> Any:
    return parse_feature_input(
        ctx.body,
        model,
        allowed=GEOMETRY_TYPES[kind],
        max_vertices=ctx.settings.max_vertices,
        geometry_required=required,
    )


# --- jurisdictions -----------------------------------------------------------------------------


@router.route(
    "GET",
    API + "/jurisdictions",
    "List jurisdictions (country, regions, districts)",
    response=JurisdictionProperties,
    shape="collection",
    geometry=GEOMETRY_TYPES["jurisdiction"],
    query=(
        _q_enum("level", JurisdictionLevel),
        Q_DISTRICT,
        Q_BBOX,
        Q_SINCE,
        QueryParam("geometry", "false to leave boundaries out", BOOLEAN_SCHEMA),
        Q_LIMIT,
        Q_CURSOR,
    ),
)
def list_jurisdictions(ctx: Context) -> Response:
    require(ctx.user, "jurisdiction", Action.read)
    reject_unknown_params(ctx.request, ("level", "district", "bbox", "updated_since", "geometry"))
    f = queries.Filters(
        level=enum_param(ctx.request, "level", _values(JurisdictionLevel)),
        district=ctx.query.get("district"),
        bbox=bbox_param(ctx.request),
        updated_since=since_param(ctx.request),
    )
    with_geometry = enum_param(ctx.request, "geometry", ["true", "false"]) != "false"
    page = page_of(ctx.request, ctx.settings)
    rows, cursor = run_page(ctx.session, queries.jurisdictions(f), Jurisdiction.id, page)
    return GeoJSON(
        feature_collection(
            ctx.request,
            [views.jurisdiction_feature(j, with_geometry=with_geometry) for j in rows],
            cursor,
        )
    )


@router.route(
    "POST",
    API + "/jurisdictions",
    "Create a jurisdiction (admin, ministry)",
    request=JurisdictionCreate,
    response=JurisdictionProperties,
    status=201,
    shape="feature",
    geometry=GEOMETRY_TYPES["jurisdiction"],
    errors=(403, 409, 422),
)
def create_jurisdiction(ctx: Context) -> Response:
    require(ctx.user, "jurisdiction", Action.write)
    geometry, props = _feature_in(ctx, JurisdictionCreate, "jurisdiction", required=False)
    row = service.create_jurisdiction(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        geometry=geometry,
        props=props,
    )
    return GeoJSON(views.jurisdiction_feature(row), status_code=201)


@router.route(
    "GET",
    API + "/jurisdictions/{code}",
    "Read a jurisdiction by code",
    response=JurisdictionProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["jurisdiction"],
    errors=(404,),
)
def get_jurisdiction(ctx: Context) -> Response:
    require(ctx.user, "jurisdiction", Action.read)
    row = queries.jurisdiction_by_code(ctx.session, ctx.path["code"])
    if row is None:
        raise NotFound(f"no jurisdiction {ctx.path['code']}")
    return GeoJSON(views.jurisdiction_feature(row))


@router.route(
    "PATCH",
    API + "/jurisdictions/{code}",
    "Rename a jurisdiction or replace its boundary",
    request=JurisdictionUpdate,
    response=JurisdictionProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["jurisdiction"],
    errors=(403, 404, 409, 422),
)
def update_jurisdiction(ctx: Context) -> Response:
    require(ctx.user, "jurisdiction", Action.write)
    geometry, props = _feature_in(ctx, JurisdictionUpdate, "jurisdiction", required=False)
    row = service.update_jurisdiction(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        code=ctx.path["code"],
        geometry=geometry,
        props=props,
    )
    return GeoJSON(views.jurisdiction_feature(row))


# --- organisations -----------------------------------------------------------------------------


@router.route(
    "GET",
    API + "/organisations",
    "List buying offices and exporters",
    response=OrganisationsPublic,
    query=(_q_enum("kind", OrganisationKind), Q_DISTRICT, Q_SINCE, Q_LIMIT, Q_CURSOR),
)
def list_organisations(ctx: Context) -> Response:
    require(ctx.user, "organisation", Action.read)
    reject_unknown_params(ctx.request, ("kind", "district", "updated_since"))
    f = queries.Filters(
        kind=enum_param(ctx.request, "kind", _values(OrganisationKind)),
        district=ctx.query.get("district"),
        updated_since=since_param(ctx.request),
    )
    rows, cursor = run_page(
        ctx.session, queries.organisations(f), Organisation.id, page_of(ctx.request, ctx.settings)
    )
    return JSON({"items": [views.organisation_public(o) for o in rows], "next_cursor": cursor})


@router.route(
    "POST",
    API + "/organisations",
    "Register an organisation (admin, ministry)",
    request=OrganisationCreate,
    response=OrganisationPublic,
    status=201,
    errors=(403, 409, 422),
)
def create_organisation(ctx: Context) -> Response:
    props = parse_model(OrganisationCreate, ctx.body)
    row = service.create_organisation(session=ctx.session, principal=ctx.user, props=props)
    return JSON(views.organisation_public(row), status_code=201)


@router.route(
    "GET",
    API + "/organisations/{id}",
    "Read an organisation",
    response=OrganisationPublic,
    errors=(404,),
)
def get_organisation(ctx: Context) -> Response:
    require(ctx.user, "organisation", Action.read)
    row = ctx.session.get(Organisation, ctx.record_id())
    if row is None:
        raise NotFound(f"no organisation {ctx.path['id']}")
    return JSON(views.organisation_public(row))


@router.route(
    "PATCH",
    API + "/organisations/{id}",
    "Update an organisation",
    request=OrganisationUpdate,
    response=OrganisationPublic,
    errors=(403, 404, 409, 422),
)
def update_organisation(ctx: Context) -> Response:
    props = parse_model(OrganisationUpdate, ctx.body)
    row = service.update_organisation(
        session=ctx.session, principal=ctx.user, organisation_id=ctx.record_id(), props=props
    )
    return JSON(views.organisation_public(row))


# --- miners ----------------------------------------------------------------------------------


def _miner_out(ctx: Context, rows: list[Miner]) -> list[dict[str, Any]]:
    numbers = queries.licence_numbers_by_miner(ctx.session, [m.id for m in rows])
    return [views.miner_public(m, numbers[m.id], ctx.user) for m in rows]


@router.route(
    "GET",
    API + "/miners",
    "List miners (buyers see name and licence numbers only; donors nothing)",
    cached=True,
    response=MinersPublic,
    query=(
        QueryParam("licence_number", "the miner holding this licence (how a buyer finds a seller)"),
        Q_DISTRICT,
        _q_enum("status", MinerStatus),
        Q_SINCE,
        Q_LIMIT,
        Q_CURSOR,
    ),
    errors=(403,),
)
def list_miners(ctx: Context) -> Response:
    require(ctx.user, "miner", Action.read)
    if ctx.user.role in PURCHASE_MINER_VIEW:
        # Filtering by district or status would reveal what the reduced view leaves out.
        reject_unknown_params(ctx.request, ("licence_number",))
    else:
        reject_unknown_params(
            ctx.request, ("licence_number", "district", "status", "updated_since")
        )
    f = queries.Filters(
        district=ctx.query.get("district"),
        status=enum_param(ctx.request, "status", _values(MinerStatus)),
        updated_since=since_param(ctx.request),
        licence_number=ctx.query.get("licence_number"),
    )
    rows, cursor = run_page(
        ctx.session, queries.miners(ctx.user, f), Miner.id, page_of(ctx.request, ctx.settings)
    )
    return JSON({"items": _miner_out(ctx, rows), "next_cursor": cursor})


@router.route(
    "POST",
    API + "/miners",
    "Register a miner (field officers in their districts)",
    request=MinerCreate,
    response=MinerPublic,
    status=201,
    errors=(403, 409, 422),
)
def create_miner(ctx: Context) -> Response:
    require(ctx.user, "miner", Action.write)
    props = parse_model(MinerCreate, ctx.body)
    row = service.create_miner(session=ctx.session, principal=ctx.user, props=props)
    return JSON(_miner_out(ctx, [row])[0], status_code=201)


@router.route("GET", API + "/miners/{id}", "Read a miner", response=MinerPublic, errors=(403, 404))
def get_miner(ctx: Context) -> Response:
    require(ctx.user, "miner", Action.read)
    row = queries.one(
        ctx.session, queries.miners(ctx.user, queries.Filters()), Miner, ctx.record_id()
    )
    if row is None:
        raise NotFound(f"no miner {ctx.path['id']} in your scope")
    return JSON(_miner_out(ctx, [row])[0])


@router.route(
    "PATCH",
    API + "/miners/{id}",
    "Update a miner",
    request=MinerUpdate,
    response=MinerPublic,
    errors=(403, 404, 409, 422),
)
def update_miner(ctx: Context) -> Response:
    require(ctx.user, "miner", Action.write)
    props = parse_model(MinerUpdate, ctx.body)
    row = service.update_miner(
        session=ctx.session, principal=ctx.user, miner_id=ctx.record_id(), props=props
    )
    return JSON(_miner_out(ctx, [row])[0])


# --- licences --------------------------------------------------------------------------------


def _licence_features(ctx: Context, rows: list[Licence]) -> list[dict[str, Any]]:
    names = queries.holder_names(ctx.session, rows)
    today = service.today()
    return [views.licence_feature(lic, _holder_name(names, lic), ctx.user, today) for lic in rows]


def _holder_name(names: dict[uuid.UUID, str], lic: Licence) -> str | None:
    holder = lic.holder_miner_id or lic.holder_organisation_id
    return None if holder is None else names.get(holder)


def _one_licence(ctx: Context) -> Licence:
    row = queries.one(
        ctx.session, queries.licences(ctx.user, queries.Filters()), Licence, ctx.record_id()
    )
    if row is None:
        raise NotFound(f"no licence {ctx.path['id']} in your scope")
    return row


@router.route(
    "GET",
    API + "/licences",
    "List licences",
    response=LicenceProperties,
    shape="collection",
    geometry=GEOMETRY_TYPES["licence"],
    query=(
        _q_enum("kind", LicenceKind),
        _q_enum("status", LicenceStatus),
        Q_DISTRICT,
        QueryParam("holder_miner_id", "licences of one miner", UUID_SCHEMA),
        Q_BBOX,
        Q_SINCE,
        Q_LIMIT,
        Q_CURSOR,
    ),
)
def list_licences(ctx: Context) -> Response:
    require(ctx.user, "licence", Action.read)
    reject_unknown_params(
        ctx.request, ("kind", "status", "district", "holder_miner_id", "bbox", "updated_since")
    )
    f = queries.Filters(
        kind=enum_param(ctx.request, "kind", _values(LicenceKind)),
        status=enum_param(ctx.request, "status", _values(LicenceStatus)),
        district=ctx.query.get("district"),
        holder_miner_id=uuid_param(ctx.request, "holder_miner_id"),
        bbox=bbox_param(ctx.request),
        updated_since=since_param(ctx.request),
    )
    rows, cursor = run_page(
        ctx.session, queries.licences(ctx.user, f), Licence.id, page_of(ctx.request, ctx.settings)
    )
    return GeoJSON(feature_collection(ctx.request, _licence_features(ctx, rows), cursor))


@router.route(
    "POST",
    API + "/licences",
    "Issue a licence (admin, ministry); mining licences carry their licensed area",
    request=LicenceCreate,
    response=LicenceProperties,
    status=201,
    shape="feature",
    geometry=GEOMETRY_TYPES["licence"],
    errors=(403, 409, 422),
)
def create_licence(ctx: Context) -> Response:
    require(ctx.user, "licence", Action.write)
    geometry, props = _feature_in(ctx, LicenceCreate, "licence", required=False)
    row = service.create_licence(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        geometry=geometry,
        props=props,
    )
    return GeoJSON(_licence_features(ctx, [row])[0], status_code=201)


@router.route(
    "GET",
    API + "/licences/{id}",
    "Read a licence",
    response=LicenceProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["licence"],
    errors=(404,),
)
def get_licence(ctx: Context) -> Response:
    require(ctx.user, "licence", Action.read)
    return GeoJSON(_licence_features(ctx, [_one_licence(ctx)])[0])


@router.route(
    "PATCH",
    API + "/licences/{id}",
    "Amend a licence (dates, district, fit-and-proper, area)",
    request=LicenceUpdate,
    response=LicenceProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["licence"],
    errors=(403, 404, 409, 422),
)
def update_licence(ctx: Context) -> Response:
    require(ctx.user, "licence", Action.write)
    geometry, props = _feature_in(ctx, LicenceUpdate, "licence", required=False)
    row = service.update_licence(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        licence_id=ctx.record_id(),
        geometry=geometry,
        props=props,
    )
    return GeoJSON(_licence_features(ctx, [row])[0])


@router.route(
    "POST",
    API + "/licences/{id}/status",
    "Suspend, revoke, expire or reinstate a licence, with a reason",
    request=LicenceStatusChangeIn,
    response=LicenceProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["licence"],
    errors=(403, 404, 409, 422),
)
def change_licence_status(ctx: Context) -> Response:
    require(ctx.user, "licence", Action.administer)
    change = parse_model(LicenceStatusChangeIn, ctx.body)
    row = service.change_licence_status(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        licence_id=ctx.record_id(),
        change=change,
    )
    return GeoJSON(_licence_features(ctx, [row])[0])


@router.route(
    "GET",
    API + "/licences/{id}/history",
    "A licence's status changes, oldest first",
    response=LicenceHistoryPublic,
    errors=(404,),
)
def licence_history(ctx: Context) -> Response:
    require(ctx.user, "licence", Action.read)
    lic = _one_licence(ctx)
    rows = ctx.session.scalars(
        select(LicenceStatusChange)
        .where(col(LicenceStatusChange.licence_id) == lic.id)
        .order_by(col(LicenceStatusChange.id))
    )
    return JSON(
        {
            "items": [
                {
                    "id": r.id,
                    "from_status": r.from_status,
                    "to_status": r.to_status,
                    "reason": r.reason,
                    "changed_at": r.changed_at,
                    "changed_by": r.changed_by,
                }
                for r in rows
            ]
        }
    )


# --- sites -----------------------------------------------------------------------------------


@router.route(
    "GET",
    API + "/sites",
    "List mining sites",
    cached=True,
    response=SiteProperties,
    shape="collection",
    geometry=GEOMETRY_TYPES["site"],
    query=(Q_DISTRICT, _q_enum("status", SiteStatus), Q_BBOX, Q_SINCE, Q_LIMIT, Q_CURSOR),
)
def list_sites(ctx: Context) -> Response:
    require(ctx.user, "site", Action.read)
    reject_unknown_params(ctx.request, ("district", "status", "bbox", "updated_since"))
    f = queries.Filters(
        district=ctx.query.get("district"),
        status=enum_param(ctx.request, "status", _values(SiteStatus)),
        bbox=bbox_param(ctx.request),
        updated_since=since_param(ctx.request),
    )
    rows, cursor = run_page(
        ctx.session, queries.sites(ctx.user, f), Site.id, page_of(ctx.request, ctx.settings)
    )
    return GeoJSON(feature_collection(ctx.request, [views.site_feature(s) for s in rows], cursor))


@router.route(
    "POST",
    API + "/sites",
    "Map a site: a Feature whose properties include name and district",
    request=SiteCreate,
    response=SiteProperties,
    status=201,
    shape="feature",
    geometry=GEOMETRY_TYPES["site"],
    errors=(403, 409, 422),
)
def create_site(ctx: Context) -> Response:
    require(ctx.user, "site", Action.write)
    geometry, props = _feature_in(ctx, SiteCreate, "site", required=True)
    row = service.create_site(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        geometry=geometry,
        props=props,
    )
    return GeoJSON(views.site_feature(row), status_code=201)


@router.route(
    "GET",
    API + "/sites/{id}",
    "Read a site",
    response=SiteProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["site"],
    errors=(404,),
)
def get_site(ctx: Context) -> Response:
    require(ctx.user, "site", Action.read)
    row = queries.one(
        ctx.session, queries.sites(ctx.user, queries.Filters()), Site, ctx.record_id()
    )
    if row is None:
        raise NotFound(f"no site {ctx.path['id']} in your scope")
    return GeoJSON(views.site_feature(row))


@router.route(
    "PATCH",
    API + "/sites/{id}",
    "Update a site (a Feature; geometry null or absent keeps the shape)",
    request=SiteUpdate,
    response=SiteProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["site"],
    errors=(403, 404, 409, 422),
)
def update_site(ctx: Context) -> Response:
    require(ctx.user, "site", Action.write)
    geometry, props = _feature_in(ctx, SiteUpdate, "site", required=False)
    row = service.update_site(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        site_id=ctx.record_id(),
        geometry=geometry,
        props=props,
    )
    return GeoJSON(views.site_feature(row))


# --- site visits -----------------------------------------------------------------------------


@router.route(
    "GET",
    API + "/site-visits",
    "List site visits",
    response=SiteVisitProperties,
    shape="collection",
    geometry=GEOMETRY_TYPES["site_visit"],
    query=(
        Q_DISTRICT,
        QueryParam("site_id", "visits of one site", UUID_SCHEMA),
        Q_BBOX,
        Q_SINCE,
        Q_LIMIT,
        Q_CURSOR,
    ),
    errors=(403,),
)
def list_visits(ctx: Context) -> Response:
    require(ctx.user, "site_visit", Action.read)
    reject_unknown_params(ctx.request, ("district", "site_id", "bbox", "updated_since"))
    f = queries.Filters(
        district=ctx.query.get("district"),
        site_id=uuid_param(ctx.request, "site_id"),
        bbox=bbox_param(ctx.request),
        updated_since=since_param(ctx.request),
    )
    rows, cursor = run_page(
        ctx.session, queries.visits(ctx.user, f), SiteVisit.id, page_of(ctx.request, ctx.settings)
    )
    return GeoJSON(
        feature_collection(ctx.request, [views.visit_feature(v, ctx.user) for v in rows], cursor)
    )


@router.route(
    "POST",
    API + "/site-visits",
    "Record a visit: a Point Feature with site_id, visited_at, diggers_counted",
    request=SiteVisitCreate,
    response=SiteVisitProperties,
    status=201,
    shape="feature",
    geometry=GEOMETRY_TYPES["site_visit"],
    errors=(403, 409, 422),
)
def create_visit(ctx: Context) -> Response:
    require(ctx.user, "site_visit", Action.write)
    geometry, props = _feature_in(ctx, SiteVisitCreate, "site_visit", required=True)
    row = service.create_visit(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        geometry=geometry,
        props=props,
    )
    return GeoJSON(views.visit_feature(row, ctx.user), status_code=201)


@router.route(
    "GET",
    API + "/site-visits/{id}",
    "Read a site visit",
    response=SiteVisitProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["site_visit"],
    errors=(403, 404),
)
def get_visit(ctx: Context) -> Response:
    require(ctx.user, "site_visit", Action.read)
    row = queries.one(
        ctx.session, queries.visits(ctx.user, queries.Filters()), SiteVisit, ctx.record_id()
    )
    if row is None:
        raise NotFound(f"no site visit {ctx.path['id']} in your scope")
    return GeoJSON(views.visit_feature(row, ctx.user))


@router.route(
    "PATCH",
    API + "/site-visits/{id}",
    "Correct a site visit",
    request=SiteVisitUpdate,
    response=SiteVisitProperties,
    shape="feature",
    geometry=GEOMETRY_TYPES["site_visit"],
    errors=(403, 404, 409, 422),
)
def update_visit(ctx: Context) -> Response:
    require(ctx.user, "site_visit", Action.write)
    geometry, props = _feature_in(ctx, SiteVisitUpdate, "site_visit", required=False)
    row = service.update_visit(
        session=ctx.session,
        principal=ctx.user,
        settings=ctx.settings,
        visit_id=ctx.record_id(),
        geometry=geometry,
        props=props,
    )
    return GeoJSON(views.visit_feature(row, ctx.user))


# --- tombstones ------------------------------------------------------------------------------

Q_VERSION = QueryParam("version", "the version you read", integer_schema(1), required=True)


def _version_param(ctx: Context) -> int:
    raw = ctx.query.get("version")
    try:
        value = int(raw) if raw is not None else 0
    except ValueError:
        value = 0
    if value < 1:
        raise ValidationFailed(
            "a delete needs ?version= with the version you read",
            errors=[FieldError("/query/version", "required: the version you read")],
        )
    return value


def _tombstone(row: Any) -> Response:
    return JSON(Tombstone(id=row.id, version=row.version, deleted_at=row.deleted_at).model_dump())


def _delete_route(entity: str, path: str, label: str) -> None:
    """DELETE for a resource whose delete is a tombstone (the same use case for each)."""

    def delete(ctx: Context) -> Response:
        require(ctx.user, entity, Action.write)
        row = service.delete_record(
            session=ctx.session,
            principal=ctx.user,
            entity=entity,
            record_id=ctx.record_id(),
            version=_version_param(ctx),
        )
        return _tombstone(row)

    delete.__name__ = f"delete_{entity}"
    router.route(
        "DELETE",
        API + path,
        f"Delete a {label} (a tombstone: the row is kept)",
        response=Tombstone,
        query=(Q_VERSION,),
        errors=(403, 404, 409, 422),
    )(delete)


_delete_route("miner", "/miners/{id}", "miner")
_delete_route("site", "/sites/{id}", "site")
_delete_route("site_visit", "/site-visits/{id}", "site visit")
