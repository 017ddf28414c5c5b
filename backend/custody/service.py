"""Custody use cases: record an event (checked, flagged, chained, audited) and a stock take.

A refusal raises before anything is written, or rolls back everything the use case wrote, so
nothing changes; each use case commits once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from backend import changes
from backend.audit.service import record as audit
from backend.audit.service import snapshot
from backend.auth.models import Role
from backend.auth.permissions import Action, require
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.controls.licences import LicenceFacts, best_licence, licence_problem, local_date
from backend.controls.points import point_distance_m, point_problem
from backend.custody import (
    queries,
    syncable,  # noqa: F401  (registers lots and events with changes)
    views,
)
from backend.custody.chain import compute_hash
from backend.custody.errors import ChainMoved, LicenceInvalid, LotTaken, LotUnavailable
from backend.custody.models import (
    CustodyEvent,
    EventInput,
    EventKind,
    EventOutput,
    Lot,
    LotOrigin,
    LotStatus,
    StockTake,
)
from backend.custody.rules import (
    CONSUMES,
    INPUT_STATUSES,
    KIND_ROLES,
    MARKS,
    TRANSFORMS,
    OriginKey,
    attribute,
    carats,
    check_mass_balance,
    check_size_classes,
    check_stock,
    check_stones,
    flag,
    pool,
)
from backend.custody.schemas import (
    AcceptIn,
    AnyEventIn,
    ConsolidateIn,
    ExportIn,
    LotOut,
    ProduceIn,
    PurchaseIn,
    ReweighIn,
    SealIn,
    SplitIn,
    StockTakeIn,
    TransferIn,
    ValueIn,
    VoidIn,
)
from backend.errors import (
    Duplicate,
    FieldError,
    Forbidden,
    ValidationFailed,
    field_error,
)
from backend.ids import uuid7
from backend.registry import queries as registry_queries
from backend.registry.models import (
    LicenceKind,
    Miner,
    MinerStatus,
    Organisation,
    OrganisationKind,
    Site,
    SiteStatus,
)
from backend.settings import Settings
from backend.spatial import from_db, to_db
from backend.usecase import use_case

CLOCK_SKEW = timedelta(minutes=5)
MONEY = Decimal("0.01")


@dataclass
class Draft:
    """An event being assembled: what it takes in, brings out, and says."""

    kind: EventKind
    chain_id: uuid.UUID
    country_code: str
    inputs: list[tuple[Lot, str]] = field(default_factory=list)  # lot, JSON pointer
    outputs: list[tuple[LotOut, str]] = field(default_factory=list)
    holder_organisation_id: uuid.UUID | None = None
    holder_miner_id: uuid.UUID | None = None
    values: dict[str, Any] = field(default_factory=dict)
    flags: list[dict[str, str]] = field(default_factory=list)
    location: Point | None = None
    lot_values: dict[str, Any] = field(default_factory=dict)  # value, seal: fields set on input
    origins: dict[OriginKey, Decimal] | None = None  # pooled origins, when not from inputs
    party_name: str = ""  # the acting organisation, for refusals


# --- the acting party -------------------------------------------------------------------------


def _acting_organisation(
    session: Session, principal: Principal, body: AnyEventIn
) -> tuple[Organisation, list[LicenceFacts]]:
    """Buyers and exporters act for their own organisation; an admin names the one it acts for.

    Its licences come with it, read in the same statement."""
    if principal.is_organisation_scoped:
        if body.organisation_id is not None and body.organisation_id != principal.organisation_id:
            raise Forbidden(
                "you act for your own organisation only",
                errors=[FieldError("/organisation_id", "not your organisation")],
            )
        org_id = principal.organisation_id
    elif principal.role is Role.admin:
        if body.organisation_id is None:
            raise field_error("/organisation_id", "name the organisation you record this for")
        org_id = body.organisation_id
    else:
        raise Forbidden(f"the {principal.role.value} role does not act for an organisation")
    found = None if org_id is None else queries.organisation_with_licences(session, org_id)
    if found is None:
        raise field_error("/organisation_id", f"no organisation {org_id}")
    return found


def _trade_licence_kind(org: Organisation) -> LicenceKind:
    return LicenceKind.exporter if org.kind == OrganisationKind.exporter else LicenceKind.buyer


def _valid_trade_licence(
    session: Session,
    org: Organisation,
    day: date,
    pointer: str,
    who: str,
    licences: list[LicenceFacts] | None = None,
) -> uuid.UUID:
    """The organisation's buyer/exporter licence valid on `day`, or a refusal naming `pointer`.

    `licences` are the organisation's licences if already read; otherwise they are read here."""
    kind = _trade_licence_kind(org)
    if licences is None:
        licences = queries.organisation_licences(session, org.id)
    lic = best_licence(licences, kind, day)
    problem = licence_problem(lic, kind, day)
    if problem is not None or lic is None:
        detail = f"{who} {org.name} {problem} on {day}"
        raise LicenceInvalid(detail, errors=[FieldError(pointer, detail)])
    return lic.id


