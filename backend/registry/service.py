"""Registry use cases: each takes `*, session`, checks role, scope, rules; audits; commits once."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from shapely.geometry.base import BaseGeometry
from sqlalchemy import Select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from backend import changes
from backend.audit.service import record as audit
from backend.audit.service import record_many, snapshot, stored_snapshot
from backend.auth.permissions import Action, require
from backend.auth.principal import Principal
from backend.clock import utcnow
from backend.errors import (
    AppError,
    Duplicate,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
    field_error,
)
from backend.models_base import Record
from backend.records import apply_changes, check_version, update_versioned, write_set
from backend.registry import (
    lookups,
    placement,
    queries,
    syncable,  # noqa: F401  (registers registry records with changes)
)
from backend.registry.models import (
    Jurisdiction,
    Licence,
    LicenceKind,
    LicenceStatus,
    LicenceStatusChange,
    Miner,
    Organisation,
    OrganisationKind,
    Site,
    SiteVisit,
)
from backend.registry.rules import licence_create_errors, transition_error
from backend.registry.schemas import (
    JurisdictionCreate,
    JurisdictionUpdate,
    LicenceCreate,
    LicenceStatusChangeIn,
    LicenceUpdate,
    MinerCreate,
    MinerUpdate,
    OrganisationCreate,
    OrganisationUpdate,
    SiteCreate,
    SiteUpdate,
    SiteVisitCreate,
    SiteVisitUpdate,
)
from backend.settings import Settings
from backend.spatial import as_multipolygon, from_db, to_db
from backend.usecase import use_case
from geodata import measure
from geodata.area import geodesic_area_ha
from offline_sync.server.anyof import any_of
from offline_sync.server.bulkinsert import insert_rows

P = "/properties/"
R = TypeVar("R", bound=Record)


def _commit(session: Session, what: str) -> None:
    try:
        session.commit()
    except IntegrityError as err:
        session.rollback()
        raise Duplicate(f"{what} conflicts with an existing record: {err.orig}") from err


def _ensure_new_id(session: Session, model: Any, record_id: uuid.UUID | None, pointer: str) -> None:
    if record_id is None or record_id in lookups.of(session).new_ids:
        return  # a batch checked these ids in one query
    if session.get(model, record_id) is not None:
        raise Duplicate(
            f"a {model.__tablename__} with id {record_id} exists",
            errors=[FieldError(pointer, "this id is taken")],
        )


def _in_scope_district(principal: Principal, code: str, pointer: str) -> None:
    if not principal.may_see_district(code):
        yours = ", ".join(sorted(principal.districts)) or "none"
        raise Forbidden(
            f"district {code} is outside your districts ({yours})",
            errors=[FieldError(pointer, "outside your districts")],
        )


def _audit_update(
    session: Session,
    principal: Principal,
    entity: str,
    row: Any,
    before: dict[str, Any],
    reason: str | None = None,
) -> None:
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="delete" if getattr(row, "deleted_at", None) else "update",
        entity_type=entity,
        entity_id=row.id,
        before=before,
        after=snapshot(row),
        reason=reason,
    )
    changes.changed(session, row)


def _audit_create(
    session: Session, principal: Principal, entity: str, row: Any, reason: str | None = None
) -> None:
    session.flush()
    audit(
        session=session,
        principal=principal,
        action="create",
        entity_type=entity,
        entity_id=row.id,
        before=None,
        after=snapshot(row),
        reason=reason,
    )
    changes.changed(session, row)


def _insert(
    session: Session,
    principal: Principal,
    entity: str,
    row: R,
    given_id: uuid.UUID | None,
    what: str,
) -> R:
    """Add a new row (keeping a device-made id), audit it and commit."""
    if given_id is not None:
        row.id = given_id
    session.add(row)
    _audit_create(session, principal, entity, row)
    _commit(session, what)
    return row


def _claim(session: Session, row: Any, base_version: int) -> None:
    """Compare-and-set the version before changing anything: a concurrent writer gets 409."""
    check_version(row, base_version)
    new_version = update_versioned(
        session=session, model=type(row), record_id=row.id, base_version=base_version, values={}
    )
    row.version = new_version
    row.updated_at = utcnow()


# --- jurisdictions -------------------------------------------------------------------------------


@use_case
def create_jurisdiction(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    geometry: BaseGeometry | None,
    props: JurisdictionCreate,
) -> Jurisdiction:
    require(principal, "jurisdiction", Action.write)
    if (
        props.parent_code is not None
        and queries.jurisdiction_by_code(session, props.parent_code) is None
    ):
        raise field_error(P + "parent_code", f"{props.parent_code} is not a known jurisdiction")
    if queries.jurisdiction_by_code(session, props.code) is not None:
        raise Duplicate(
            f"jurisdiction {props.code} exists",
            errors=[FieldError(P + "code", "this code is taken")],
        )
    row = Jurisdiction(
        code=props.code,
        name=props.name,
        level=props.level,
        country_code=props.country_code,
        parent_code=props.parent_code,
        boundary=None if geometry is None else to_db(as_multipolygon(geometry)),
    )
    session.add(row)
    _audit_create(session, principal, "jurisdiction", row)
    _commit(session, "the jurisdiction")
    return row


@use_case
def update_jurisdiction(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    code: str,
    geometry: BaseGeometry | None,
    props: JurisdictionUpdate,
) -> Jurisdiction:
    require(principal, "jurisdiction", Action.write)
    row = queries.jurisdiction_by_code(session, code)
    if row is None:
        raise NotFound(f"no jurisdiction {code}")
    before = snapshot(row)
    _claim(session, row, props.version)
    if props.name is not None:
        row.name = props.name
    if geometry is not None:
        row.boundary = to_db(as_multipolygon(geometry))
    _audit_update(session, principal, "jurisdiction", row, before)
    _commit(session, "the jurisdiction")
    return row


# --- organisations -------------------------------------------------------------------------------


@use_case
def create_organisation(
    *, session: Session, principal: Principal, props: OrganisationCreate
) -> Organisation:
    require(principal, "organisation", Action.write)
    _ensure_new_id(session, Organisation, props.id, "/id")
    if props.district is not None:
        placement.district_or_422(session, props.district, "/district")
    row = Organisation(
        name=props.name,
        kind=props.kind,
        country_code=props.country_code,
        district_code=props.district,
        registration_number=props.registration_number,
        address=props.address,
    )
    return _insert(session, principal, "organisation", row, props.id, "the organisation")


@use_case
def update_organisation(
    *, session: Session, principal: Principal, organisation_id: uuid.UUID, props: OrganisationUpdate
) -> Organisation:
    require(principal, "organisation", Action.write)
    row = session.get(Organisation, organisation_id)
    if row is None:
        raise NotFound(f"no organisation {organisation_id}")
    before = snapshot(row)
    _claim(session, row, props.version)
    changes = props.model_dump(exclude_unset=True, exclude={"version"})
    if "district" in changes:
        if changes["district"] is not None:
            placement.district_or_422(session, changes["district"], "/district")
        row.district_code = changes.pop("district")
    apply_changes(row, changes)
    _audit_update(session, principal, "organisation", row, before)
    _commit(session, "the organisation")
    return row


# --- miners --------------------------------------------------------------------------------------


@use_case
def create_miner(*, session: Session, principal: Principal, props: MinerCreate) -> Miner:
    row = prepare_miner(session=session, principal=principal, props=props)
    return _insert(session, principal, "miner", row, props.id, "the miner")


def prepare_miner(
    *, session: Session, principal: Principal, props: MinerCreate, unsaved: bool = False
) -> Miner:
    """Every check of a new miner, and the row it would be (not yet added to the session).

    `unsaved`: the row is for `insert_many` (`Record.unsaved`), never for the session."""
    require(principal, "miner", Action.write)
    placement.district_or_422(session, props.district, "/district")
    _in_scope_district(principal, props.district, "/district")
    _ensure_new_id(session, Miner, props.id, "/id")
    row = (Miner.unsaved if unsaved else Miner)(
        full_name=props.full_name,
        national_id=props.national_id,
        phone=props.phone,
        photo_ref=props.photo_ref,
        district_code=props.district,
        status=props.status,
    )
    if props.id is not None:
        row.id = props.id
    return row


@use_case
def update_miner(
    *, session: Session, principal: Principal, miner_id: uuid.UUID, props: MinerUpdate
) -> Miner:
    require(principal, "miner", Action.write)
    row = queries.one(session, queries.miners(principal, queries.Filters()), Miner, miner_id)
    if row is None:
        raise NotFound(f"no miner {miner_id} in your scope")
    before = snapshot(row)
    _claim(session, row, props.version)
    _set_miner_changes(session, principal, row, props)
    _audit_update(session, principal, "miner", row, before)
    _commit(session, "the miner")
    return row


def _set_miner_changes(
    session: Session, principal: Principal, row: Miner, props: MinerUpdate
) -> None:
    """Check a miner's partial update, then set it on the row (nothing is set if refused)."""
    changes = props.model_dump(exclude_unset=True, exclude={"version"})
    if "district" in changes:
        if changes["district"] is None:
            raise field_error("/district", "a miner always has a district")
        placement.district_or_422(session, changes["district"], "/district")
        _in_scope_district(principal, changes["district"], "/district")
        changes["district_code"] = changes.pop("district")
    apply_changes(row, changes)


