"""Tables of users, their district scopes and their bearer tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlmodel import Field, SQLModel

from backend.clock import utcnow
from backend.ids import uuid7
from backend.models_base import Record
from backend.types import UTCDateTime


class Role(StrEnum):
    admin = "admin"
    ministry = "ministry"
    field_officer = "field_officer"
    buyer = "buyer"
    exporter = "exporter"
    export_office = "export_office"
    donor = "donor"
    auditor = "auditor"


class User(Record, table=True):
    __tablename__ = "app_user"

    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=32)
    organisation_id: uuid.UUID | None = Field(default=None, foreign_key="organisation.id")
    active: bool = Field(default=True)


class UserDistrict(SQLModel, table=True):
    """A grant of one district to a field officer; revoking it keeps the row, with `revoked_at`."""

    __tablename__ = "user_district"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    district_code: str = Field(foreign_key="jurisdiction.code", max_length=16)
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Token(SQLModel, table=True):
    """A bearer token, stored as its SHA-256 so a leaked table gives no usable credential."""

    __tablename__ = "auth_token"

    id: uuid.UUID = Field(default_factory=uuid7, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True, index=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    device_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # A device's own credential (from enrolment): good for /sync/v1 only, see docs/sync-protocol.md.
    device_credential: bool = Field(default=False)


class LoginThrottle(SQLModel, table=True):
    """Failed logins per account or per client address, and how long they are locked out.

    Kept in the database so that every worker process sees the same counts.
    """

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    failures: int = Field(default=0)
    first_failure_at: datetime = Field(sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
