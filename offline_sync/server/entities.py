"""What the engine needs from the application for each syncable entity, and nothing more.

The application registers one `EntityHandler` per entity type. Handlers run the application's
own use cases (same validation, same scope), so a synced change has no back door.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session


class OpRejected(Exception):
    """The application refused the change; `errors` are in the REST API's form."""

    def __init__(self, code: str, detail: str, errors: Iterable[dict[str, str]] = ()) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = list(errors)


class StaleBase(Exception):
    """The record moved on between the engine's version check and the write (a race)."""


@dataclass(frozen=True)
class ApplyContext:
    session: Session
    actor: Any  # the application's principal, passed through untouched
    device_id: uuid.UUID


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


@dataclass
class Registry:
    """The application's syncable entities, its idea of scope, and attachment references."""

    handlers: dict[str, EntityHandler] = field(default_factory=dict)
    scopes_for: Callable[[Any], list[str] | None] = lambda actor: None
    # Scopes that repeat records kept in another scope (for readers of a part of the country);
    # a reader of every scope skips them.
    mirror_scopes: frozenset[str] = frozenset()
    missing_attachments: list[Callable[[Session], list[str]]] = field(default_factory=list)

    def register(self, handler: EntityHandler) -> None:
        self.handlers[handler.name] = handler
