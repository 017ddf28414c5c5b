"""Auth API shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from backend.auth.models import Role


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    device_id: Annotated[str, Field(max_length=64)] | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    expires_at: datetime
    token_id: uuid.UUID


class Me(BaseModel):
    user_id: uuid.UUID
    username: str
    role: Role
    districts: list[str]
    organisation_id: uuid.UUID | None
    device_id: str | None


class Revoked(BaseModel):
    revoked: int


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=3, max_length=64, pattern=r"^[a-z0-9_.-]+$")]
    password: Annotated[str, Field(min_length=10, max_length=1024)]
    role: Role
    districts: list[str] = Field(default_factory=list)
    organisation_id: uuid.UUID | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Annotated[int, Field(ge=1, le=2**31 - 1)]
    active: bool | None = None
    districts: list[str] | None = None


class UserPublic(BaseModel):
    id: uuid.UUID
    username: str
    role: Role
    districts: list[str]
    organisation_id: uuid.UUID | None
    active: bool
    version: int


class UsersPublic(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None
