"""Custody endpoints under /api/v1: lots, custody events, trace, balances, EPCIS, chain checks."""

from __future__ import annotations

from datetime import datetime

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
from backend.api.params import TIME_OR_DATE_SCHEMA, UUID_SCHEMA, time_param
from backend.api.routing import Context, QueryParam, Router
from backend.auth.permissions import Action, require
from backend.custody import balance, chain, epcis, queries, service, trace, views
from backend.custody.models import CustodyEvent, EventKind, Lot, LotStatus
from backend.custody.schemas import (
    BackwardTrace,
    BalancePublic,
    ChainVerification,
    CustodyEventIn,
    EpcisDocument,
    EventPublic,
    EventsPublic,
    ForwardTrace,
    LotOpenIn,
    LotPublic,
    LotsOpened,
    LotsPublic,
    StockTakeIn,
    StockTakePublic,
    parse_event,
)
from backend.errors import FieldError, NotFound, ValidationFailed

router = Router("custody")
API = "/api/v1"

Q_FROM = QueryParam("from", "period start (RFC 3339 time or date), inclusive", TIME_OR_DATE_SCHEMA)
Q_TO = QueryParam(
    "to", "period end (RFC 3339 time or date), exclusive; default now", TIME_OR_DATE_SCHEMA
)


def _enum(name: str, values: type[LotStatus] | type[EventKind]) -> QueryParam:
    return QueryParam(
        name,
        f"one of {', '.join(v.value for v in values)}",
        {"type": "string", "enum": [v.value for v in values]},
    )


def _time_param(ctx: Context, name: str) -> datetime | None:
    return time_param(ctx.query, name)


def _one_lot(ctx: Context) -> Lot:
    lot = queries.one_lot(ctx.session, ctx.user, ctx.record_id())
    if lot is None:
        raise NotFound(f"no lot {ctx.path['id']} in your scope")
    return lot


def _event_out(ctx: Context, event: CustodyEvent) -> dict[str, object]:
    return views.events_public(ctx.session, [event])[0]


# --- lots ---------------------------------------------------------------------------------------


@router.route(
    "GET",
    API + "/lots",
    "List lots (buyers and exporters: their own; donors: none)",
    cached=True,
    response=LotsPublic,
    query=(
        _enum("status", LotStatus),
        QueryParam("tag", "tag or seal number"),
        QueryParam("holder_organisation_id", "lots held by one organisation", UUID_SCHEMA),
        Q_SINCE,
        Q_LIMIT,
        Q_CURSOR,
    ),
    errors=(403,),
)
def list_lots(ctx: Context) -> Response:
    require(ctx.user, "lot", Action.read)
    reject_unknown_params(ctx.request, ("status", "tag", "holder_organisation_id", "updated_since"))
    f = queries.Filters(
        status=enum_param(ctx.request, "status", [s.value for s in LotStatus]),
        tag=ctx.query.get("tag"),
        holder_organisation_id=uuid_param(ctx.request, "holder_organisation_id"),
        updated_since=since_param(ctx.request),
    )
    rows, cursor = run_page(
        ctx.session, queries.lots(ctx.user, f), Lot.id, page_of(ctx.request, ctx.settings)
    )
    return JSON({"items": [views.lot_public(lot) for lot in rows], "next_cursor": cursor})


@router.route(
    "POST",
    API + "/lots",
    "Open lots: record the produce or purchase event that brings them into being",
    request=LotOpenIn,
    response=LotsOpened,
    status=201,
    errors=(403, 409, 422),
)
def open_lots(ctx: Context) -> Response:
    require(ctx.user, "custody_event", Action.write)
    body = parse_event(LotOpenIn, ctx.body)
    event = service.record_event(
        session=ctx.session, principal=ctx.user, body=body, settings=ctx.settings
    )
    out = _event_out(ctx, event)
    made = queries.lots_by_id(
        ctx.session, [o.lot_id for o in queries.outputs_of(ctx.session, [event.id])[event.id]]
    )
    return JSON(
        {"event": out, "lots": [views.lot_public(lot) for lot in made.values()]}, status_code=201
    )


