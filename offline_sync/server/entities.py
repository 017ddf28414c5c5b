"""What the engine needs from the application for each syncable entity, and nothing more.

The application registers one `EntityHandler` per entity type. Handlers run the application's
own use cases (same validation, same scope), so a synced change has no back door.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.orm import Session


class OpRejected(Exception):
    """The application refused the change; `errors` are in the REST API's form."""

    def __init__(self, code: str, detail: str, errors: Iterable[dict[str, str]] = ()) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = list(errors)


def record_exists(entity: str, record_id: object) -> OpRejected:
    """The refusal of a create whose record the server holds already, alone or in a set."""
    return OpRejected("record-exists", f"{entity} {record_id} exists already")


class StaleBase(Exception):
    """The record moved on between the engine's version check and the write (a race)."""


@dataclass(frozen=True)
class UpdateItem:
    """One update op of a set the engine hands to `update_many`: made from `version`, by
    `actor` (the op's author, as `Registry.author` gave it)."""

    record_id: uuid.UUID
    version: int
    fields: dict[str, Any]
    actor: Any


@dataclass(frozen=True)
class ClockReading:
    """The device clock as the push measured it: server time minus device time, and whether
    that is beyond the server's threshold. Device times are judged on the corrected clock."""

    offset: timedelta = timedelta(0)
    drift: bool = False

    def corrected(self, device_time: datetime) -> datetime:
        """A time read on the device clock, on the server's clock (only when it drifts: a
        small offset is mostly network delay, and the device's value is kept as sent)."""
        return device_time + self.offset if self.drift else device_time


@dataclass(frozen=True)
class ApplyContext:
    session: Session
    actor: Any  # the application's principal, passed through untouched
    device_id: uuid.UUID
    clock: ClockReading = ClockReading()


@dataclass(frozen=True)
class Author:
    """The author of an op when the application does not say how to find its principal."""

    user_id: uuid.UUID
    device_id: str
    op_time: datetime


def _author(session: Session, actor: Any, user_id: uuid.UUID, device_id: uuid.UUID, op: Any) -> Any:
    return Author(user_id=user_id, device_id=str(device_id), op_time=op.device_time)


class EntityHandler(Protocol):
    name: str
    writable: bool

    def version_of(self, ctx: ApplyContext, record_id: uuid.UUID) -> int | None:
        """The record's version whatever the actor's scope; None if it does not exist."""

    def create(self, ctx: ApplyContext, record_id: uuid.UUID, fields: dict[str, Any]) -> int: ...

    def update(
        self, ctx: ApplyContext, record_id: uuid.UUID, version: int, fields: dict[str, Any]
    ) -> int: ...

    def delete(self, ctx: ApplyContext, record_id: uuid.UUID, version: int) -> int: ...

    def changed_since(
        self,
        ctx: ApplyContext,
        record_id: uuid.UUID,
        base_version: int,
        ignore: frozenset[int] = frozenset(),
    ) -> dict[str, Any]:
        """Fields changed on the server after `base_version`, with their current values,
        leaving out the changes that made the versions in `ignore`."""

    def scope_of(self, ctx: ApplyContext, record_id: uuid.UUID) -> str: ...

    def present(self, data: dict[str, Any], actor: Any) -> dict[str, Any]:
        """The record as this actor may see it (redaction per role)."""


@dataclass(frozen=True)
class AttachmentRefs:
    """Records of one kind that name attachments by hash, and who may read or store them.

    An attachment has no scope of its own: it follows the records that reference it. A
    caller may store (upload) an attachment when a record it may edit names it, and read it
    when a record whose personal data it may see names it.
    """

    may_store_any: Callable[[Any], bool]
    readable: Callable[[Session, Any, str], bool]
    writable: Callable[[Session, Any, str], bool]
    missing: Callable[[Session, Any], list[str]]


@dataclass
class Registry:
    """The application's syncable entities, its idea of scope, and attachment references."""

    handlers: dict[str, EntityHandler] = field(default_factory=dict)
    scopes_for: Callable[[Any], list[str] | None] = lambda actor: None
    # Scopes that repeat records kept in another scope (for readers of a part of the country);
    # a reader of every scope skips them.
    mirror_scopes: frozenset[str] = frozenset()
    attachment_refs: list[AttachmentRefs] = field(default_factory=list)
    # The actor an op is applied as: the pusher's principal for the ops of its own push
    # (given), or, for an op parked earlier and released now, its own author looked up by
    # user and device (actor None). The application adds the op's device time for its audit.
    # None from it: the author may no longer act (disabled); the op is refused.
    author: Callable[[Session, Any, uuid.UUID, uuid.UUID, Any], Any] = _author

    def register(self, handler: EntityHandler) -> None:
        self.handlers[handler.name] = handler

    def may_store_attachments(self, actor: Any) -> bool:
        return any(r.may_store_any(actor) for r in self.attachment_refs)

    def attachment_readable(self, session: Session, actor: Any, sha256: str) -> bool:
        return any(r.readable(session, actor, sha256) for r in self.attachment_refs)

    def attachment_writable(self, session: Session, actor: Any, sha256: str) -> bool:
        return any(r.writable(session, actor, sha256) for r in self.attachment_refs)

    def missing_attachments(self, session: Session, actor: Any) -> list[str]:
        hashes: set[str] = set()
        for refs in self.attachment_refs:
            hashes.update(refs.missing(session, actor))
        return sorted(hashes)