@dataclass(frozen=True)
class Edit:
    """One partial update of a batch: the record, its checked request, who made it."""

    record_id: uuid.UUID
    props: Any  # the entity's update request, with the `version` it was made from
    author: Principal


def update_miners(*, session: Session, principal: Principal, edits: list[Edit]) -> list[Any]:
    """Many miner updates with the checks of `update_miner`, written together."""
    require(principal, "miner", Action.write)
    return update_many(
        session=session,
        principal=principal,
        entity="miner",
        scoped=queries.miners(principal, queries.Filters()),
        edits=edits,
        apply=lambda row, props: _set_miner_changes(session, principal, row, props),
    )


@use_case
def update_many(
    *,
    session: Session,
    principal: Principal,
    entity: str,
    scoped: Select[Any],
    edits: list[Edit],
    apply: Callable[[Any, Any], None],
) -> list[Any]:
    """Partial updates of many records of one kind, each judged alone, written together.

    One scoped read locks the rows (`FOR UPDATE`; SQLite's writers are serialised already),
    so the version compare made here holds until commit, as `update_versioned`'s does. Each
    edit gets its row back, or the `AppError` refusing it (a refused edit sets nothing). Then
    one executemany UPDATE writes the rows (`records.write_set`, guarded by the versions read),
    one insert the audit entries.
    """
    model = scoped.column_descriptions[0]["entity"]
    ids = [edit.record_id for edit in edits]
    rows = {
        row.id: row
        for row in session.scalars(
            scoped.where(any_of(session, col(model.id), ids))
            .with_for_update(of=model)
            .execution_options(populate_existing=True)
        )
    }
    read_at = {row_id: row.version for row_id, row in rows.items()}
    now = utcnow()
    outcomes: list[Any] = []
    written: list[tuple[Principal, Any, dict[str, Any]]] = []
    for edit in edits:
        row = rows.get(edit.record_id)
        if row is None:
            outcomes.append(NotFound(f"no {entity} {edit.record_id} in your scope"))
            continue
        before = snapshot(row)
        try:
            check_version(row, edit.props.version)
            apply(row, edit.props)
        except AppError as err:
            session.expire(row)  # a check that refused after setting something: undo it
            outcomes.append(err)
            continue
        row.version += 1
        row.updated_at = now
        written.append((edit.author, row, before))
        outcomes.append(row)
    if written:
        write_set(session, [(row, read_at[row.id]) for _, row, _ in written])
        record_many(
            session=session,
            principal=principal,
            action="update",
            entity_type=entity,
            entries=[(row.id, before, stored_snapshot(row)) for _, row, before in written],
            authors=[author for author, _, _ in written],
        )
        changes.changed(session, *(row for _, row, _ in written))
    _commit(session, f"the {entity} records")
    return outcomes