@router.route("GET", API + "/lots/{id}", "Read a lot", response=LotPublic, errors=(403, 404))
def get_lot(ctx: Context) -> Response:
    require(ctx.user, "lot", Action.read)
    return JSON(views.lot_public(_one_lot(ctx)))


# --- custody events -----------------------------------------------------------------------------


@router.route(
    "POST",
    API + "/custody-events",
    "Record a custody event; `kind` selects its shape (produce, purchase, consolidate, split, "
    "transfer, accept, reweigh, value, seal, export, void)",
    request=CustodyEventIn,
    response=EventPublic,
    status=201,
    errors=(403, 409, 422),
)
def create_event(ctx: Context) -> Response:
    require(ctx.user, "custody_event", Action.write)
    body = parse_event(CustodyEventIn, ctx.body)
    event = service.record_event(
        session=ctx.session, principal=ctx.user, body=body, settings=ctx.settings
    )
    return JSON(_event_out(ctx, event), status_code=201)


@router.route(
    "GET",
    API + "/custody-events",
    "List custody events in your scope",
    response=EventsPublic,
    query=(
        _enum("kind", EventKind),
        QueryParam("lot_id", "events that took in or brought out this lot", UUID_SCHEMA),
        QueryParam("organisation_id", "events this organisation is a party to", UUID_SCHEMA),
        QueryParam("site_id", "produce and purchase events naming this site", UUID_SCHEMA),
        Q_FROM,
        Q_TO,
        Q_SINCE,
        Q_LIMIT,
        Q_CURSOR,
    ),
    errors=(403,),
)
def list_events(ctx: Context) -> Response:
    require(ctx.user, "custody_event", Action.read)
    reject_unknown_params(
        ctx.request, ("kind", "lot_id", "organisation_id", "site_id", "from", "to", "updated_since")
    )
    f = queries.Filters(
        kind=enum_param(ctx.request, "kind", [k.value for k in EventKind]),
        lot_id=uuid_param(ctx.request, "lot_id"),
        organisation_id=uuid_param(ctx.request, "organisation_id"),
        site_id=uuid_param(ctx.request, "site_id"),
        since=_time_param(ctx, "from"),
        until=_time_param(ctx, "to"),
        updated_since=since_param(ctx.request),
    )
    rows, cursor = run_page(
        ctx.session,
        queries.events(ctx.user, f),
        CustodyEvent.id,
        page_of(ctx.request, ctx.settings),
    )
    return JSON({"items": views.events_public(ctx.session, rows), "next_cursor": cursor})


@router.route(
    "GET",
    API + "/custody-events/{id}",
    "Read a custody event",
    response=EventPublic,
    errors=(403, 404),
)
def get_event(ctx: Context) -> Response:
    require(ctx.user, "custody_event", Action.read)
    event = queries.one_event(ctx.session, ctx.user, ctx.record_id())
    if event is None:
        raise NotFound(f"no custody event {ctx.path['id']} in your scope")
    return JSON(_event_out(ctx, event))


# --- trace ----------------------------------------------------------------------------------------


@router.route(
    "GET",
    API + "/lots/{id}/trace",
    "Backward trace: the sites, miners, purchases and production lots behind a lot",
    response=BackwardTrace,
    query=(
        QueryParam(
            "path",
            "true to add every event on the way (large for an export parcel: thousands of steps)",
            {"type": "boolean"},
        ),
    ),
    errors=(403, 404),
)
def backward_trace(ctx: Context) -> Response:
    require(ctx.user, "trace", Action.read)
    reject_unknown_params(ctx.request, ("path",))
    with_path = enum_param(ctx.request, "path", ["true", "false"]) == "true"
    return JSON(trace.backward(ctx.session, ctx.user, ctx.record_id(), with_path=with_path))


@router.route(
    "GET",
    API + "/sites/{id}/forward-trace",
    "Forward trace: every lot and export a site's production reached",
    response=ForwardTrace,
    errors=(403, 404),
)
def site_forward_trace(ctx: Context) -> Response:
    require(ctx.user, "trace", Action.read)
    reject_unknown_params(ctx.request, ())
    return JSON(trace.forward(ctx.session, ctx.user, "site", ctx.record_id()))