# --- inputs -------------------------------------------------------------------------------------


def _inputs(
    session: Session,
    kind: EventKind,
    wanted: list[tuple[uuid.UUID, str]],
    *,
    holder_organisation_id: uuid.UUID | None = None,
    holder_miner_id: uuid.UUID | None = None,
    holder_label: str,
) -> list[tuple[Lot, str]]:
    """The input lots, each active (or as the kind needs) and held by the acting party."""
    found = queries.lots_by_id(session, [lot_id for lot_id, _ in wanted])
    taken: list[tuple[Lot, str]] = []
    seen: set[uuid.UUID] = set()
    for lot_id, pointer in wanted:
        if lot_id in seen:
            raise field_error(pointer, f"lot {lot_id} is listed twice")
        seen.add(lot_id)
        lot = found.get(lot_id)
        held = lot is not None and (
            (
                holder_organisation_id is not None
                and lot.holder_organisation_id == holder_organisation_id
            )
            or (holder_miner_id is not None and lot.holder_miner_id == holder_miner_id)
        )
        if lot is None or not held:
            raise field_error(pointer, f"no lot {lot_id} held by {holder_label}")
        status = LotStatus(lot.status)
        if status not in INPUT_STATUSES[kind]:
            if kind is EventKind.export and status is LotStatus.active:
                raise field_error(pointer, f"lot {lot.tag} must be sealed before export")
            raise LotUnavailable(
                f"lot {lot.tag} ({lot_id}) is {status.value}; a {kind.value} event cannot use it",
                errors=[FieldError(pointer, f"the lot is {status.value}")],
            )
        taken.append((lot, pointer))
    return taken


def _site(session: Session, principal: Principal, site_id: uuid.UUID) -> Site:
    site = session.get(Site, site_id)
    if site is None or not principal.may_see_district(site.district_code):
        raise field_error("/site_id", f"no site {site_id} in your scope")
    return site


def _miner(session: Session, miner_id: uuid.UUID) -> Miner:
    miner = session.get(Miner, miner_id)
    if miner is None:
        raise field_error("/miner_id", f"no miner {miner_id}")
    return miner


def _site_and_miner(
    session: Session, principal: Principal, site_id: uuid.UUID, miner_id: uuid.UUID
) -> tuple[Site, Miner, list[LicenceFacts]]:
    """The site (in the principal's scope), the miner and the miner's licences: one statement
    when all is well; a refusal naming the field otherwise."""
    found = queries.site_miner_licences(session, site_id, miner_id)
    if found is not None and principal.may_see_district(found[0].district_code):
        return found
    site = _site(session, principal, site_id)
    miner = _miner(session, miner_id)
    return site, miner, queries.miner_licences(session, miner.id)


def _country_of_district(session: Session, code: str) -> str:
    district = registry_queries.jurisdiction_by_code(session, code)
    return district.country_code if district is not None else code[:2]


