"""The sync protocol's messages (see docs/sync-protocol.md). Shared by server and client.

An *op* is one change made on a device: create, update or delete of one record of one entity
type. `push` answers every op with exactly one `OpResult`; `pull` returns `Change`s after a
cursor. Nothing here touches a database.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from offline_sync.canonical import canonical_json

PROTOCOL_VERSION = "1"
MAX_OPS_PER_PUSH = 5000


EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)
SEQ_MAX = 2**63 - 1  # the server keeps seq in a BIGINT
VERSION_MAX = 2**31 - 1  # and versions in an INTEGER


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time needs a time zone (Z or an offset)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 has no UTC instant
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("time must lie within 1900-01-01 to 2999-12-31 (UTC)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class OpKind(StrEnum):
    create = "create"
    update = "update"
    delete = "delete"


class OpStatus(StrEnum):
    applied = "applied"
    duplicate = "duplicate"
    conflict = "conflict"
    rejected = "rejected"
    pending = "pending"


class ChangeKind(StrEnum):
    upsert = "upsert"  # the record as it now is (created or changed)
    delete = "delete"  # the record was deleted (a tombstone; nothing is erased on the server)
    exit = "exit"  # the record left this scope (moved district, say): drop it locally


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Op(Strict):
    op_id: uuid.UUID = Field(description="client-made; the same op sent twice is one op")
    seq: Annotated[
        int, Field(ge=1, le=SEQ_MAX, description="the device's own monotonic sequence number")
    ]
    entity: Annotated[str, Field(min_length=1, max_length=32)]
    record_id: uuid.UUID = Field(description="client-made id of the record")
    kind: OpKind
    base_version: Annotated[int, Field(ge=1, le=VERSION_MAX)] | None = Field(
        default=None, description="the version the device edited; required for update and delete"
    )
    fields: dict[str, Any] = Field(default_factory=dict, description="changed fields only")
    device_time: AwareDatetime = Field(description="the device clock when the change was made")

    def content_hash(self) -> str:
        """What makes two sends of one op id the same op: everything but the op id."""
        body = self.model_dump(mode="json", exclude={"op_id"})
        return hashlib.sha256(canonical_json(body)).hexdigest()


class PushRequest(Strict):
    sent_at: AwareDatetime = Field(description="the device clock when this batch was sent")
    ops: Annotated[list[Op], Field(max_length=MAX_OPS_PER_PUSH)]


class FieldProblem(BaseModel):
    field: str
    pointer: str
    detail: str


class OpResult(BaseModel):
    op_id: uuid.UUID
    seq: int
    status: OpStatus
    version: int | None = Field(default=None, description="the record's version after this op")
    conflict_id: uuid.UUID | None = None
    code: str | None = Field(
        default=None, description="machine-readable reason (rejected, pending)"
    )
    detail: str | None = None
    errors: list[FieldProblem] = Field(default_factory=list)
    merged: bool = Field(default=False, description="applied on top of newer server changes")
    first_status: OpStatus | None = Field(
        default=None, description="for a duplicate: the status the op got the first time"
    )
    retryable: bool = Field(
        default=False,
        description="not a final answer: a concurrent change won a race (code `raced`); the "
        "server kept nothing of the op, so send the same op again",
    )


class PushResponse(BaseModel):
    results: list[OpResult]
    server_time: datetime
    clock_offset_ms: int = Field(description="server time minus device time at send")
    clock_drift: bool = Field(description="the offset is beyond the server's threshold")


class Change(BaseModel):
    entity: str
    record_id: uuid.UUID
    kind: ChangeKind
    version: int
    scope: str
    data: dict[str, Any] | None = None


class PullResponse(BaseModel):
    changes: list[Change]
    cursor: str = Field(description="send it back as ?cursor= to continue")
    has_more: bool
    dropped_scopes: list[str] = Field(
        default_factory=list, description="scopes you no longer have: drop their records"
    )
    server_time: datetime


class DeviceEnrol(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    platform: Annotated[str, Field(max_length=100)] | None = None
    enrolment_key: (
        Annotated[str, Field(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")] | None
    ) = Field(
        default=None,
        description="made once by the client and resent with a retry: the same key enrols "
        "the same device once, and a resend gets that device with a fresh credential",
    )


class DeviceCredential(BaseModel):
    device_id: uuid.UUID
    device_token: str
    expires_at: datetime


class DeviceInfo(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID
    name: str
    platform: str | None
    enrolled_at: datetime
    revoked_at: datetime | None
    last_seen_at: datetime | None
    last_seq: int
    clock_offset_ms: int | None
    clock_drift: bool


class ConflictField(BaseModel):
    server: Any
    device: Any


class ConflictInfo(BaseModel):
    id: uuid.UUID
    entity: str
    record_id: uuid.UUID
    op_id: uuid.UUID
    device_id: uuid.UUID
    base_version: int
    server_version: int
    fields: dict[str, ConflictField]
    status: str
    created_at: datetime
    resolved_at: datetime | None
    resolution: dict[str, Any] | None
    resolution_version: int | None


class ConflictResolution(Strict):
    """For each conflicting field: keep the server's value, take the device's, or give a value."""

    take: dict[str, Annotated[str, Field(pattern="^(server|device)$")]] = Field(
        default_factory=dict
    )
    values: dict[str, Any] = Field(default_factory=dict)
    note: Annotated[str, Field(max_length=2000)] | None = None
    version: Annotated[int, Field(ge=1)] | None = Field(
        default=None,
        description="the record version the supervisor decided on; if the record has moved "
        "on since, the answer is 409 with the current version and nothing changes",
    )


class AttachmentStatus(BaseModel):
    sha256: str
    size: int | None
    received: int
    complete: bool
