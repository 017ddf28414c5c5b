"""The migrations build the same schema on both databases, and the server refuses an old one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from backend import schema
from backend.app import create_app
from backend.db import make_engine
from backend.settings import Settings
from backend.tables import metadata


def test_migrated_database_is_at_head(engine: Engine) -> None:
    assert schema.current_revision(engine) == schema.head_revision()
    schema.ensure_current(engine)


def test_migrations_create_every_table_of_the_models(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_server_refuses_an_unmigrated_database_and_names_the_fix(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.sqlite'}")
    with pytest.raises(schema.SchemaOutdated, match="python -m backend migrate"):
        create_app(settings)


def test_server_refuses_an_outdated_database(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'old.sqlite'}")
    eng = make_engine(settings)
    schema.upgrade(eng)
    with eng.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
    with pytest.raises(schema.SchemaOutdated, match="is at schema revision 0000"):
        create_app(settings)
    eng.dispose()