def _origin_flags(
    site: Site, miner: Miner, licences: list[LicenceFacts], day: date
) -> tuple[Any, list[Any]]:
    """Suspicious but possible facts about where and by whom: recorded and flagged."""
    flags = []
    if site.licence_id is None:
        flags.append(flag("site_unlicensed", f"site {site.name} has no mining licence"))
    if site.status != SiteStatus.active:
        flags.append(flag("site_not_active", f"site {site.name} is {site.status}"))
    if miner.status != MinerStatus.active:
        flags.append(flag("miner_not_active", f"miner {miner.full_name} is {miner.status}"))
    lic = best_licence(
        licences,
        LicenceKind.artisanal_mining,
        day,
        prefer=site.licence_id,
    )
    problem = licence_problem(lic, LicenceKind.artisanal_mining, day)
    if problem is not None:
        flags.append(flag("miner_licence_invalid", f"miner {miner.full_name} {problem}"))
    return (None if lic is None else lic.id), flags


# --- per kind -----------------------------------------------------------------------------------


def _draft_produce(session: Session, principal: Principal, body: ProduceIn, day: date) -> Draft:
    site, miner, licences = _site_and_miner(session, principal, body.site_id, body.miner_id)
    licence_id, flags = _origin_flags(site, miner, licences, day)
    return Draft(
        kind=EventKind.produce,
        chain_id=miner.id,
        country_code=_country_of_district(session, site.district_code),
        outputs=[(o, f"/outputs/{i}") for i, o in enumerate(body.outputs)],
        holder_miner_id=miner.id,
        values={
            "site_id": site.id,
            "miner_id": miner.id,
            "miner_licence_id": licence_id,
            "district_code": site.district_code,
        },
        flags=flags,
    )


def _draft_purchase(
    session: Session,
    principal: Principal,
    body: PurchaseIn,
    org: Organisation,
    day: date,
    settings: Settings,
) -> Draft:
    if org.kind != OrganisationKind.buying_office:
        raise field_error("/organisation_id", f"{org.name} is not a buying office")
    site, miner, licences = _site_and_miner(session, principal, body.site_id, body.miner_id)
    licence_id, flags = _origin_flags(site, miner, licences, day)
    point = Point(*body.location.coordinates)
    site_shape = from_db(site.geometry)
    assert site_shape is not None
    distance = point_distance_m(point, site_shape)
    off_site = point_problem(distance, site.name, settings.purchase_point_tolerance_m)
    if off_site is not None:
        flags.append(flag("purchase_point_outside_site", off_site))
    inputs: list[tuple[Lot, str]] = []
    origins: dict[OriginKey, Decimal] | None = None
    if body.production_lot_id is not None:
        inputs = _inputs(
            session,
            EventKind.purchase,
            [(body.production_lot_id, "/production_lot_id")],
            holder_miner_id=miner.id,
            holder_label=f"miner {miner.full_name}",
        )
    else:
        # keyed to this purchase once its id is known (see _origins_for_outputs)
        origins = {(site.id, miner.id, None, None): carats(body.output.carats)}
    return Draft(
        kind=EventKind.purchase,
        chain_id=org.id,
        country_code=org.country_code,
        inputs=inputs,
        outputs=[(body.output, "/output")],
        holder_organisation_id=org.id,
        values={
            "organisation_id": org.id,
            "site_id": site.id,
            "miner_id": miner.id,
            "miner_licence_id": licence_id,
            "district_code": site.district_code,
            "price": body.price.quantize(MONEY),
            "currency": body.currency,
            "usd_value": body.usd_value.quantize(MONEY),
            "receipt_number": body.receipt_number,
            "distance_to_site_m": Decimal(str(round(distance, 1))),
        },
        flags=flags,
        location=point,
        origins=origins,
        party_name=org.name,
    )