@router.route(
    "GET",
    API + "/miners/{id}/forward-trace",
    "Forward trace: every lot and export a miner's production reached",
    response=ForwardTrace,
    errors=(403, 404),
)
def miner_forward_trace(ctx: Context) -> Response:
    require(ctx.user, "trace", Action.read)
    reject_unknown_params(ctx.request, ())
    return JSON(trace.forward(ctx.session, ctx.user, "miner", ctx.record_id()))


# --- mass balance ---------------------------------------------------------------------------------


@router.route(
    "GET",
    API + "/balances",
    "Mass balance of an organisation over a period, with its stock takes reconciled",
    response=BalancePublic,
    query=(
        QueryParam(
            "organisation_id", "the organisation (buyers and exporters: their own)", UUID_SCHEMA
        ),
        Q_FROM,
        Q_TO,
    ),
    errors=(403, 404),
)
def get_balance(ctx: Context) -> Response:
    require(ctx.user, "balance", Action.read)
    reject_unknown_params(ctx.request, ("organisation_id", "from", "to"))
    org = balance.organisation_in_scope(
        ctx.session, ctx.user, uuid_param(ctx.request, "organisation_id")
    )
    since, until = _time_param(ctx, "from"), _time_param(ctx, "to")
    if since is not None and until is not None and until < since:
        raise ValidationFailed(
            "to is before from", errors=[FieldError("/query/to", "to is before from")]
        )
    return JSON(balance.report(ctx.session, org, since, until))


@router.route(
    "POST",
    API + "/stock-takes",
    "Record a physical stock count; balances reconcile it with the books",
    request=StockTakeIn,
    response=StockTakePublic,
    status=201,
    errors=(403, 409, 422),
)
def create_stock_take(ctx: Context) -> Response:
    require(ctx.user, "stock_take", Action.write)
    props = parse_model(StockTakeIn, ctx.body)
    row = service.record_stock_take(session=ctx.session, principal=ctx.user, props=props)
    book = balance.book_stock(ctx.session, row.organisation_id, row.counted_at)
    return JSON(views.stock_take_public(row, book), status_code=201)


# --- EPCIS and chain verification ---------------------------------------------------------------


@router.route(
    "GET",
    API + "/lots/{id}/epcis",
    "The lot's custody events as an EPCIS 2.0 JSON-LD document",
    response=EpcisDocument,
    query=(
        QueryParam(
            "scope",
            "lot: events that took in or brought out this lot (default); trace: also every "
            "event upstream of it",
            {"type": "string", "enum": ["lot", "trace"]},
        ),
    ),
    errors=(403, 404),
)
def lot_epcis(ctx: Context) -> Response:
    require(ctx.user, "lot", Action.read)
    reject_unknown_params(ctx.request, ("scope",))
    scope = enum_param(ctx.request, "scope", ["lot", "trace"]) or "lot"
    lot = _one_lot(ctx)
    events = trace.lot_events(ctx.session, ctx.user, lot.id, upstream=scope == "trace")
    return JSON(epcis.document(ctx.session, events, lot))


@router.route(
    "GET",
    API + "/custody/chains/{id}/verify",
    "Recompute a holder's hash chain (organisation, or miner for production) and report breaks",
    response=ChainVerification,
    errors=(403, 404),
)
def verify_chain(ctx: Context) -> Response:
    require(ctx.user, "custody_chain", Action.read)
    chain_id = ctx.record_id()
    if not queries.chain_visible(ctx.user, chain_id) or not queries.chain_holder_exists(
        ctx.session, chain_id
    ):
        raise NotFound(f"no custody chain {chain_id} in your scope")
    count, breaks = chain.verify(ctx.session, chain_id)
    return JSON(
        {
            "chain_id": chain_id,
            "events_checked": count,
            "intact": not breaks,
            "breaks": [
                {"event_id": b.event_id, "chain_seq": b.seq, "problem": b.problem} for b in breaks
            ],
        }
    )
