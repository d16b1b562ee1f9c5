"""Test database and application fixtures.

Every database test runs on SQLite (always) and on PostgreSQL when ``MAILLAGE_TEST_DATABASE_URL`` is
set; ``MAILLAGE_REQUIRE_POSTGRES=1`` (CI) turns a missing PostgreSQL into a failure instead of a skip.
The schema is built by running the Alembic migrations; each test runs inside a transaction that is
rolled back, with the code under test committing to savepoints.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from maillage.config import Settings
from maillage.kit.db import make_engine, normalise_url

ROOT = Path(__file__).resolve().parents[1]

# Test suites create thousands of accounts: the cheapest Argon2 parameters keep that fast. Production refuses
# this profile (config.Settings); tests/auth/test_service.py checks the default parameters separately.
os.environ.setdefault("MAILLAGE_PASSWORD_HASH_PROFILE", "cheapest")
BACKENDS = ["sqlite", "postgresql"]
# For a test of something only PostgreSQL has: generated for that backend only (its fixture still skips, or fails
# under MAILLAGE_REQUIRE_POSTGRES, when PostgreSQL is not configured), rather than skipped on SQLite.
postgresql_only = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)


def postgres_url() -> str | None:
    url = os.environ.get("MAILLAGE_TEST_DATABASE_URL", "").strip()
    return normalise_url(url) if url else None


def require(flag: str) -> bool:
    return os.environ.get(flag, "") in ("1", "true", "yes")


def skip_or_fail(flag: str, reason: str) -> None:
    if require(flag):
        pytest.fail(f"{reason} ({flag}=1 makes this mandatory)")
    pytest.skip(reason)


def run_migrations(connection: Connection, revision: str = "heads", down: bool = False) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["connection"] = connection
    if down:
        command.downgrade(cfg, revision)
    else:
        command.upgrade(cfg, revision)


def reset_postgres_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture(scope="session", autouse=True)
def _isolated_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keys, blobs and files of the process-wide settings live in a temporary folder, never in the repo's var/."""
    from maillage.config import get_settings

    var = tmp_path_factory.mktemp("var")
    patch = pytest.MonkeyPatch()
    patch.setenv("MAILLAGE_VAR_DIR", str(var))
    patch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    _reset_keyring()
    yield var
    patch.undo()
    get_settings.cache_clear()
    _reset_keyring()


def _reset_keyring() -> None:
    from maillage.audit.keys import reset_audit_keys
    from maillage.vault.blobstore import reset_blobstore
    from maillage.vault.keys import reset_keyring

    reset_keyring()
    reset_audit_keys()
    reset_blobstore()


@pytest.fixture(autouse=True)
def _own_audit_checkpoints() -> Iterator[None]:
    """Each test its own (empty) register of audit checkpoints: a periodic job run by one test must not pin the
    chain of a database that the next test builds afresh."""
    from maillage.audit.checkpoints import MemoryCheckpointStore, use_checkpoint_store

    with use_checkpoint_store(MemoryCheckpointStore()):
        yield


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and postgres_url() is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    return str(request.param)


@pytest.fixture(scope="session")
def engine(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.sqlite3"
        eng = make_engine(f"sqlite:///{path}")
    else:
        url = postgres_url()
        assert url is not None
        eng = make_engine(url, statement_timeout_ms=60_000)
        reset_postgres_schema(eng)
    with eng.begin() as conn:
        run_migrations(conn)
    yield eng
    eng.dispose()


@pytest.fixture(params=BACKENDS)
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty database of each backend (PostgreSQL: a schema of its own), for migration tests."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'mig.sqlite3'}")
        yield eng
        eng.dispose()
        return
    url = postgres_url()
    if url is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    assert url is not None
    schema = f"mig_{os.getpid()}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    conn = engine.connect()
    trans = conn.begin()
    try:
        yield conn
    finally:
        if trans.is_active:
            trans.rollback()
        conn.close()


@pytest.fixture
def sessions(connection: Connection) -> sessionmaker[Session]:
    """Sessions for the code under test: their commits become savepoints of the test's transaction."""
    return savepoint_sessions(connection)


def savepoint_sessions(connection: Connection) -> sessionmaker[Session]:
    """Sessions bound to ``connection`` whose commits become savepoints of its open transaction."""
    return sessionmaker(bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint")


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(environment="test", var_dir=tmp_path / "var", log_json=True, secret_key="t" * 40)


@pytest.fixture
def app(settings: Settings, sessions: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    from maillage.app import create_app

    return create_app(settings, sessions)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False, base_url="http://127.0.0.1") as c:
        yield c


# -- Browser (one Playwright per test session, shared by every directory) ---------------------------------

CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run",
]


def chromium_path() -> str | None:
    import shutil

    explicit = os.environ.get("MAILLAGE_CHROMIUM")
    if explicit and Path(explicit).exists():
        return explicit
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        skip_or_fail("MAILLAGE_REQUIRE_BROWSER", "Chromium absent : installez le paquet Debian « chromium »")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("MAILLAGE_REQUIRE_BROWSER", "Playwright pour Python absent")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def page(browser) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="fr-FR")
    p = context.new_page()
    yield p
    context.close()


