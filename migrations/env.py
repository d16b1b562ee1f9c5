"""Alembic environment. Revision files never import maillage; only this file reads the models, for autogenerate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from maillage.config import get_settings
from maillage.kit.db import make_engine, normalise_url
from maillage.models import Base
from maillage.vault.columns import CIPHER

config = context.config
target_metadata = Base.metadata
# Revisions that encrypt or decrypt existing rows (sealed text columns) take the cipher from here, with the
# process's key ring: revision files never import maillage.
config.attributes.setdefault("text_cipher", CIPHER)


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or get_settings().effective_database_url
    return normalise_url(url)


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url(), pool=False)
    assert isinstance(engine.pool, pool.NullPool)
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite changes a constraint by rebuilding the table (batch mode): with foreign keys enforced, dropping
            # the old table would fail on its dependants' rows. Enforcement is off for the run (a pragma that only
            # takes effect outside a transaction: sent on the driver's connection before SQLAlchemy begins one),
            # every key is checked after it, and it is on again.
            raw = conn.connection.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA foreign_keys=OFF")
        _run(conn)
        if sqlite:
            broken = raw.execute("PRAGMA foreign_key_check").fetchall()
            raw.execute("PRAGMA foreign_keys=ON")
            if broken:
                raise RuntimeError(f"foreign keys broken by the migration: {broken[:10]}")
    engine.dispose()


def render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    """Render the kit's portable types as plain SQLAlchemy types, so revisions never import maillage."""
    if type_ == "type" and type(obj).__name__ == "UTCDateTime":
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and type(obj).__name__ == "SealedText":
        return "sa.Text()"
    return False


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
