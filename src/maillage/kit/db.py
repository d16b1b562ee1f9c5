"""Database plumbing shared by every package: declarative base, portable types, engines, sessions.

Portable means the same models and migrations run on SQLite (embedded default) and PostgreSQL
(production and CI). Constraints are named through one naming convention so migrations can
address them on both engines.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from sqlalchemy import JSON, DateTime, Engine, MetaData, create_engine, event, exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on both engines (SQLite stores naive text, so we re-attach UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused: use maillage.kit.clock.now()")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def new_id() -> uuid.UUID:
    """Random identifiers for everything a person or another system may see (no enumeration)."""
    return uuid.uuid4()


# JSON that becomes JSONB on PostgreSQL.
PortableJSON = JSON().with_variant(JSONB(), "postgresql")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the driver, decide where transactions begin (savepoints then work as documented).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, statement_timeout_ms: int | None = None, pool: bool = True,
                read_only: bool = False, pool_size: int | None = None) -> Engine:
    """Create an engine with the platform's settings for each backend.

    SQLite gets WAL, enforced foreign keys and a busy timeout; PostgreSQL gets a statement timeout so that
    no query holds a connection for ever. ``pool_size``: the connections kept open (SQLAlchemy's default is 5,
    plus 10 opened and closed again on demand: under load, a new PostgreSQL backend per request); as many again
    may be opened for a burst.

    ``read_only`` is for readers that run beside the server (the analytics extract): every transaction is read
    only on both backends, and on SQLite it begins DEFERRED instead of IMMEDIATE, so it takes no write lock. In
    WAL mode such a reader sees one consistent snapshot while the server keeps writing, and never makes it wait.
    """
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        if url in ("sqlite://", "sqlite:///:memory:"):
            raise ValueError("in-memory SQLite is not supported: use a file so every connection sees the data")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not pool:
        kwargs["poolclass"] = NullPool
    elif pool_size is not None and not url.startswith("sqlite"):
        kwargs["pool_size"] = pool_size
        kwargs["max_overflow"] = pool_size
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if read_only:
            event.listen(engine, "connect", _sqlite_query_only)
            event.listen(engine, "begin", _sqlite_begin_deferred)
        else:
            event.listen(engine, "begin", _sqlite_begin)
    elif engine.dialect.name == "postgresql" and read_only:
        event.listen(engine, "begin", _postgresql_read_only)
    if engine.dialect.name == "postgresql" and pool:
        ping_when_idle(engine)
    if engine.dialect.name == "postgresql" and statement_timeout_ms:
        _set_statement_timeout(engine, statement_timeout_ms)
    return engine


# A pooled connection handed back less than this long ago is handed out again without a ping.
PING_AFTER_IDLE_S = 2.0
_CHECKED_IN = "maillage_checked_in_at"


def ping_when_idle(engine: Engine, idle_s: float = PING_AFTER_IDLE_S) -> None:
    """Check a pooled connection before handing it out, only when it sat idle in the pool for ``idle_s`` or more.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip to PostgreSQL per request (two with
    who-is-calling's own pool), paid most under load, where connections go back and out again within
    milliseconds. A connection idle in the pool is where a restart of the server, a network cut or an idle
    timeout goes unnoticed: that one is pinged, with the dialect's own ping, and a dead one is replaced before
    use (``DisconnectionError`` makes the pool discard it and take another). A connection that worked a moment
    ago and broke since (the server killed while requests run) fails its request like any in-flight one, and
    the disconnect makes SQLAlchemy drop the whole pool, so the requests after it get fresh connections
    (docs/adr/0019-web-tier-connections-and-routing.md)."""

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is not None and time.monotonic() - checked_in < idle_s:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # any failure of the ping means: not this connection
            raise exc.DisconnectionError(f"connection lost while idle in the pool: {error}") from error
        if not alive:
            raise exc.DisconnectionError("connection lost while idle in the pool")


def _set_statement_timeout(engine: Engine, statement_timeout_ms: int) -> None:
    timeout = int(statement_timeout_ms)

    def _set_timeout(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {timeout}")
        dbapi_connection.commit()

    event.listen(engine, "connect", _set_timeout)


CALLER_POOL_SIZE = 4


def make_autocommit_async_engine(url: str, *, statement_timeout_ms: int | None = None,
                                 pool_size: int = CALLER_POOL_SIZE) -> AsyncEngine | None:
    """An engine on the event loop, in autocommit, for the one read every request makes before its route (who is
    calling, ``auth.middleware``): awaited on the loop, it needs no hand-off to a worker thread. PostgreSQL only (None
    otherwise). Its code is the synchronous code of the read, run by ``AsyncConnection.run_sync``; its statements
    are counted like any other (its ``sync_engine`` is an ``Engine``).

    Its pool has a fixed size and no overflow: the read lasts a fraction of a millisecond, so a burst of requests
    waits a moment for one of ``pool_size`` connections rather than opening new ones (each a new PostgreSQL
    backend, started and stopped again: that churn cost more CPU than the reads themselves at 16 clients)."""
    url = normalise_url(url)
    if not url.startswith("postgresql+psycopg://"):
        return None
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, isolation_level="AUTOCOMMIT")
    ping_when_idle(engine.sync_engine)
    if statement_timeout_ms:
        _set_statement_timeout(engine.sync_engine, statement_timeout_ms)
    return engine


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE: take the write lock at the start of every transaction. Audited reads write their audit
    # entries at commit; a deferred transaction that read first would fail at once ("database is locked")
    # if another writer committed in between, instead of waiting for the busy timeout. SQLite is the
    # embedded, single-machine default: serialising transactions costs little there.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _sqlite_begin_deferred(conn: Any) -> None:
    # A read-only transaction: DEFERRED takes a read snapshot at its first read and no write lock (WAL).
    conn.exec_driver_sql("BEGIN DEFERRED")


def _postgresql_read_only(conn: Any) -> None:
    conn.exec_driver_sql("SET TRANSACTION READ ONLY")


def make_sessionmaker(bind: Any) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url
