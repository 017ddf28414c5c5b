"""The application's syncable entities: each runs the registry's own use cases for a device's op.

Making an entity syncable is a subclass with its model, its scope, and how its create and update
payloads map onto the REST API's request models; see `MinerEntity` for the shortest one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, cast

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from backend.api.inputs import parse_model
from backend.audit.models import AuditEntry
from backend.auth.permissions import PURCHASE_MINER_VIEW
from backend.auth.principal import Principal
from backend.auth.tokens import principal_of_user
from backend.custody import service as custody
from backend.custody.errors import ChainMoved, LotTaken
from backend.custody.models import CustodyEvent, Lot
from backend.custody.schemas import CustodyEventIn, parse_event
from backend.errors import AppError, FieldError, StaleVersion, from_geo_error
from backend.incidents import service as incidents
from backend.incidents.attachments import INCIDENT_FILES
from backend.incidents.models import Incident
from backend.incidents.schemas import FollowUpIn, IncidentCreate
from backend.insight import tasks as insight_tasks
from backend.insight.models import InspectionTask
from backend.registry import lookups, service
from backend.registry.models import Jurisdiction, Licence, Miner, Organisation, Site, SiteVisit
from backend.registry.photos import MINER_PHOTOS
from backend.registry.schemas import (
    GEOMETRY_TYPES,
    MinerCreate,
    MinerUpdate,
    SiteCreate,
    SiteUpdate,
    SiteVisitCreate,
    SiteVisitUpdate,
)
from backend.settings import Settings
from backend.sync import feed
from backend.sync.scope import TRADE, scopes_for
from geodata.errors import GeoError
from geodata.geojson import parse_geometry
from offline_sync.server.anyof import any_of
from offline_sync.server.entities import (
    ApplyContext,
    EntityHandler,
    OpRejected,
    Registry,
    StaleBase,
    UpdateItem,
    record_exists,
)

# Column names in the audit trail that devices know under another name.
FIELD_OF_COLUMN = {"district_code": "district", "location": "geometry"}
NOT_FIELDS = frozenset(
    {
        "id",
        "version",
        "created_at",
        "updated_at",
        "officer_id",
        "area_ha",
        "distance_to_site_m",
        "deleted_at",
    }
)


# Refusals a race causes, not the op's content: the engine answers them retryable.
RACES = (StaleVersion, ChainMoved, LotTaken)


def _op_pointer(pointer: str) -> str:
    """A REST pointer (/properties/x, /geometry, /x) as a pointer into the op (/fields/x)."""
    for prefix in ("/properties/", "/fields/"):
        if pointer.startswith(prefix):
            return "/fields/" + pointer.removeprefix(prefix)
    return "/fields" + pointer if pointer else "/fields"


def rejected(err: AppError) -> OpRejected:
    errors = [FieldError(_op_pointer(e.pointer), e.detail).as_dict() for e in err.errors]
    return OpRejected(err.code, err.detail, errors)


def on_server_clock(ctx: ApplyContext, fields: dict[str, Any], key: str) -> datetime | None:
    """Move the time `fields[key]` onto the server's clock when the device's clock drifts (the
    push measured the offset); the device's own reading is returned, to be kept beside it."""
    value = fields.get(key)
    if not ctx.clock.drift or not isinstance(value, str):
        return None
    try:
        read = datetime.fromisoformat(value)
    except ValueError:
        return None  # the record's own checks name the field
    if read.tzinfo is None:
        return None
    fields[key] = ctx.clock.corrected(read).isoformat()
    return read