# --- licences ------------------------------------------------------------------------------------


def _check_licence_holder(session: Session, props: LicenceCreate) -> None:
    if props.holder_miner_id is not None and session.get(Miner, props.holder_miner_id) is None:
        raise field_error(P + "holder_miner_id", f"no miner {props.holder_miner_id}")
    if props.holder_organisation_id is not None:
        org = session.get(Organisation, props.holder_organisation_id)
        if org is None:
            raise field_error(
                P + "holder_organisation_id", f"no organisation {props.holder_organisation_id}"
            )
        if props.kind is LicenceKind.exporter and org.kind != OrganisationKind.exporter:
            raise field_error(
                P + "holder_organisation_id",
                "an exporter licence is held by an exporting organisation",
            )


def _override_reason(principal: Principal, reason: str | None) -> str | None:
    if reason is None:
        return None
    require(principal, "licence", Action.administer)
    return reason


def _place_licence_area(
    session: Session,
    settings: Settings,
    principal: Principal,
    area: BaseGeometry,
    district_code: str | None,
    reason: str | None,
    exclude: uuid.UUID | None,
) -> list[placement.Overlap]:
    if district_code is not None:
        district = placement.district_or_422(session, district_code)
        placement.check_placement(session, settings, area, district)
    found = placement.overlaps(session, settings, area, exclude=exclude)
    if found and reason is None:
        placement.refuse_overlaps(found)
    return found


