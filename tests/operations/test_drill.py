"""The restore drill (issue #26, DOMAIN.md §7.1 and §7.2: the host must be able to restore, and prove it).

The demo territory and its activity (tele-expertise requests with attachments, telemonitoring readings and alerts,
documents) in a database and a blob store of their own; writes go on while ``maillage backup`` runs; the backup is
restored with the exported keys into another database and another blob store; then the restored row counts and
blob checksums equal the manifest's, ``maillage audit verify`` passes against the checkpoints the backup carried, a
document decrypts to the source's bytes, and the restored platform serves a signed-in page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pyotp
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from maillage.audit import service as audit
from maillage.audit.keys import keys_from_dir, use_audit_keys
from maillage.demo.accounts import DEMO_PASSWORD, demo_totp_secret
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.vault import Blob
from maillage.operations.backup import read_manifest, row_counts, sha256_file
from maillage.vault import service as vault
from maillage.vault.blobstore import LocalBlobStore
from maillage.vault.keys import DirectoryKeyRing
from tests.conftest import BACKENDS, CHILD_PYTHONPATH, ROOT, postgres_url, skip_or_fail
from tests.e2e.conftest import free_port

pytestmark = [pytest.mark.slow]
PASSPHRASE = "une phrase de passe d'exercice"


@dataclass(frozen=True)
class Site:
    """One installation: its database and its var folder (keys, blobs, audit checkpoints)."""

    url: str
    var: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "MAILLAGE_VAR_DIR": str(self.var), "MAILLAGE_DATABASE_URL": self.url,
                "MAILLAGE_ENVIRONMENT": "development", "PYTHONPATH": CHILD_PYTHONPATH,
                "MAILLAGE_KEYS_PASSPHRASE": PASSPHRASE, "MAILLAGE_PASSWORD_HASH_PROFILE": "cheapest"}

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "maillage.cli", *args], env=self.env(), cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, f"maillage {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout + result.stderr


def _administer(base: str, statement: str) -> None:
    admin = make_engine(make_url(base).set(database="postgres").render_as_string(hide_password=False), pool=False)
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(statement)
    finally:
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def sites(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Site, Site]]:
    """A source and an empty target installation on the same backend."""
    if request.param == "sqlite":
        yield (Site(f"sqlite:///{tmp_path / 'source.sqlite3'}", tmp_path / "source"),
               Site(f"sqlite:///{tmp_path / 'target.sqlite3'}", tmp_path / "target"))
        return
    base = postgres_url()
    if base is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    assert base is not None
    names = [f"{make_url(base).database}_drill_{role}_{uuid.uuid4().hex[:6]}" for role in ("src", "dst")]
    for name in names:
        _administer(base, f'CREATE DATABASE "{name}"')
    try:
        yield tuple(Site(make_url(base).set(database=name).render_as_string(hide_password=False),  # type: ignore[misc]
                         tmp_path / role) for name, role in zip(names, ("source", "target"), strict=True))
    finally:
        for name in names:
            _administer(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Writer(threading.Thread):
    """Documents and audited actions written to the source, one transaction each, until stopped."""

    def __init__(self, site: Site):
        super().__init__(daemon=True)
        self.site, self.done, self.error = site, 0, None
        self.stopping = threading.Event()

    def run(self) -> None:
        engine = make_engine(self.site.url)
        keyring = DirectoryKeyRing(self.site.var / "keys", create_if_empty=True)
        store = LocalBlobStore(self.site.var / "blobs")
        try:
            with use_audit_keys(keys_from_dir(self.site.var / "audit-keys", create_if_empty=True)):
                sessions = make_sessionmaker(engine)
                while not self.stopping.is_set():
                    with sessions() as session:
                        object_id = uuid.uuid4().hex
                        vault.store_blob(session, object_type="drill_probe", object_id=object_id,
                                         data=os.urandom(2048), media_type="application/octet-stream",
                                         keyring=keyring, blobs=store)
                        audit.record(session, action="create", object_type="drill_probe", object_id=object_id)
                        session.commit()
                    self.done += 1
        except Exception as exc:
            self.error = exc
        finally:
            engine.dispose()

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while self.done < count and self.error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.error is None, self.error
        assert self.done >= count, "the writer stalled"


def _counts(url: str) -> dict[str, int]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            return row_counts(conn)
    finally:
        engine.dispose()


def _first_document(url: str) -> tuple[uuid.UUID, str, str]:
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(Blob.id, Blob.object_type, Blob.object_id)
                               .where(Blob.object_type == "document").order_by(Blob.id).limit(1)).one()
            return row.id, row.object_type, row.object_id
    finally:
        engine.dispose()


def _decrypt(site: Site, blob: tuple[uuid.UUID, str, str]) -> bytes:
    engine = make_engine(site.url, pool=False)
    try:
        with make_sessionmaker(engine)() as session:
            return vault.read_blob(session, blob[0], object_type=blob[1], object_id=blob[2],
                                   keyring=DirectoryKeyRing(site.var / "keys"),
                                   blobs=LocalBlobStore(site.var / "blobs"))
    finally:
        engine.dispose()


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}"[^>]*value="([^"]+)"', html) or re.search(
        rf'value="([^"]+)"[^>]*name="{name}"', html)
    assert match, f"no {name} field in the page"
    return match.group(1)


def _serve_and_sign_in(site: Site, tmp_path: Path) -> str:
    """Start the restored platform, sign the GP in with password and TOTP, return the home page's HTML."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "maillage.cli", "serve", "--port", str(port),
                                    "--no-migrate"], env=site.env(), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.3)
        with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as client:
            page = client.get("/connexion")
            page = client.post("/connexion", data={"username": "dr.dupont", "password": DEMO_PASSWORD,
                                                   "csrf_token": _hidden(page.text, "csrf_token")})
            assert "/connexion/code" in str(page.url), page.text[-2000:]
            for _attempt in range(2):
                code = pyotp.TOTP(demo_totp_secret("dr.dupont")).now()
                home = client.post(str(page.url), data={"code": code, "csrf_token": _hidden(page.text, "csrf_token")})
                if "/connexion" not in str(home.url):
                    assert home.status_code == 200
                    return home.text
                time.sleep(31 - time.time() % 30)
            raise AssertionError(home.text[-2000:])
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_backup_while_writing_then_restore_elsewhere(sites: tuple[Site, Site], tmp_path: Path) -> None:
    source, target = sites
    source.ok("demo")
    source.ok("audit", "checkpoint")  # the backup must carry it and the restored chain must reach it
    source.ok("keys", "export", str(tmp_path / "keys.maillage"))

    writer = Writer(source)
    writer.start()
    try:
        writer.wait_for(3)
        before = writer.done
        source.ok("backup", str(tmp_path / "backup"))
        writer.wait_for(writer.done + 3)
    finally:
        writer.stopping.set()
        writer.join(timeout=60)
    assert writer.error is None, writer.error
    manifest = read_manifest(tmp_path / "backup")
    # The drill covers the activity the issue names: requests and their attachments, readings and alerts, documents.
    for table in ("teleexpertise_request", "monitoring_reading", "monitoring_alert", "document", "audit_entry"):
        assert manifest["tables"][table] > 0, table
    assert manifest["tables"]["vault_blob"] >= _counts(source.url)["vault_blob"] - writer.done + before
    assert manifest["tables"]["audit_entry"] < _counts(source.url)["audit_entry"], "writes went on after the snapshot"
    assert "keys" not in {p.name for p in (tmp_path / "backup").iterdir()}
    assert not any("kek-" in p.name or p.name.startswith("audit-2") for p in (tmp_path / "backup").rglob("*"))

    target.ok("keys", "import", str(tmp_path / "keys.maillage"))
    target.ok("restore", str(tmp_path / "backup"))

    assert _counts(target.url) == manifest["tables"]
    restored = LocalBlobStore(target.var / "blobs")
    for name, digest in manifest["blobs"].items():
        assert sha256_file(restored.path_for(uuid.UUID(hex=name))) == digest
    assert len(manifest["blobs"]) == manifest["tables"]["vault_blob"]
    verified = target.ok("audit", "verify")
    assert "audit chain OK" in verified and "Dernier point de contrôle signé" in verified
    document = _first_document(source.url)
    assert _decrypt(target, document) == _decrypt(source, document)
    assert "Se déconnecter" in _serve_and_sign_in(target, tmp_path)


