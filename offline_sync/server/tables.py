"""The sync engine's own tables: devices, the op ledger, the change feed, conflicts, quarantine,
attachments. They name no application table; the application's records are referred to by
entity name and id only."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from offline_sync.server.sqltypes import UTCDateTime, utcnow


class SyncDevice(SQLModel, table=True):
    __tablename__ = "sync_device"
    __table_args__ = (
        Index("uq_sync_device_enrolment_key", "user_id", "enrolment_key", unique=True),
    )

    id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(index=True)
    name: str = Field(max_length=100)
    platform: str | None = Field(default=None, max_length=100)
    enrolled_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: uuid.UUID | None = Field(default=None)
    last_seen_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_seq: int = Field(default=0, sa_type=BigInteger)
    clock_offset_ms: int | None = Field(default=None, sa_type=BigInteger)
    clock_drift: bool = Field(default=False)
    # The client's key for this enrolment: a resend of a lost answer finds this device again.
    enrolment_key: str | None = Field(default=None, max_length=64)


class SyncOp(SQLModel, table=True):
    """The op ledger: every op ever received, with the one answer it got."""

    __tablename__ = "sync_op"
    __table_args__ = (
        Index("ix_sync_op_pending", "status", "depends_on"),
        Index("ix_sync_op_device_seq", "device_id", "seq"),
    )

    op_id: uuid.UUID = Field(primary_key=True)
    device_id: uuid.UUID
    user_id: uuid.UUID
    seq: int = Field(sa_type=BigInteger)
    entity: str = Field(max_length=32)
    record_id: uuid.UUID = Field(index=True)
    kind: str = Field(max_length=8)
    base_version: int | None = Field(default=None)
    fields: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    content_hash: str = Field(max_length=64)
    device_time: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    clock_offset_ms: int | None = Field(default=None, sa_type=BigInteger)
    status: str = Field(max_length=16)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    depends_on: str | None = Field(default=None, max_length=80)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    settled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SyncChange(SQLModel, table=True):
    """The change feed: one row per record per scope, moved to a new `seq` on every change.

    A pull asks for rows after a cursor in its scopes, so its cost follows the changes since
    the cursor; a first pull (cursor 0) is the snapshot, each record once.
    """

    __tablename__ = "sync_change"
    __table_args__ = (
        UniqueConstraint("entity", "record_id", "scope", name="uq_sync_change_record_scope"),
        Index("ix_sync_change_scope_seq", "scope", "seq"),
    )

    seq: int = Field(
        primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False}
    )
    entity: str = Field(max_length=32)
    record_id: uuid.UUID
    scope: str = Field(max_length=64)
    kind: str = Field(max_length=8)
    version: int
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SyncConflict(SQLModel, table=True):
    """Both values of every field two writers changed; kept after resolution."""

    __tablename__ = "sync_conflict"

    id: uuid.UUID = Field(primary_key=True)
    entity: str = Field(max_length=32, index=True)
    record_id: uuid.UUID = Field(index=True)
    op_id: uuid.UUID
    device_id: uuid.UUID
    user_id: uuid.UUID
    scope: str = Field(max_length=64, index=True)
    base_version: int
    server_version: int
    fields: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="open", max_length=16, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_by: uuid.UUID | None = Field(default=None)
    resolution: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    resolution_version: int | None = Field(default=None)


class SyncQuarantine(SQLModel, table=True):
    """One op of a revoked device, refused and kept for review, never dropped.

    `status` is `unreviewed` until a supervisor reviews it (`released`, `discarded`) or the op
    is applied through a later push (`applied`).
    """

    __tablename__ = "sync_quarantine"
    __table_args__ = (Index("uq_sync_quarantine_device_op", "device_id", "op_id", unique=True),)

    id: uuid.UUID = Field(primary_key=True)
    device_id: uuid.UUID = Field(index=True)
    op_id: uuid.UUID | None = Field(default=None, index=True)
    size_bytes: int = Field(default=0, sa_type=BigInteger)
    status: str = Field(default="unreviewed", max_length=16)
    user_id: uuid.UUID
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str = Field(max_length=200)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewed_by: uuid.UUID | None = Field(default=None)
    review_note: str | None = Field(default=None, max_length=2000)


class SyncAttachment(SQLModel, table=True):
    """A file addressed by its SHA-256; immutable once complete."""

    __tablename__ = "sync_attachment"

    sha256: str = Field(primary_key=True, max_length=64)
    size: int = Field(sa_type=BigInteger)
    received: int = Field(default=0, sa_type=BigInteger)
    content_type: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    uploaded_by: uuid.UUID | None = Field(default=None)


class SyncAttachmentChunk(SQLModel, table=True):
    __tablename__ = "sync_attachment_chunk"

    sha256: str = Field(primary_key=True, max_length=64, foreign_key="sync_attachment.sha256")
    offset: int = Field(primary_key=True, sa_type=BigInteger)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