@use_case
def create_licence(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    geometry: BaseGeometry | None,
    props: LicenceCreate,
) -> Licence:
    require(principal, "licence", Action.write)
    errors = licence_create_errors(props)
    if geometry is not None and props.kind is not LicenceKind.artisanal_mining:
        errors.append(
            FieldError(
                "/geometry",
                f"a {props.kind.value} licence has no licensed area; send geometry null",
            )
        )
    if errors:
        raise ValidationFailed("; ".join(f"{e.field}: {e.detail}" for e in errors), errors=errors)
    _check_licence_holder(session, props)
    _ensure_new_id(session, Licence, props.id, P + "id")
    reason = _override_reason(principal, props.overlap_override_reason)
    if props.district is not None:
        placement.district_or_422(session, props.district)
    found: list[placement.Overlap] = []
    if geometry is not None:
        found = _place_licence_area(
            session, settings, principal, geometry, props.district, reason, None
        )
    row = Licence(
        kind=props.kind,
        number=props.number,
        holder_miner_id=props.holder_miner_id,
        holder_organisation_id=props.holder_organisation_id,
        district_code=props.district,
        valid_from=props.valid_from,
        valid_to=props.valid_to,
        fit_and_proper=props.fit_and_proper,
        status=LicenceStatus.active,
        overlap_override_reason=reason if found else None,
        area=None if geometry is None else to_db(as_multipolygon(geometry)),
        area_ha=None if geometry is None else geodesic_area_ha(geometry),
    )
    if props.id is not None:
        row.id = props.id
    if session.scalars(
        queries.licences(principal, queries.Filters()).where(col(Licence.number) == props.number)
    ).first():
        raise Duplicate(
            f"licence number {props.number} exists",
            errors=[FieldError(P + "number", "this number is taken")],
        )
    session.add(row)
    session.flush()
    session.add(
        LicenceStatusChange(
            licence_id=row.id,
            from_status=None,
            to_status=LicenceStatus.active,
            reason="issued",
            changed_by=principal.user_id,
        )
    )
    _audit_create(session, principal, "licence", row, reason=row.overlap_override_reason)
    _commit(session, "the licence")
    return row


