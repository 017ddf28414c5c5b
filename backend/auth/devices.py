"""What a device credential may reach: /sync/v1 only, never enrolment, nothing once revoked.

A device's own credential (from `POST /sync/v1/devices`) lives months on a tablet that can be
lost, so it is narrower than a user's token: it cannot read or write /api/v1 at all, cannot
enrol another device, and once its device is revoked it can only push, and that push lands in
quarantine (bounded) for a supervisor to review. The rules are in docs/sync-protocol.md.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from backend.auth.principal import Principal
from backend.errors import Forbidden
from offline_sync.server.tables import SyncDevice

SYNC_PREFIX = "/sync/v1/"
ENROL = ("POST", "/sync/v1/devices")
QUARANTINED_PUSH = ("POST", "/sync/v1/push")


def check_device_credential(
    session: Session, principal: Principal, *, method: str, path: str
) -> None:
    """Refuse (403) what a device credential may not do; return quietly otherwise."""
    if not path.startswith(SYNC_PREFIX):
        raise Forbidden(
            "a device credential is for /sync/v1 only; sign in as the user "
            "(POST /api/v1/auth/token) for /api/v1",
            code="device-credential",
        )
    if (method, path.rstrip("/")) == ENROL:
        raise Forbidden(
            "a device cannot enrol another device; enrol with the user's own token",
            code="device-credential",
        )
    try:
        device = session.get(SyncDevice, uuid.UUID(principal.device_id or ""))
    except ValueError:
        device = None
    if device is None or device.user_id != principal.user_id:
        raise Forbidden("this device credential names no enrolled device", code="device-credential")
    if device.revoked_at is not None and (method, path.rstrip("/")) != QUARANTINED_PUSH:
        raise Forbidden(
            f"device {device.id} was revoked at {device.revoked_at.isoformat()}",
            code="device-revoked",
        )