def test_restore_refuses_a_non_empty_target_and_a_damaged_backup(sites: tuple[Site, Site], tmp_path: Path) -> None:
    source, target = sites
    source.ok("db", "upgrade")
    writer = Writer(source)
    writer.start()
    writer.wait_for(3)
    writer.stopping.set()
    writer.join(timeout=60)
    source.ok("backup", str(tmp_path / "backup"))
    # The target already holds a platform: refused, in French, nothing changed.
    target.ok("db", "upgrade")
    before = _counts(target.url)
    refused = target.run("restore", str(tmp_path / "backup"))
    assert refused.returncode == 1 and "La base cible n'est pas vide" in refused.stderr
    assert _counts(target.url) == before
    # A backup folder whose blob was altered: refused before anything is written.
    manifest = read_manifest(tmp_path / "backup")
    victim = LocalBlobStore(tmp_path / "backup" / "blobs").path_for(uuid.UUID(hex=next(iter(manifest["blobs"]))))
    victim.write_bytes(victim.read_bytes()[:-1] + bytes([victim.read_bytes()[-1] ^ 1]))
    damaged = target.run("restore", str(tmp_path / "backup"))
    assert damaged.returncode == 1 and "absent ou altéré" in damaged.stderr
    assert _counts(target.url) == before
    # A second backup into the same folder is refused too.
    again = source.run("backup", str(tmp_path / "backup"))
    assert again.returncode == 1 and "n'est pas vide" in again.stderr


def test_db_upgrade_check_changes_nothing(sites: tuple[Site, Site]) -> None:
    source, _ = sites
    pending = source.run("db", "upgrade", "--check")
    assert pending.returncode == 1 and "seraient appliquées" in pending.stderr
    assert _counts(source.url) == {}
    source.ok("db", "upgrade")
    done = source.run("db", "upgrade", "--check")
    assert done.returncode == 0 and "la base est à jour" in done.stderr