def _draft_org_transform(
    session: Session,
    body: ConsolidateIn | SplitIn | ReweighIn | TransferIn | VoidIn,
    org: Organisation,
) -> Draft:
    kind = EventKind(body.kind)
    if isinstance(body, ConsolidateIn):
        wanted = [(lot_id, f"/inputs/{i}") for i, lot_id in enumerate(body.inputs)]
    else:
        wanted = [(body.lot_id, "/lot_id")]
    outputs: list[tuple[LotOut, str]] = []
    if isinstance(body, SplitIn):
        outputs = [(o, f"/outputs/{i}") for i, o in enumerate(body.outputs)]
    elif isinstance(body, ConsolidateIn | ReweighIn):
        outputs = [(body.output, "/output")]
    draft = Draft(
        kind=kind,
        chain_id=org.id,
        country_code=org.country_code,
        inputs=_inputs(session, kind, wanted, holder_organisation_id=org.id, holder_label=org.name),
        outputs=outputs,
        holder_organisation_id=org.id,
        values={"organisation_id": org.id},
    )
    if isinstance(body, ConsolidateIn | SplitIn | ReweighIn):
        draft.values["breakage_declared"] = body.breakage_declared
    return draft


def _draft_transfer(session: Session, body: TransferIn, org: Organisation, day: date) -> Draft:
    receiver = session.get(Organisation, body.to_organisation_id)
    if receiver is None or receiver.kind != OrganisationKind.exporter:
        raise field_error("/to_organisation_id", "custody passes to an exporting organisation")
    if receiver.id == org.id:
        raise field_error("/to_organisation_id", "a transfer goes to another organisation")
    licence_id = _valid_trade_licence(session, receiver, day, "/to_organisation_id", "receiver")
    draft = _draft_org_transform(session, body, org)
    draft.values["counterparty_organisation_id"] = receiver.id
    draft.values["counterparty_licence_id"] = licence_id
    return draft


def _draft_accept(session: Session, body: AcceptIn, org: Organisation, day: date) -> Draft:
    transfer = session.get(CustodyEvent, body.transfer_event_id)
    if (
        transfer is None
        or transfer.kind != EventKind.transfer
        or transfer.counterparty_organisation_id != org.id
    ):
        raise field_error(
            "/transfer_event_id", f"no transfer {body.transfer_event_id} addressed to {org.name}"
        )
    accepted = session.scalars(
        select(col(CustodyEvent.id)).where(col(CustodyEvent.accepts_event_id) == transfer.id)
    ).first()
    if accepted is not None:
        raise LotUnavailable(
            f"transfer {transfer.id} was already accepted by event {accepted}",
            errors=[FieldError("/transfer_event_id", "already accepted")],
        )
    if body.occurred_at < transfer.occurred_at:
        raise field_error("/occurred_at", "a transfer is accepted after it was dispatched")
    sender = session.get(Organisation, transfer.organisation_id)
    assert sender is not None
    lot_ids = [i.lot_id for i in queries.inputs_of(session, [transfer.id])[transfer.id]]
    inputs = _inputs(
        session,
        EventKind.accept,
        [(lot_id, "/transfer_event_id") for lot_id in lot_ids],
        holder_organisation_id=sender.id,
        holder_label=sender.name,
    )
    return Draft(
        kind=EventKind.accept,
        chain_id=org.id,
        country_code=org.country_code,
        inputs=inputs,
        outputs=[(body.output, "/output")],
        holder_organisation_id=org.id,
        values={
            "organisation_id": org.id,
            "counterparty_organisation_id": sender.id,
            "counterparty_licence_id": transfer.organisation_licence_id,
            "accepts_event_id": transfer.id,
            "breakage_declared": body.breakage_declared,
        },
    )


def _holder_of(
    session: Session, principal: Principal, body: AnyEventIn, lot_id: uuid.UUID
) -> Organisation:
    """For the export office's events: the organisation holding the lot is the party."""
    lot = session.get(Lot, lot_id)
    org = (
        None
        if lot is None or lot.holder_organisation_id is None
        else session.get(Organisation, lot.holder_organisation_id)
    )
    if org is None:
        raise field_error("/lot_id", f"no lot {lot_id} held by an organisation")
    if body.organisation_id is not None and body.organisation_id != org.id:
        raise field_error("/organisation_id", f"the lot is held by {org.name}")
    return org


