"""Test database and application fixtures.

Every database test runs on SQLite (always) and on PostgreSQL when ``MAILLAGE_TEST_DATABASE_URL`` is
set; ``MAILLAGE_REQUIRE_POSTGRES=1`` (CI) turns a missing PostgreSQL into a failure instead of a skip.
The schema is built by running the Alembic migrations; each test runs inside a transaction that is
rolled back, with the code under test committing to savepoints.

Under pytest-xdist (``make test`` runs ``-n auto``) each worker gets a PostgreSQL database of its own, named after
the configured one with the worker's id appended, created when the worker starts and dropped when it ends; every
helper that reads ``MAILLAGE_TEST_DATABASE_URL`` then works in the worker's database. SQLite files, temporary
folders and server ports are per worker already (``tmp_path``, free ports). The run's wall-clock time is printed
at the end of the summary.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from maillage.config import Settings
from maillage.kit.db import make_engine, normalise_url

ROOT = Path(__file__).resolve().parents[1]
# For the processes a test starts (servers, workers): this checkout's own sources first (a worktree's, not an
# installed copy's), then the root for ``tests``.
CHILD_PYTHONPATH = os.pathsep.join(str(p) for p in (ROOT / "src", ROOT) if p.is_dir())

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


# -- One PostgreSQL database per xdist worker; the run's time printed at the end --------------------------------

DATABASE_URL_VARIABLE = "MAILLAGE_TEST_DATABASE_URL"
_STARTED = pytest.StashKey[float]()
_WORKER_DATABASE = pytest.StashKey[tuple[str, str]]()  # (configured URL, name of the worker's database)
_OUTCOMES = (("passed", "réussis"), ("failed", "en échec"), ("error", "en erreur"), ("skipped", "ignorés"))


def xdist_worker() -> str | None:
    """The id of this pytest-xdist worker (``gw0``, ``gw1`` ...), or None in the controller or a plain run."""
    return os.environ.get("PYTEST_XDIST_WORKER") or None


def _administer(url: str, *statements: str) -> None:
    admin = make_engine(normalise_url(make_url(url).set(database="postgres").render_as_string(hide_password=False)),
                        pool=False)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        admin.dispose()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_STARTED] = time.monotonic()
    worker, url = xdist_worker(), os.environ.get(DATABASE_URL_VARIABLE, "").strip()
    if worker is None or not url:
        return
    base = make_url(url)
    if not base.database:
        raise pytest.UsageError(f"{DATABASE_URL_VARIABLE} must name a database: each worker gets a copy of it")
    # The run's id too: two runs against the same server (two checkouts) must not drop each other's databases.
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8]
    name = f"{base.database}_{run}_{worker}" if run else f"{base.database}_{worker}"
    _administer(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    config.stash[_WORKER_DATABASE] = (url, name)
    os.environ[DATABASE_URL_VARIABLE] = base.set(database=name).render_as_string(hide_password=False)


def pytest_unconfigure(config: pytest.Config) -> None:
    created = config.stash.get(_WORKER_DATABASE, None)
    if created is not None:
        url, name = created
        os.environ[DATABASE_URL_VARIABLE] = url
        _administer(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if xdist_worker() is not None:
        return
    elapsed = round(time.monotonic() - config.stash[_STARTED])
    counts = ", ".join(f"{len(terminalreporter.stats[key])} {label}" for key, label in _OUTCOMES
                       if terminalreporter.stats.get(key))
    workers = getattr(config.option, "numprocesses", None)
    terminalreporter.write_sep("=", f"tests : {elapsed // 60} min {elapsed % 60:02d} s ({elapsed} s) de bout en bout, "
                                    f"{counts or 'aucun test'}" + (f", {workers} processus (-n)" if workers else ""))


# Tests that share one resource of the machine run on one xdist worker, one after the other (``--dist loadgroup``):
# two bridges subscribed to the machine's broker at once would each receive the other's readings.
SHARED_RESOURCE_GROUPS = {
    "tests/monitoring/test_mqtt.py::TestBridgeOnTheMachinesBroker": "machine-mqtt-broker",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for prefix, group in SHARED_RESOURCE_GROUPS.items():
            if item.nodeid.startswith(prefix):
                item.add_marker(pytest.mark.xdist_group(group))


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


