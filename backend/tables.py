"""Imports every table module so `SQLModel.metadata` is complete (for Alembic and tests)."""

from sqlmodel import SQLModel

from backend.audit import models as audit_models
from backend.auth import models as auth_models
from backend.certificates import models as certificate_models
from backend.custody import models as custody_models
from backend.evidence import models as evidence_models
from backend.incidents import models as incident_models
from backend.insight import models as insight_models
from backend.registry import models as registry_models
from offline_sync.server import tables as sync_tables

metadata = SQLModel.metadata

__all__ = [
    "audit_models",
    "auth_models",
    "certificate_models",
    "custody_models",
    "evidence_models",
    "incident_models",
    "insight_models",
    "metadata",
    "registry_models",
    "sync_tables",
]
