"""Schema state: migrate a database to head, and refuse to serve one that is not at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from backend.db import init_spatial_metadata


class SchemaOutdated(Exception):
    """The database is not at the code's migration head; the message says how to fix it."""


MIGRATIONS = Path(__file__).parent / "migrations"
FIX_COMMAND = "python -m backend migrate"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def ensure_postgis(engine: Engine) -> None:
    """PostGIS must be in the database before the first migration (a no-op where it is)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as conn:
        installed = conn.exec_driver_sql(
            "SELECT 1 FROM pg_extension WHERE extname = 'postgis'"
        ).first()
        if installed is None:
            conn.exec_driver_sql("CREATE EXTENSION postgis")


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    init_spatial_metadata(engine)
    ensure_postgis(engine)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def revise(engine: Engine, message: str) -> None:
    """Autogenerate a new revision against `engine` (a developer tool, not run in production)."""
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.revision(config, message=message, autogenerate=True)


def ensure_current(engine: Engine) -> None:
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    where = engine.url.render_as_string(hide_password=True)
    if current is None:
        raise SchemaOutdated(
            f"The database {where} has no schema yet. Run `{FIX_COMMAND}` to create it."
        )
    raise SchemaOutdated(
        f"The database {where} is at schema revision {current}, this code needs {head}. "
        f"Run `{FIX_COMMAND}` to upgrade it."
    )
