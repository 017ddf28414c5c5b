"""Who is asking: the authenticated user's role and scope, as every query sees it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from backend.auth.models import Role


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    username: str
    role: Role
    districts: frozenset[str] = field(default_factory=frozenset)
    organisation_id: uuid.UUID | None = None
    device_id: str | None = None
    token_id: uuid.UUID | None = None
    # True for a device's own credential (from enrolment), which is good for /sync/v1 only.
    device_credential: bool = False
    # For a change made offline: when the device made it, on the device's clock (audited).
    op_time: datetime | None = None

    @property
    def is_district_scoped(self) -> bool:
        return self.role is Role.field_officer

    @property
    def is_organisation_scoped(self) -> bool:
        return self.role in (Role.buyer, Role.exporter)

    def may_see_district(self, district_code: str | None) -> bool:
        if not self.is_district_scoped:
            return True
        return district_code is not None and district_code in self.districts
