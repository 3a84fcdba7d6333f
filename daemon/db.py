"""The database edge: engine, unit of work, and schema migrations.

SQLite (WAL, foreign keys on, a busy timeout) is the default under state/; PostgreSQL
works by URL. The schema is owned by the Alembic migrations in daemon/migrations/;
`upgrade()` brings any database to the newest revision.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from daemon.errors import ConfigError, TemporaryError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")


def after_commit(session: Session, committed: Callable[[], None],
                 rolled_back: Callable[[], None]) -> None:
    """Run `committed` once the unit of work's transaction is committed, `rolled_back`
    if it is rolled back instead: for what must follow the database, not lead it (a
    draft becomes visible to reviewers only once its row exists)."""
    session.info.setdefault(_HOOKS, []).append((committed, rolled_back))


_HOOKS = "inquiryd.after_commit"


def _run_hooks(session: Session, *, committed: bool) -> None:
    # The transaction's outcome is settled: a failing action is logged, never raised,
    # or a committed message would be counted as failed and handled twice.
    for done, undone in session.info.pop(_HOOKS, []):
        try:
            (done if committed else undone)()
        except Exception:  # noqa: BLE001 - see above; the sweep finishes what is left
            log.exception("event=after_commit_failed committed=%s", committed)


def make_engine(url: str) -> Engine:
    """An engine for URL; for SQLite, creates the folder and turns on WAL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg"))
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Python's sqlite3 only opens a transaction before INSERT/UPDATE/DELETE, so each
    # CREATE TABLE of a migration would commit alone and a kill would leave half a
    # schema. Take the transactions over: autocommit at the driver, BEGIN on our begin.
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses no commit
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(connection: Any) -> None:
    # A unit of work reads, then writes. Begun deferred, its first write fails at once
    # ("database is locked", no busy wait) when another connection wrote since its read
    # began, such as the heartbeat thread renewing the leases. IMMEDIATE takes the write
    # lock at the start and waits its turn; plain reads (engine.connect) stay deferred.
    immediate = connection.get_execution_options().get("sqlite_immediate")
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One database: an engine, a session factory and the unit of work."""

    def __init__(self, url: str):
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine.execution_options(sqlite_immediate=True),
                                      expire_on_commit=False)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise.

        What `after_commit` attached runs once the outcome is known: its first action
        after the commit, its second after a rollback.
        """
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            _run_hooks(session, committed=False)
            raise
        else:
            _run_hooks(session, committed=True)
        finally:
            session.close()

    def upgrade(self) -> list[str]:
        """Apply every pending migration; return the revisions applied, oldest first."""
        before = self.pending_revisions()
        with self.engine.begin() as connection:
            cfg = _alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
        return before

    def pending_revisions(self) -> list[str]:
        """Revisions between the database's schema and the newest; [] when current."""
        script = ScriptDirectory.from_config(_alembic_config())
        try:
            with self.engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_heads()
        except OperationalError as exc:
            raise TemporaryError(f"database {self.safe_url}: {exc.orig}") from None
        pending = [
            rev.revision
            for rev in script.iterate_revisions("heads", current[0] if current else "base")
        ]
        return list(reversed(pending))

    def ensure_schema(self) -> None:
        """Upgrade when behind, with a log line; used by `run` and `poll`."""
        pending = self.pending_revisions()
        if pending:
            log.info("event=db_upgrade url=%s revisions=%s", self.safe_url, ",".join(pending))
            self.upgrade()

    @property
    def safe_url(self) -> str:
        return make_url(self.url).render_as_string(hide_password=True)

    def dispose(self) -> None:
        self.engine.dispose()


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def open_database(url: str) -> Database:
    """Open URL, turning a malformed URL into a ConfigError."""
    try:
        return Database(url)
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy raises several types for bad URLs
        raise ConfigError(f"database.url: cannot open {url!r}: {exc}") from None


def advisory_lock(session: Session, key: str) -> bool:
    """Serialise with other instances on `key` until this transaction ends (PostgreSQL's
    transaction-level advisory lock); nothing to do on SQLite, which has one instance.
    True when a lock was taken (and another instance may have just released it)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                    {"key": key})
    return True