def _draft_export_office(
    session: Session, body: ValueIn | SealIn | ExportIn, org: Organisation
) -> Draft:
    kind = EventKind(body.kind)
    if org.kind != OrganisationKind.exporter:
        raise field_error("/lot_id", f"the lot is held by {org.name}, not by an exporter")
    draft = Draft(
        kind=kind,
        chain_id=org.id,
        country_code=org.country_code,
        inputs=_inputs(
            session,
            kind,
            [(body.lot_id, "/lot_id")],
            holder_organisation_id=org.id,
            holder_label=org.name,
        ),
        values={"organisation_id": org.id},
    )
    if isinstance(body, ValueIn):
        draft.values["usd_value"] = body.usd_value.quantize(MONEY)
        draft.lot_values["usd_value"] = body.usd_value.quantize(MONEY)
    if isinstance(body, SealIn):
        draft.values["container_id"] = body.container_id
        draft.lot_values["container_id"] = body.container_id
    return draft


def _draft(
    session: Session, principal: Principal, body: AnyEventIn, day: date, settings: Settings
) -> Draft:
    if isinstance(body, ProduceIn):
        return _draft_produce(session, principal, body, day)
    export_office_kinds = (ValueIn, SealIn, ExportIn)
    by_export_office = isinstance(body, export_office_kinds) or (
        isinstance(body, ReweighIn) and principal.role is Role.export_office
    )
    if by_export_office:
        assert isinstance(body, ValueIn | SealIn | ExportIn | ReweighIn)
        org, org_licences = _holder_of(session, principal, body, body.lot_id), None
    else:
        org, org_licences = _acting_organisation(session, principal, body)
    licence_id = _valid_trade_licence(
        session, org, day, "/organisation_id", "the holder", org_licences
    )
    if isinstance(body, PurchaseIn):
        draft = _draft_purchase(session, principal, body, org, day, settings)
    elif isinstance(body, TransferIn):
        draft = _draft_transfer(session, body, org, day)
    elif isinstance(body, AcceptIn):
        draft = _draft_accept(session, body, org, day)
    elif isinstance(body, ValueIn | SealIn | ExportIn):
        draft = _draft_export_office(session, body, org)
    else:
        draft = _draft_org_transform(session, body, org)
    draft.values["organisation_licence_id"] = licence_id
    return draft


# --- checks common to every kind -----------------------------------------------------------------


def _check_balance(draft: Draft, body: AnyEventIn) -> None:
    errors: list[FieldError] = []
    for out, pointer in draft.outputs:
        problem = check_size_classes(out.size_classes, out.stone_count)
        if problem is not None:
            errors.append(FieldError(pointer + "/size_classes", problem))
    transforms = draft.kind in TRANSFORMS and bool(draft.inputs)
    if transforms:
        carats_in = sum((lot.carats for lot, _ in draft.inputs), Decimal(0))
        carats_out = sum((carats(o.carats) for o, _ in draft.outputs), Decimal(0))
        stones_in = sum(lot.stone_count for lot, _ in draft.inputs)
        stones_out = sum(o.stone_count for o, _ in draft.outputs)
        pointer = "/outputs" if len(draft.outputs) > 1 else "/output"
        errors += check_mass_balance(carats_in, carats_out, body.reason, pointer=pointer)
        errors += [
            FieldError(pointer if e.pointer == "/outputs" else e.pointer, e.detail)
            for e in check_stones(
                stones_in, stones_out, bool(draft.values.get("breakage_declared")), body.reason
            )
        ]
    if draft.kind is EventKind.void and not (body.reason and body.reason.strip()):
        errors.append(FieldError("/reason", "a void says why"))
    if errors:
        raise ValidationFailed("; ".join(f"{e.field}: {e.detail}" for e in errors), errors=errors)


def _check_receipt(draft: Draft, state: queries.ChainState) -> None:
    if state.receipt_taken:
        receipt = draft.values["receipt_number"]
        raise Duplicate(
            f"receipt {receipt} is already recorded by {draft.party_name}",
            errors=[FieldError("/receipt_number", "this receipt number is taken")],
        )