class Entity:
    """Shared behaviour: versions, audit-based change detection, scope from the feed hook."""

    name: ClassVar[str]
    model: ClassVar[Any]
    writable: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def row(self, session: Session, record_id: uuid.UUID) -> Any:
        return session.get(self.model, record_id)

    def version_of(self, ctx: ApplyContext, record_id: uuid.UUID) -> int | None:
        row = self.row(ctx.session, record_id)
        return None if row is None else int(row.version)

    def scope_of(self, ctx: ApplyContext, record_id: uuid.UUID) -> str:
        return feed.record_data(ctx.session, self.row(ctx.session, record_id))[1]

    def current(self, session: Session, record_id: uuid.UUID) -> dict[str, Any]:
        return feed.record_data(session, self.row(session, record_id))[2]

    def changed_since(
        self,
        ctx: ApplyContext,
        record_id: uuid.UUID,
        base_version: int,
        ignore: frozenset[int] = frozenset(),
    ) -> dict[str, Any]:
        """Fields the audit trail shows changed after `base_version`, with their values now."""
        entries = ctx.session.scalars(
            select(AuditEntry).where(
                col(AuditEntry.entity_type) == self.name,
                col(AuditEntry.entity_id) == str(record_id),
            )
        )
        changed: set[str] = set()
        for e in entries:
            if (
                e.before is None
                or e.after is None
                or int(e.after.get("version", 0)) <= base_version
                or int(e.after.get("version", 0)) in ignore
            ):
                continue
            for column, value in e.after.items():
                if column not in NOT_FIELDS and e.before.get(column) != value:
                    changed.add(FIELD_OF_COLUMN.get(column, column))
        if not changed:
            return {}
        now = self.current(ctx.session, record_id)
        return {f: now.get(f) for f in changed}

    def present(self, data: dict[str, Any], actor: Any) -> dict[str, Any]:
        return data

    def versions(self, ctx: ApplyContext, record_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
        """`version_of` for many records in one query."""
        rows = ctx.session.execute(
            select(col(self.model.id), col(self.model.version)).where(
                any_of(ctx.session, col(self.model.id), record_ids)
            )
        )
        return {record_id: int(version) for record_id, version in rows}

    def run_many(
        self,
        items: list[UpdateItem],
        props_model: Any,
        case: Callable[[list[service.Edit]], list[Any]],
    ) -> list[int | OpRejected | StaleBase]:
        """A set of updates through a registry use case that takes many: each item's request
        parsed as the one-by-one path parses it, each refusal in the REST form, a race as
        `StaleBase` (the engine then takes that op alone). A refusal of the whole set raises."""
        outcomes: list[int | OpRejected | StaleBase | None] = []
        edits: list[service.Edit] = []
        for item in items:
            try:
                props = self.parse(props_model, {**item.fields, "version": item.version})
            except OpRejected as err:
                outcomes.append(err)
                continue
            edits.append(service.Edit(item.record_id, props, item.actor))
            outcomes.append(None)  # the use case answers it
        answers = iter(case(edits) if edits else [])
        return [self._answer(next(answers)) if o is None else o for o in outcomes]

    @staticmethod
    def _answer(answer: Any) -> int | OpRejected | StaleBase:
        """A batch use case's answer for one edit (its row, or the error refusing it)."""
        if isinstance(answer, RACES):
            return StaleBase(answer.detail)
        if isinstance(answer, AppError):
            return rejected(answer)
        return int(answer.version)

    def existing_ids(self, ctx: ApplyContext, record_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        return set(
            ctx.session.scalars(
                select(col(self.model.id)).where(
                    any_of(ctx.session, col(self.model.id), record_ids)
                )
            )
        )

    def prepare(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> Any:
        """The checked row a create would insert, for `service.insert_many` (entities with a
        bulk path); built with `Record.unsaved`, never added to the session."""
        raise NotImplementedError

    def create_many(
        self, ctx: ApplyContext, items: list[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[int | OpRejected]:
        """Creates checked one by one with the REST API's own checks, then written together."""
        ids = [record_id for record_id, _ in items]
        taken = self.existing_ids(ctx, ids)
        lookups.expect_new(ctx.session, {i for i in ids if i not in taken})
        outcomes: list[int | OpRejected] = []
        rows = []
        for record_id, fields in items:
            if record_id in taken:  # answered as the engine answers such a create on its own
                outcomes.append(record_exists(self.name, record_id))
                continue
            try:
                rows.append(self.prepare(ctx, record_id, dict(fields)))
                outcomes.append(1)
            except OpRejected as err:
                outcomes.append(err)
            except AppError as err:
                outcomes.append(rejected(err))
        try:
            service.insert_many(
                session=ctx.session, principal=ctx.actor, entity=self.name, rows=rows
            )
        except AppError as err:
            raise rejected(err) from err
        return outcomes

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int:
        raise OpRejected("pull-only", f"{self.name} records are read-only on devices")

    def update(
        self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: dict[str, Any]
    ) -> int:
        raise OpRejected("pull-only", f"{self.name} records are read-only on devices")

    def delete(self, ctx: ApplyContext, record_id: uuid.UUID, version: int) -> int:
        if not self.writable:
            raise OpRejected("pull-only", f"{self.name} records are read-only on devices")
        return self.run(
            lambda: service.delete_record(
                session=ctx.session,
                principal=ctx.actor,
                entity=self.name,
                record_id=record_id,
                version=version,
            )
        )

    @staticmethod
    def run(call: Callable[[], Any]) -> int:
        """Run a registry use case; its refusals become the op's rejection, in the REST form."""
        try:
            return int(call().version)
        except RACES as err:
            raise StaleBase(err.detail) from err
        except AppError as err:
            raise rejected(err) from err

    def geometry(self, fields: dict[str, Any], *, required: bool) -> Any:
        if "geometry" not in fields or fields["geometry"] is None:
            if required:
                raise OpRejected(
                    "validation-failed",
                    "geometry is required",
                    [FieldError("/fields/geometry", "required").as_dict()],
                )
            fields.pop("geometry", None)
            return None
        try:
            return parse_geometry(
                fields.pop("geometry"),
                allowed=GEOMETRY_TYPES[self.name],
                max_vertices=self.settings.max_vertices,
                pointer="/fields/geometry",
            )
        except GeoError as err:
            raise rejected(from_geo_error(err)) from err

    @staticmethod
    def parse(model: Any, data: dict[str, Any]) -> Any:
        try:
            return parse_model(model, data, prefix="/fields")
        except AppError as err:
            raise rejected(err) from err


class MinerEntity(Entity):
    name, model, writable = "miner", Miner, True

    def prepare(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> Any:
        props = self.parse(MinerCreate, {**fields, "id": str(record_id)})
        return service.prepare_miner(
            session=ctx.session, principal=ctx.actor, props=props, unsaved=True
        )

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int:
        props = self.parse(MinerCreate, {**fields, "id": str(record_id)})
        return self.run(
            lambda: service.create_miner(session=ctx.session, principal=ctx.actor, props=props)
        )

    def update(
        self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: dict[str, Any]
    ) -> int:
        props = self.parse(MinerUpdate, {**fields, "version": version})
        return self.run(
            lambda: service.update_miner(
                session=ctx.session, principal=ctx.actor, miner_id=record_id, props=props
            )
        )

    def update_many(
        self, ctx: ApplyContext, items: list[UpdateItem]
    ) -> list[int | OpRejected | StaleBase]:
        return self.run_many(
            items,
            MinerUpdate,
            lambda edits: service.update_miners(
                session=ctx.session, principal=ctx.actor, edits=edits
            ),
        )

    def present(self, data: dict[str, Any], actor: Any) -> dict[str, Any]:
        if isinstance(actor, Principal) and actor.role in PURCHASE_MINER_VIEW:
            return {k: data.get(k) for k in ("id", "full_name", "licence_numbers")}
        return data


class GeometricEntity(Entity):
    """An entity whose ops carry a GeoJSON `geometry` beside REST-style properties."""

    create_props: ClassVar[Any]
    update_props: ClassVar[Any]
    create_case: ClassVar[Callable[..., Any]]
    update_case: ClassVar[Callable[..., Any]]
    id_kwarg: ClassVar[str]

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int:
        fields = dict(fields)
        geometry = self.geometry(fields, required=True)
        props = self.parse(self.create_props, {**fields, "id": str(record_id)})
        case = type(self).create_case
        return self.run(
            lambda: case(
                session=ctx.session,
                principal=ctx.actor,
                settings=self.settings,
                geometry=geometry,
                props=props,
            )
        )

    def update(
        self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: dict[str, Any]
    ) -> int:
        fields = dict(fields)
        geometry = self.geometry(fields, required=False)
        props = self.parse(self.update_props, {**fields, "version": version})
        case = type(self).update_case
        return self.run(
            lambda: case(
                session=ctx.session,
                principal=ctx.actor,
                settings=self.settings,
                geometry=geometry,
                props=props,
                **{self.id_kwarg: record_id},
            )
        )


class SiteEntity(GeometricEntity):
    name, model, writable = "site", Site, True
    create_props, update_props = SiteCreate, SiteUpdate
    create_case, update_case, id_kwarg = service.create_site, service.update_site, "site_id"


class SiteVisitEntity(GeometricEntity):
    name, model, writable = "site_visit", SiteVisit, True
    create_props, update_props = SiteVisitCreate, SiteVisitUpdate
    create_case, update_case, id_kwarg = service.create_visit, service.update_visit, "visit_id"

    @staticmethod
    def parents(fields: dict[str, Any]) -> dict[str, tuple[str, uuid.UUID]]:
        """The site a new visit names: a visit to a site made offline waits for the site."""
        try:
            return {"site_id": ("site", uuid.UUID(str(fields.get("site_id"))))}
        except ValueError:
            return {}  # the visit's own checks name the field

    @staticmethod
    def on_server_clock(ctx: ApplyContext, fields: dict[str, Any]) -> datetime | None:
        return on_server_clock(ctx, fields, "visited_at")

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int:
        fields = dict(fields)
        device_read = self.on_server_clock(ctx, fields)
        geometry = self.geometry(fields, required=True)
        props = self.parse(SiteVisitCreate, {**fields, "id": str(record_id)})
        return self.run(
            lambda: service.create_visit(
                session=ctx.session,
                principal=ctx.actor,
                settings=self.settings,
                geometry=geometry,
                props=props,
                device_visited_at=device_read,
            )
        )

    def update(
        self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: dict[str, Any]
    ) -> int:
        fields = dict(fields)
        device_read = self.on_server_clock(ctx, fields)
        geometry = self.geometry(fields, required=False)
        props = self.parse(SiteVisitUpdate, {**fields, "version": version})
        return self.run(
            lambda: service.update_visit(
                session=ctx.session,
                principal=ctx.actor,
                settings=self.settings,
                geometry=geometry,
                props=props,
                visit_id=record_id,
                device_visited_at=device_read,
            )
        )

    def prepare(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> Any:
        device_read = self.on_server_clock(ctx, fields)
        geometry = self.geometry(fields, required=True)
        props = self.parse(SiteVisitCreate, {**fields, "id": str(record_id)})
        return service.prepare_visit(
            session=ctx.session,
            principal=ctx.actor,
            settings=self.settings,
            geometry=geometry,
            props=props,
            device_visited_at=device_read,
            unsaved=True,
        )

    def create_many(
        self, ctx: ApplyContext, items: list[tuple[uuid.UUID, dict[str, Any]]]
    ) -> list[int | OpRejected]:
        site_ids = set()
        for _, fields in items:
            try:
                site_ids.add(uuid.UUID(str(fields.get("site_id"))))
            except ValueError:
                continue  # the item's own checks will name the field
        service.preload_sites(ctx.session, ctx.actor, site_ids)
        return super().create_many(ctx, items)


class CustodyEventEntity(Entity):
    """Buyers log purchases (and the rest of custody) offline. Events are append-only: a
    correction is a new event pointing at the one it corrects, so only creates are taken."""

    name, model, writable = "custody_event", CustodyEvent, True

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int:
        fields = dict(fields)
        read = on_server_clock(ctx, fields, "occurred_at")
        if read is not None and fields.get("device_time") is None:
            fields["device_time"] = read.isoformat()  # the device's own reading, kept
        try:
            body = parse_event(CustodyEventIn, {**fields, "id": str(record_id)})
        except AppError as err:
            raise rejected(err) from err
        return self.run(
            lambda: custody.record_event(
                session=ctx.session, principal=ctx.actor, body=body, settings=self.settings
            )
        )

    def update(
        self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: dict[str, Any]
    ) -> int:
        raise OpRejected(
            "append-only",
            "custody events are never edited: record a correction "
            "(a new event with corrects_event_id)",
        )

    def delete(self, ctx: ApplyContext, record_id: uuid.UUID, version: int) -> int:
        raise OpRejected(
            "append-only",
            "custody events are never deleted: record a correction "
            "(a new event with corrects_event_id) or a void event",
        )


class IncidentEntity(Entity):
    """Field officers report incidents offline; an update op is a follow-up (a note, and
    `status` closed or open), appended to the incident's history, never an edit of it."""

    name, model, writable = "incident", Incident, True
    # One by one: each report is checked and written by the incident use case itself.
    create_many = None  # type: ignore[assignment]

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int:
        props = self.parse(IncidentCreate, {**fields, "id": str(record_id)})
        return self.run(
            lambda: incidents.report_incident(session=ctx.session, principal=ctx.actor, props=props)
        )

    def update(
        self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: dict[str, Any]
    ) -> int:
        props = self.parse(FollowUpIn, {**fields, "version": version})
        return self.run(
            lambda: incidents.follow_up(
                session=ctx.session, principal=ctx.actor, incident_id=record_id, props=props
            )
        )

    def delete(self, ctx: ApplyContext, record_id: uuid.UUID, version: int) -> int:
        raise OpRejected(
            "append-only", "incidents are never deleted: close one with a follow-up that says why"
        )


class LotEntity(Entity):
    name, model = "lot", Lot


class InspectionTaskEntity(Entity):
    """Spot checks for the officers of a district: pulled by their tablets, closed by a visit."""

    name, model = "inspection_task", InspectionTask


class LicenceEntity(Entity):
    name, model = "licence", Licence


class JurisdictionEntity(Entity):
    name, model = "jurisdiction", Jurisdiction


class OrganisationEntity(Entity):
    name, model = "organisation", Organisation


def author(
    session: Session, actor: Any, user_id: uuid.UUID, device_id: uuid.UUID, op: Any
) -> Principal | None:
    """Who an op is applied as: the pusher for its own push, else (an op parked earlier) the
    op's own user on its own device; with the time the device made the op, for the audit."""
    if actor is None:
        actor = principal_of_user(session=session, user_id=user_id, device_id=str(device_id))
        if actor is None:
            return None
    principal: Principal = replace(actor, op_time=op.device_time)
    return principal


def build_registry(settings: Settings) -> Registry:
    insight_tasks.install()
    registry = Registry(
        author=author,
        scopes_for=scopes_for,
        attachment_refs=[MINER_PHOTOS, INCIDENT_FILES],
        mirror_scopes=frozenset({TRADE}),
    )
    for entity in (
        MinerEntity,
        SiteEntity,
        SiteVisitEntity,
        CustodyEventEntity,
        IncidentEntity,
        LotEntity,
        LicenceEntity,
        JurisdictionEntity,
        OrganisationEntity,
        InspectionTaskEntity,
    ):
        registry.register(cast(EntityHandler, entity(settings)))
    return registry
