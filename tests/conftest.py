"""Fixtures shared by every tier: the two databases, migrated once, and per-test rollback.

`db_url` is parametrised over PostGIS and SpatiaLite. A database that cannot be reached is
skipped locally but fails the run under `--require-all-dialects` (which `./dev test` and CI pass).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from backend import schema
from backend.auth.models import Role, User
from backend.auth.principal import Principal
from backend.db import make_engine
from backend.settings import Settings
from backend.sync import feed  # noqa: F401  (the app's publisher: changes reach the feed)

DIALECTS = ("postgis", "spatialite")
DEFAULT_POSTGIS_URL = "postgresql://alluvial:alluvial@127.0.0.1:5432/alluvial_test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-all-dialects",
        action="store_true",
        help="fail, instead of skipping, when PostGIS or SpatiaLite is unavailable",
    )


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")


def _unavailable(request: pytest.FixtureRequest, why: str) -> None:
    if request.config.getoption("--require-all-dialects"):
        pytest.fail(f"required database unavailable: {why}")
    pytest.skip(why)


def postgis_url() -> str:
    return os.environ.get("TEST_POSTGIS_URL", DEFAULT_POSTGIS_URL)


def _autocommit(url: str) -> Engine:
    return make_engine(Settings(database_url=url), isolation_level="AUTOCOMMIT", poolclass=NullPool)


@contextmanager
def fresh_postgis_database(base_url: str) -> Iterator[str]:
    """A new, empty database with PostGIS for this test run, dropped afterwards.

    Runs of the suite (several developers, CI, helpers) never share tables this way.
    """
    name = f"{make_url(base_url).database}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = _autocommit(base_url)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(base_url).set(database=name).render_as_string(hide_password=False)
    try:
        with _autocommit(url).connect() as conn:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def db_url(
    dialect: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if dialect == "postgis":
        base = postgis_url()
        try:
            probe = _autocommit(base)
            with probe.connect() as conn:
                conn.execute(text("SELECT 1"))
            probe.dispose()
        except Exception as err:  # any failure to reach PostgreSQL means the dialect is missing
            _unavailable(request, f"PostgreSQL at {base}: {err}")
        try:
            with fresh_postgis_database(base) as url:
                yield url
        except Exception as err:
            if "postgis" in str(err).lower() and "extension" in str(err).lower():
                _unavailable(request, f"PostGIS extension at {base}: {err}")
            raise
        return
    path: Path = tmp_path_factory.mktemp("spatialite") / "test.sqlite"
    url = f"sqlite:///{path}"
    try:
        engine = make_engine(Settings(database_url=url))
        with engine.connect() as conn:
            conn.execute(text("SELECT spatialite_version()"))
        engine.dispose()
    except Exception as err:
        _unavailable(request, f"SpatiaLite ({os.environ.get('SPATIALITE_LIBRARY_PATH')}): {err}")
    yield url


@pytest.fixture(scope="session")
def settings(db_url: str) -> Settings:
    return Settings(database_url=db_url)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    """A migrated database with the demo country's jurisdictions, shared by the session."""
    from backend.db import session_factory
    from backend.registry.demo import seed_demo

    eng = make_engine(settings)
    schema.upgrade(eng)
    with session_factory(eng)() as session:
        seed_demo(session=session, settings=settings)
    yield eng
    eng.dispose()


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session whose commits are savepoints inside one outer transaction, rolled back after
    (as a sync push's batch session is, and as each property-test example needs its own)."""
    conn = engine.connect()
    outer = conn.begin()
    s = Session(
        bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False, autoflush=False
    )
    try:
        yield s
    finally:
        s.close()
        outer.rollback()
        conn.close()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with rolled_back(engine) as s:
        yield s


@contextmanager
def sent_statements(bind: Any) -> Iterator[list[str]]:
    """The SQL statements SQLAlchemy sends through `bind` (an engine or a connection) while the
    block runs, each on one line (a COPY goes to the driver directly and is not among them)."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(bind, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(bind, "before_cursor_execute", listen)


@pytest.fixture
def statements(session: Session) -> Iterator[list[str]]:
    """The statements the `session` fixture's connection sends during the test."""
    with sent_statements(session.connection()) as seen:
        yield seen


def principal(
    role: Role, *, districts: tuple[str, ...] = (), organisation_id: uuid.UUID | None = None
) -> Principal:
    """A principal with no user row: enough for reads and for refusals, not for writes."""
    return Principal(
        user_id=uuid.uuid4(),
        username=f"test-{role.value}-{uuid.uuid4().hex[:10]}",
        role=role,
        districts=frozenset(districts),
        organisation_id=organisation_id,
    )


def actor(session: Session, role: Role, *districts: str) -> Principal:
    """A principal backed by a real user row, since audit and history rows reference it."""
    p = principal(role, districts=districts)
    session.add(User(id=p.user_id, username=p.username, password_hash="-", role=role.value))
    session.commit()
    return p