def _check_stock(draft: Draft, state: queries.ChainState) -> None:
    if draft.holder_organisation_id is None or state.stock is None:
        return
    org_id = draft.holder_organisation_id
    # Consumed inputs and dispatched ones (transfer) leave the holder's stock; sealed stay.
    leaves = draft.kind in CONSUMES or draft.kind is EventKind.transfer
    taken = sum(
        (lot.carats for lot, _ in draft.inputs if leaves and lot.holder_organisation_id == org_id),
        Decimal(0),
    )
    added = sum((carats(o.carats) for o, _ in draft.outputs), Decimal(0))
    errors = check_stock(state.stock, taken, added)
    if errors:
        raise ValidationFailed(errors[0].detail, errors=errors)


def _check_time(session: Session, draft: Draft, body: AnyEventIn) -> None:
    latest = queries.latest_event_time(session, [lot.id for lot, _ in draft.inputs])
    if latest is not None and body.occurred_at < latest:
        raise field_error(
            "/occurred_at",
            f"occurred_at is before the input lot's last event ({latest.isoformat()})",
        )


def _check_new_ids(session: Session, body: AnyEventIn, draft: Draft) -> None:
    if body.id is not None and session.get(CustodyEvent, body.id) is not None:
        raise Duplicate(
            f"a custody event with id {body.id} exists",
            errors=[FieldError("/id", "this id is taken")],
        )
    wanted = [(o.id, pointer + "/id") for o, pointer in draft.outputs if o.id is not None]
    taken = queries.lots_by_id(session, [i for i, _ in wanted])
    for lot_id, pointer in wanted:
        if lot_id in taken:
            raise Duplicate(
                f"a lot with id {lot_id} exists", errors=[FieldError(pointer, "this id is taken")]
            )
    if len({i for i, _ in wanted}) != len(wanted):
        raise field_error("/outputs", "two outputs share an id")


def _check_correction(session: Session, principal: Principal, body: AnyEventIn) -> None:
    if body.corrects_event_id is None:
        return
    if queries.one_event(session, principal, body.corrects_event_id) is None:
        raise field_error(
            "/corrects_event_id", f"no custody event {body.corrects_event_id} in your scope"
        )
    if not (body.reason and body.reason.strip()):
        raise field_error("/reason", "a correction says why")


# --- writing ------------------------------------------------------------------------------------


def _origins_for_outputs(
    session: Session, draft: Draft, event_id: uuid.UUID, lots: list[Lot]
) -> list[LotOrigin]:
    if draft.kind is EventKind.produce:
        return [
            LotOrigin(
                lot_id=lot.id,
                site_id=draft.values["site_id"],
                miner_id=draft.values["miner_id"],
                production_lot_id=lot.id,
                carats_share=lot.carats,
            )
            for lot in lots
        ]
    pooled = draft.origins
    if pooled is not None and draft.kind is EventKind.purchase:
        pooled = {(s, m, event_id, p): share for (s, m, _, p), share in pooled.items()}
    if pooled is None:
        rows = queries.origins_of(session, [lot.id for lot, _ in draft.inputs])
        if draft.kind is EventKind.purchase:
            pooled = pool(
                ((r.site_id, r.miner_id, event_id, r.production_lot_id), r.carats_share)
                for r in rows
            )
        else:
            pooled = pool(
                ((r.site_id, r.miner_id, r.purchase_event_id, r.production_lot_id), r.carats_share)
                for r in rows
            )
    made: list[LotOrigin] = []
    for lot in lots:
        for (site_id, miner_id, purchase_id, production_id), share in attribute(
            pooled, lot.carats
        ).items():
            made.append(
                LotOrigin(
                    lot_id=lot.id,
                    site_id=site_id,
                    miner_id=miner_id,
                    purchase_event_id=purchase_id,
                    production_lot_id=production_id,
                    carats_share=share,
                )
            )
    return made


