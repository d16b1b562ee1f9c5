"""The PostgreSQL database a benchmark runs on (imported by the scripts, not run by `make bench`)."""

from __future__ import annotations

import sys

import psycopg
from sqlalchemy.engine import make_url


def sqlalchemy_url(url: str) -> str:
    """``url`` with the psycopg driver SQLAlchemy needs (``postgresql://`` and ``postgres://`` name none)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def libpq_url(url: str, database: str | None = None) -> str:
    """``url`` as libpq reads it (no SQLAlchemy driver name), on ``database`` if given."""
    target = make_url(url)
    if database is not None:
        target = target.set(database=database)
    return target.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(url: str, setting: str) -> str:
    """Create the benchmark's database if it is missing; the server's version. Exits with 2 and names ``setting``
    (the environment variable that points the benchmark elsewhere) when PostgreSQL does not answer."""
    name = make_url(url).database or ""
    try:
        with psycopg.connect(libpq_url(url, "postgres"), autocommit=True, connect_timeout=5) as conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
            row = conn.execute("SHOW server_version").fetchone()
            return str(row[0]) if row else "?"
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL injoignable : ce banc d'essai l'exige ; définissez {setting}. ({exc})", file=sys.stderr)
        raise SystemExit(2) from None