@use_case
def update_licence(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    licence_id: uuid.UUID,
    geometry: BaseGeometry | None,
    props: LicenceUpdate,
) -> Licence:
    require(principal, "licence", Action.write)
    row = session.get(Licence, licence_id)
    if row is None:
        raise NotFound(f"no licence {licence_id}")
    before = snapshot(row)
    _claim(session, row, props.version)
    changes = props.model_dump(exclude_unset=True, exclude={"version", "overlap_override_reason"})
    reason = _override_reason(principal, props.overlap_override_reason)
    if "valid_to" in changes and (
        changes["valid_to"] is None or changes["valid_to"] < row.valid_from
    ):
        raise field_error(P + "valid_to", "valid_to must be a date on or after valid_from")
    if "fit_and_proper" in changes and row.kind == LicenceKind.artisanal_mining:
        raise field_error(
            P + "fit_and_proper", "fit_and_proper applies to buyer and exporter licences only"
        )
    if "district" in changes:
        if changes["district"] is None and row.kind == LicenceKind.artisanal_mining:
            raise field_error(P + "district", "an artisanal_mining licence needs its district")
        if changes["district"] is not None:
            placement.district_or_422(session, changes["district"])
        row.district_code = changes.pop("district")
    apply_changes(row, changes, prefix=P)
    if geometry is not None:
        if row.kind != LicenceKind.artisanal_mining:
            raise field_error("/geometry", f"a {row.kind} licence has no licensed area")
        found = _place_licence_area(
            session, settings, principal, geometry, row.district_code, reason, row.id
        )
        row.area = to_db(as_multipolygon(geometry))
        row.area_ha = geodesic_area_ha(geometry)
        row.overlap_override_reason = reason if found else None
    _audit_update(session, principal, "licence", row, before, reason=reason)
    _commit(session, "the licence")
    return row


@use_case
def change_licence_status(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    licence_id: uuid.UUID,
    change: LicenceStatusChangeIn,
) -> Licence:
    require(principal, "licence", Action.administer)
    row = session.get(Licence, licence_id)
    if row is None:
        raise NotFound(f"no licence {licence_id}")
    before = snapshot(row)
    # The version first: a transition judged against a state the client never saw is a 409.
    _claim(session, row, change.version)
    problem = transition_error(LicenceStatus(before["status"]), change.status)
    if problem is not None:
        raise field_error("/status", problem)
    reason = _override_reason(principal, change.overlap_override_reason)
    if change.status is LicenceStatus.active and row.area is not None:
        # Its area may have been licensed to someone else while it was suspended or expired.
        area = from_db(row.area)
        assert area is not None
        found = placement.overlaps(session, settings, area, exclude=row.id)
        if found and reason is None:
            placement.refuse_overlaps(found)
        row.overlap_override_reason = reason if found else row.overlap_override_reason
    session.add(
        LicenceStatusChange(
            licence_id=row.id,
            from_status=row.status,
            to_status=change.status,
            reason=change.reason,
            changed_by=principal.user_id,
        )
    )
    row.status = change.status
    audit_reason = (
        change.reason if reason is None else f"{change.reason}; overlap override: {reason}"
    )
    _audit_update(session, principal, "licence", row, before, reason=audit_reason)
    _commit(session, "the licence")
    return row


# --- sites ---------------------------------------------------------------------------------------


def _check_site_licence(
    session: Session, principal: Principal, licence_id: uuid.UUID | None, district_code: str
) -> None:
    """A site is worked under a mining licence of its own district that the writer can see."""
    if licence_id is None:
        return
    lic = queries.one(session, queries.licences(principal, queries.Filters()), Licence, licence_id)
    if lic is None:
        raise field_error(P + "licence_id", f"no licence {licence_id} in your scope")
    if lic.kind != LicenceKind.artisanal_mining:
        raise field_error(
            P + "licence_id", f"licence {lic.number} is a {lic.kind} licence, not artisanal_mining"
        )
    if lic.district_code != district_code:
        raise field_error(
            P + "licence_id",
            f"licence {lic.number} is for {lic.district_code}; the site is in {district_code}",
        )


