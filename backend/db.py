"""Database engines and sessions for PostGIS and SpatiaLite, behind one interface."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlean
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from backend.settings import Settings
from offline_sync.server.sqltypes import JSONText

# Execution option of a connection whose transactions only read (see `reader_factory`).
READ_ONLY = "alluvial_read_only"


def json_text(value: Any) -> str:
    """JSON columns' text: orjson's, compact; what it cannot take (an integer past 64 bits, a
    non-string key) goes to the stdlib encoder, which also refuses what is not JSON at all.
    A `JSONText` is JSON already, and stored as it is."""
    if isinstance(value, JSONText):
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value)


def make_engine(settings: Settings, **kwargs: Any) -> Engine:
    """An engine for the URL: psycopg 3 for PostgreSQL, sqlean + SpatiaLite for SQLite."""
    url = make_url(settings.database_url)
    kwargs = {"json_serializer": json_text, **kwargs}
    if "poolclass" not in kwargs:
        kwargs = {
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            **kwargs,
        }
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url.set(drivername="sqlite+pysqlite"),
            module=sqlean,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        library = settings.spatialite_library

        @event.listens_for(engine, "connect")
        def _load_spatialite(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.enable_load_extension(True)
            dbapi_conn.load_extension(library)
            dbapi_conn.enable_load_extension(False)
            dbapi_conn.execute("PRAGMA foreign_keys = ON")
            dbapi_conn.execute("PRAGMA journal_mode = WAL")
            dbapi_conn.execute("PRAGMA busy_timeout = 30000")
            # sqlite3's implicit transactions would break Alembic DDL and SAVEPOINTs.
            dbapi_conn.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # A writer takes the write lock up front (a deferred one could fail to upgrade its
            # read to a write under WAL); a reader never takes it, so it never stalls writers.
            if conn.get_execution_options().get(READ_ONLY, False):
                conn.exec_driver_sql("BEGIN DEFERRED")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.get_backend_name() == "postgresql":
        return create_engine(url.set(drivername="postgresql+psycopg"), pool_pre_ping=True, **kwargs)
    raise ValueError(f"unsupported DATABASE_URL backend {url.get_backend_name()!r}")


def init_spatial_metadata(engine: Engine) -> None:
    """SpatiaLite keeps its geometry catalogue in tables of its own; create them once per file."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if raw.execute("SELECT CheckSpatialMetaData()").fetchone()[0] < 1:
            raw.execute("SELECT InitSpatialMetaData(1, 'WGS84')")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


def reader_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for requests that only read: on SQLite their transactions are deferred, so
    they never take the write lock; on PostgreSQL they are ordinary sessions."""
    return session_factory(engine.execution_options(**{READ_ONLY: True}))


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: the caller commits; anything uncommitted is rolled back on exit."""
    session = factory()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