def _conflict(err: IntegrityError) -> Exception:
    """What a unique constraint that fired under concurrency means to the client."""
    text = str(err.orig)
    if "chain_seq" in text:
        return ChainMoved(
            "another event was added to this custody chain at the same moment; send it again"
        )
    if "consumed_once" in text or "event_input" in text:
        return LotTaken("an input lot was used by another event meanwhile")
    if "receipt" in text:
        return Duplicate(
            "this receipt number is already recorded",
            errors=[FieldError("/receipt_number", "this receipt number is taken")],
        )
    if "accepts_event_id" in text:
        return LotTaken("the transfer was accepted by another event meanwhile")
    return Duplicate(f"the event conflicts with an existing record: {err.orig}")


def _commit(session: Session) -> None:
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise _conflict(err) from err


@use_case
def record_event(
    *,
    session: Session,
    principal: Principal,
    body: AnyEventIn,
    settings: Settings | None = None,
) -> CustodyEvent:
    """Check, flag, chain and store one custody event with its inputs, outputs and origins.

    Licences are judged on the event's date in `settings.country_timezone`; without settings,
    the defaults (`Settings()`) apply.
    """
    settings = settings or Settings()
    kind = EventKind(body.kind)
    require(principal, "custody_event", Action.write)
    if principal.role not in KIND_ROLES[kind]:
        raise Forbidden(
            f"the {principal.role.value} role may not record {kind.value} events",
            errors=[FieldError("/kind", f"not open to {principal.role.value}")],
        )
    now = utcnow()
    if body.occurred_at > now + CLOCK_SKEW:
        raise field_error("/occurred_at", "an event cannot be in the future")
    day = local_date(body.occurred_at, settings.country_timezone)
    _check_correction(session, principal, body)
    draft = _draft(session, principal, body, day, settings)
    # The chain's head is read before the inputs are claimed: a concurrent event that joins
    # the chain meanwhile makes the insert fail on (chain_id, chain_seq): a 409 to resend.
    state = queries.chain_state(
        session,
        draft.chain_id,
        stock_of_organisation=draft.holder_organisation_id,
        receipt_number=draft.values.get("receipt_number") if kind is EventKind.purchase else None,
    )
    _check_receipt(draft, state)
    _check_new_ids(session, body, draft)
    _check_balance(draft, body)
    _check_time(session, draft, body)
    _check_stock(draft, state)

    # Claim the inputs first: a concurrent event that took one of them makes this a 409.
    new_status = CONSUMES.get(kind) or MARKS.get(kind)
    for lot, pointer in draft.inputs:
        before = {"status": lot.status, "version": lot.version}
        if new_status is not None:
            won = queries.claim_lot(session, lot.id, lot.version, lot.status, new_status)
        else:
            won = queries.set_lot_fields(session, lot.id, lot.version, **draft.lot_values)
        if won and new_status is not None and draft.lot_values:
            won = queries.set_lot_fields(session, lot.id, lot.version + 1, **draft.lot_values)
        if not won:
            raise LotTaken(
                f"lot {lot.tag} ({lot.id}) was changed by another event meanwhile; read it again",
                errors=[FieldError(pointer, "taken by a concurrent event")],
            )
        audit(
            session=session,
            principal=principal,
            action=kind.value,
            entity_type="lot",
            entity_id=lot.id,
            before=before,
            after={"status": new_status or lot.status, **draft.lot_values},
        )

    head = state.head
    event = CustodyEvent(
        id=body.id or uuid7(),
        kind=kind,
        occurred_at=body.occurred_at,
        device_time=body.device_time,
        created_at=now,
        updated_at=now,
        recorded_by=principal.user_id,
        device_id=principal.device_id,
        country_code=draft.country_code,
        chain_id=draft.chain_id,
        chain_seq=1 if head is None else head[0] + 1,
        prev_hash=None if head is None else head[1],
        place=body.place,
        reason=body.reason,
        corrects_event_id=body.corrects_event_id,
        flags=draft.flags,
        hash="",
        **draft.values,
    )
    location = draft.location
    if location is None and body.location is not None:
        location = Point(*body.location.coordinates)
    if location is not None:
        event.location = to_db(location)

    lots: list[Lot] = []
    outputs: list[EventOutput] = []
    for out, _pointer in draft.outputs:
        lot = Lot(
            tag=out.tag,
            carats=carats(out.carats),
            stone_count=out.stone_count,
            size_classes=out.size_classes,
            holder_organisation_id=draft.holder_organisation_id,
            holder_miner_id=draft.holder_miner_id,
            status=LotStatus.active,
            country_code=draft.country_code,
            created_by_event_id=event.id,
        )
        if out.id is not None:
            lot.id = out.id
        lots.append(lot)
        outputs.append(
            EventOutput(
                event_id=event.id, lot_id=lot.id, carats=lot.carats, stone_count=lot.stone_count
            )
        )
    consumed = kind in CONSUMES
    inputs = [
        EventInput(
            event_id=event.id,
            lot_id=lot.id,
            carats=lot.carats,
            stone_count=lot.stone_count,
            consumed=consumed,
        )
        for lot, _ in draft.inputs
    ]
    event.hash = compute_hash(
        event,
        inputs,
        outputs,
        {lot.id: lot for lot in lots},
        None if location is None else (float(location.x), float(location.y)),
    )
    session.add(event)
    try:
        session.flush()
    except IntegrityError as err:
        session.rollback()
        raise _conflict(err) from err
    session.add_all(lots)
    session.flush()
    session.add_all(outputs)
    session.add_all(inputs)
    session.add_all(_origins_for_outputs(session, draft, event.id, lots))
    audit(
        session=session,
        principal=principal,
        action="create",
        entity_type="custody_event",
        entity_id=event.id,
        before=None,
        after=snapshot(event)
        | {
            "inputs": [str(i.lot_id) for i in inputs],
            "outputs": [str(o.lot_id) for o in outputs],
        },
        reason=body.reason,
    )
    session.flush()
    # Devices of the parties see the event and every lot it touched (moved holder: an exit).
    # The event and its new lots were never published; the inputs were, and were written by
    # compare-and-set statements, so their rows are read again first.
    changes.created(session, [event, *lots])
    views.remember_lines(session, event, inputs, outputs)
    for lot, _ in draft.inputs:
        session.refresh(lot)
        changes.changed(session, lot)
    _commit(session)
    return event