@use_case
def create_site(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    geometry: BaseGeometry,
    props: SiteCreate,
) -> Site:
    require(principal, "site", Action.write)
    district = placement.district_or_422(session, props.district)
    _in_scope_district(principal, props.district, P + "district")
    _ensure_new_id(session, Site, props.id, P + "id")
    placement.check_placement(session, settings, geometry, district)
    _check_site_licence(session, principal, props.licence_id, props.district)
    row = Site(
        name=props.name,
        district_code=props.district,
        licence_id=props.licence_id,
        status=props.status,
        notes=props.notes,
        geometry=to_db(as_multipolygon(geometry)),
        area_ha=geodesic_area_ha(geometry),
    )
    return _insert(session, principal, "site", row, props.id, "the site")


@use_case
def update_site(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    site_id: uuid.UUID,
    geometry: BaseGeometry | None,
    props: SiteUpdate,
) -> Site:
    require(principal, "site", Action.write)
    row = queries.one(session, queries.sites(principal, queries.Filters()), Site, site_id)
    if row is None:
        raise NotFound(f"no site {site_id} in your scope")
    before = snapshot(row)
    _claim(session, row, props.version)
    changes = props.model_dump(exclude_unset=True, exclude={"version"})
    if "licence_id" in changes:
        _check_site_licence(session, principal, changes["licence_id"], row.district_code)
    apply_changes(row, changes, prefix=P)
    if geometry is not None:
        district = placement.district_or_422(session, row.district_code)
        placement.check_placement(session, settings, geometry, district)
        row.geometry = to_db(as_multipolygon(geometry))
        row.area_ha = geodesic_area_ha(geometry)
    _audit_update(session, principal, "site", row, before)
    _commit(session, "the site")
    return row


# --- site visits ---------------------------------------------------------------------------------


@use_case
def create_visit(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    geometry: BaseGeometry,
    props: SiteVisitCreate,
    device_visited_at: datetime | None = None,
) -> SiteVisit:
    row = prepare_visit(
        session=session,
        principal=principal,
        settings=settings,
        geometry=geometry,
        props=props,
        device_visited_at=device_visited_at,
    )
    return _insert(session, principal, "site_visit", row, props.id, "the site visit")


def prepare_visit(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    geometry: BaseGeometry,
    props: SiteVisitCreate,
    device_visited_at: datetime | None = None,
    unsaved: bool = False,
) -> SiteVisit:
    """Every check of a new site visit, and the row it would be (not yet in the session).

    `device_visited_at`: the time as a drifting device clock read it, when `visited_at` was
    moved onto the server's clock; kept beside it. `unsaved`: the row is for `insert_many`
    (`Record.unsaved`), never for the session."""
    require(principal, "site_visit", Action.write)
    site = _site_in_scope(session, principal, props.site_id)
    if site is None:
        raise field_error(P + "site_id", f"no site {props.site_id} in your scope")
    _ensure_new_id(session, SiteVisit, props.id, P + "id")
    if props.visited_at > utcnow():
        raise field_error(P + "visited_at", "a visit cannot be in the future")
    district = placement.district_or_422(session, site.district_code)
    placement.check_placement(session, settings, geometry, district)
    site_shape = lookups.site_shape(session, site)
    assert site_shape is not None
    row = (SiteVisit.unsaved if unsaved else SiteVisit)(
        site_id=site.id,
        district_code=site.district_code,
        visited_at=props.visited_at,
        location=to_db(geometry),
        diggers_counted=props.diggers_counted,
        notes=props.notes,
        officer_id=principal.user_id,
        distance_to_site_m=_metres(measure.distance_m(geometry, site_shape)),
        device_visited_at=device_visited_at,
    )
    if props.id is not None:
        row.id = props.id
    return row


def _site_in_scope(session: Session, principal: Principal, site_id: uuid.UUID) -> Site | None:
    """A site the principal may see; a batch may have looked its sites up in one query."""
    known = lookups.of(session).sites
    if site_id in known:
        return known[site_id]
    return queries.one(session, queries.sites(principal, queries.Filters()), Site, site_id)


