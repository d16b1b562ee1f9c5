"""Throughput of encryption at rest: store_blob + read_blob of 1 MiB and 10 MiB documents, seals of 1 KiB bodies.

Run: `.venv/bin/python benchmarks/vault.py` (embedded SQLite in a temporary folder). With
`MAILLAGE_BENCH_DATABASE_URL=postgresql://…` it runs against that database instead (migrated to heads;
only the rows it creates, object type "bench", are deleted at the end).
Each document is committed (one unit of work per document, as a request would), then read back and checked.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _machine import cpu_model
from alembic import command
from alembic.config import Config
from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from sqlalchemy import delete
from sqlalchemy.orm import Session

from maillage.kit.db import make_engine, make_sessionmaker
from maillage.kit.logging import configure_logging
from maillage.models.vault import Blob, SealedValue
from maillage.vault import service
from maillage.vault.blobstore import LocalBlobStore
from maillage.vault.keys import DirectoryKeyRing

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def migrate(engine) -> None:  # type: ignore[no-untyped-def]
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")


def bench_documents(sessions, keyring, blobs, size: int, count: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    """MB/s for store (encrypt + write + commit), read (read + verify + decrypt) and the round trip."""
    payloads = [os.urandom(size) for _ in range(count)]
    refs = []
    start = time.perf_counter()
    for i, data in enumerate(payloads):
        with sessions() as s:
            refs.append(
                service.store_blob(
                    s,
                    object_type="bench",
                    object_id=f"doc-{size}-{i}",
                    data=data,
                    media_type="application/octet-stream",
                    keyring=keyring,
                    blobs=blobs,
                )
            )
            s.commit()
    stored = time.perf_counter() - start
    start = time.perf_counter()
    with sessions() as s:
        for i, (ref, data) in enumerate(zip(refs, payloads, strict=True)):
            out = service.read_blob(
                s, ref.id, object_type="bench", object_id=f"doc-{size}-{i}", keyring=keyring, blobs=blobs
            )
            assert out == data
    read = time.perf_counter() - start
    megabytes = size * count / 1e6
    return megabytes / stored, megabytes / read, megabytes / (stored + read)


def bench_seals(sessions, keyring, count: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    body = os.urandom(1024)
    run = uuid.uuid4().hex[:8]
    start = time.perf_counter()
    with sessions() as s:
        for i in range(count):
            service.seal(s, object_type="bench", object_id=f"msg-{run}-{i}", plaintext=body, keyring=keyring)
        s.commit()
    sealed = time.perf_counter() - start
    start = time.perf_counter()
    with sessions() as s:
        for i in range(count):
            assert service.unseal(s, object_type="bench", object_id=f"msg-{run}-{i}", keyring=keyring) == body
    unsealed = time.perf_counter() - start
    return count / sealed, count / unsealed


def main() -> None:
    import cryptography

    configure_logging("WARNING", json=False)
    with tempfile.TemporaryDirectory(prefix="maillage-bench-vault-") as tmp:
        url = os.environ.get("MAILLAGE_BENCH_DATABASE_URL") or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        engine = make_engine(url)
        migrate(engine)
        sessions = make_sessionmaker(engine)
        keyring = DirectoryKeyRing.create(Path(tmp) / "keys")
        blobs = LocalBlobStore(Path(tmp) / "blobs", max_bytes=64 * MIB)

        print(f"machine : {cpu_model()}, {os.cpu_count()} cœurs logiques, {platform.system()} {platform.machine()}")
        print(
            f"logiciel : Python {sys.version.split()[0]}, cryptography {cryptography.__version__}, "
            f"{openssl_backend.openssl_version_text()}, base {engine.dialect.name}"
        )
        for size, count in ((1 * MIB, 40), (10 * MIB, 8)):
            store, read, both = bench_documents(sessions, keyring, blobs, size, count)
            print(
                f"documents de {size // MIB} Mio × {count} : store_blob {store:.0f} Mo/s, read_blob {read:.0f} Mo/s, "
                f"aller-retour {both:.0f} Mo/s"
            )
        seals, unseals = bench_seals(sessions, keyring, 5000)
        print(f"corps de 1 Kio × 5000 : seal {seals:.0f} /s (une transaction), unseal {unseals:.0f} /s")

        with sessions() as s:
            cleanup(s)
        engine.dispose()


def cleanup(session: Session) -> None:
    session.execute(delete(SealedValue).where(SealedValue.object_type == "bench"))
    session.execute(delete(Blob).where(Blob.object_type == "bench"))
    session.commit()


if __name__ == "__main__":
    main()