# --- stock takes --------------------------------------------------------------------------------


@use_case
def record_stock_take(*, session: Session, principal: Principal, props: StockTakeIn) -> StockTake:
    require(principal, "stock_take", Action.write)
    if principal.is_organisation_scoped:
        if props.organisation_id is not None and props.organisation_id != principal.organisation_id:
            raise Forbidden(
                "you count your own organisation's stock only",
                errors=[FieldError("/organisation_id", "not your organisation")],
            )
        org_id = principal.organisation_id
    else:
        if props.organisation_id is None:
            raise field_error("/organisation_id", "name the organisation whose stock was counted")
        org_id = props.organisation_id
    if org_id is None or session.get(Organisation, org_id) is None:
        raise field_error("/organisation_id", f"no organisation {org_id}")
    if props.counted_at > utcnow() + CLOCK_SKEW:
        raise field_error("/counted_at", "a count cannot be in the future")
    if props.id is not None and session.get(StockTake, props.id) is not None:
        raise Duplicate(
            f"a stock take with id {props.id} exists",
            errors=[FieldError("/id", "this id is taken")],
        )
    row = StockTake(
        organisation_id=org_id,
        counted_at=props.counted_at,
        counted_carats=carats(props.counted_carats),
        counted_stones=props.counted_stones,
        recorded_by=principal.user_id,
        device_id=principal.device_id,
        notes=props.notes,
    )
    if props.id is not None:
        row.id = props.id
    session.add(row)
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="create",
        entity_type="stock_take",
        entity_id=row.id,
        before=None,
        after=snapshot(row),
    )
    session.commit()
    return row