def preload_sites(session: Session, principal: Principal, site_ids: set[uuid.UUID]) -> None:
    """Look up, in one query, the sites a batch of new visits names (kept for this session)."""
    if not site_ids:
        return
    found = session.scalars(
        queries.sites(principal, queries.Filters()).where(any_of(session, col(Site.id), site_ids))
    )
    lookups.of(session).sites.update({s.id: s for s in found})


@use_case
def insert_many(*, session: Session, principal: Principal, entity: str, rows: list[Any]) -> None:
    """New rows that passed their `prepare_*` checks: insert, audit and publish them together.

    The same checks as one-by-one creates, with one round trip per table instead of per row.
    """
    if not rows:
        return
    # Core, not the ORM: the rows are written as they are (every column set when they were
    # built), without the unit of work's per-row bookkeeping; they stay plain objects.
    table = type(rows[0]).__table__
    try:
        insert_rows(
            session, table, [{c.key: getattr(row, c.key) for c in table.columns} for row in rows]
        )
    except IntegrityError as err:
        session.rollback()
        raise Duplicate(
            f"the new {entity} records conflict with existing ones: {err.orig}"
        ) from err
    record_many(
        session=session,
        principal=principal,
        action="create",
        entity_type=entity,
        entries=[(row.id, None, stored_snapshot(row)) for row in rows],
    )
    changes.created(session, rows)
    _commit(session, f"the new {entity} records")


@use_case
def update_visit(
    *,
    session: Session,
    principal: Principal,
    settings: Settings,
    visit_id: uuid.UUID,
    geometry: BaseGeometry | None,
    props: SiteVisitUpdate,
    device_visited_at: datetime | None = None,
) -> SiteVisit:
    require(principal, "site_visit", Action.write)
    row = queries.one(session, queries.visits(principal, queries.Filters()), SiteVisit, visit_id)
    if row is None:
        raise NotFound(f"no site visit {visit_id} in your scope")
    before = snapshot(row)
    _claim(session, row, props.version)
    changes = props.model_dump(exclude_unset=True, exclude={"version"})
    if changes.get("visited_at") is not None and changes["visited_at"] > utcnow():
        raise field_error(P + "visited_at", "a visit cannot be in the future")
    apply_changes(row, changes, prefix=P)
    if "visited_at" in changes:
        row.device_visited_at = device_visited_at
    if geometry is not None:
        site = session.get(Site, row.site_id)
        assert site is not None
        district = placement.district_or_422(session, row.district_code)
        placement.check_placement(session, settings, geometry, district)
        row.location = to_db(geometry)
        site_shape = from_db(site.geometry)
        row.distance_to_site_m = _metres(measure.distance_m(geometry, site_shape))
    _audit_update(session, principal, "site_visit", row, before)
    _commit(session, "the site visit")
    return row


def _metres(value: float) -> Any:
    from decimal import Decimal

    return Decimal(str(round(value, 1)))


def today() -> date:
    return utcnow().date()


# --- tombstones ----------------------------------------------------------------------------------


def _tombstone(session: Session, principal: Principal, entity: str, row: Any, version: int) -> Any:
    if row.deleted_at is not None:
        raise NotFound(f"{entity} {row.id} was deleted at {row.deleted_at}")
    before = snapshot(row)
    _claim(session, row, version)
    row.deleted_at = utcnow()
    _audit_update(session, principal, entity, row, before)
    _commit(session, f"the {entity}")
    return row


TOMBSTONED: dict[str, tuple[Any, Callable[[Principal, queries.Filters], Any]]] = {
    "miner": (Miner, queries.miners),
    "site": (Site, queries.sites),
    "site_visit": (SiteVisit, queries.visits),
}


@use_case
def delete_record(
    *, session: Session, principal: Principal, entity: str, record_id: uuid.UUID, version: int
) -> Any:
    """A tombstone: the row stays (and in the audit trail); lists and devices drop it."""
    model, scoped = TOMBSTONED[entity]
    require(principal, entity, Action.write)
    row = queries.one(session, scoped(principal, queries.Filters()), model, record_id)
    if row is None:
        raise NotFound(f"no {entity.replace('_', ' ')} {record_id} in your scope")
    return _tombstone(session, principal, entity, row, version)
