"""Database fixtures: every database test runs on SQLite and on the local PostgreSQL.

PostgreSQL: one fresh database per test session (dropped after), its schema reset for
each test. The server is found at INQUIRYD_TEST_PG (default: the local server as the
postgres user). In CI a missing server fails the run; elsewhere those tests skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon.db import Database

PG_ADMIN = os.environ.get("INQUIRYD_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(what: str, how: str) -> None:
    """Fail in CI, skip elsewhere: a real server the tests need is not there."""
    if in_ci():
        pytest.fail(f"{what} is required in CI: {how}", pytrace=False)
    pytest.skip(f"{what} not available: {how}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"inquiryd_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure means: no usable server
        admin.dispose()
        missing("PostgreSQL", f"start the local server or set INQUIRYD_TEST_PG ({exc.__class__.__name__}: {exc})")
    yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as c:
        c.execute(text("DROP SCHEMA public CASCADE"))
        c.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A database with no tables at all, on each engine."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'inquiryd.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
        _reset_postgres(url)
    db = Database(url)
    yield db
    db.dispose()


@pytest.fixture
def db(empty_db: Database) -> Database:
    """A database at the newest schema, on each engine."""
    empty_db.upgrade()
    return empty_db


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'inquiryd.db'}")
    database.upgrade()
    yield database
    database.dispose()
