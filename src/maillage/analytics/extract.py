"""Operational extract: copy pseudonymised facts from the operational database into the warehouse.

Each capability that holds facts worth analysing defines an ``Extractor``; ``maillage.analytics.catalogue`` lists
them all, and the extraction runs them (worker job ``analytics.extract`` or ``maillage analytics extract``) and
writes one warehouse table per extractor.

Pseudonyms are HMAC-SHA256 of the operational patient id, computed here in Python with a key held outside the
data (``MAILLAGE_PSEUDONYM_KEY_FILE``, by default ``var/keys/analytics-pseudonym.keys``), never inside the
warehouse. The key is versioned and rotatable: after a rotation, a new extraction gives every patient a new
pseudonym, unlinkable to the previous ones (as the CNAM does about every two years). Patients who objected to the
reuse of their data are excluded before anything is written: objection sources are listed like extractors.
Extractors hand raw patient ids in ``patient_column``; only this module turns them into pseudonyms, so no
extractor can forget to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from maillage.analytics import snds
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import ValidationFailed
from maillage.kit.clock import now
from maillage.kit.logging import get_logger

log = get_logger(__name__)

PSEUDONYM_COLUMN = "patient_pseudonyme"
KEY_BYTES = 32

# The table later capabilities fill for the operational telemedicine indicator (indicateur "telemedecine",
# source "operationnel"). One row per act; the patient column is pseudonymised by the extraction.
OP_TELEMEDICINE_TABLE = "OP_ACTES_TELEMEDECINE"
OP_TELEMEDICINE_SCHEMA = pa.schema([
    pa.field(PSEUDONYM_COLUMN, pa.string()),
    pa.field("commune_residence", pa.string()),
    pa.field("date_acte", pa.date32()),
    pa.field("nature", pa.string()),  # "tc" téléconsultation, "te" téléexpertise
    pa.field("etablissement", pa.string()),
    pa.field("specialite", pa.string()),
])


# --- keys ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PseudonymKey:
    version: int
    secret: bytes
    created_at: str


class KeyRing:
    """Versioned HMAC keys in one file (JSON lines), readable by the owner only; the last one is current."""

    def __init__(self, path: Path):
        self.path = path

    def _read(self) -> list[PseudonymKey]:
        if not self.path.exists():
            return []
        keys = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                data = json.loads(line)
                keys.append(PseudonymKey(int(data["version"]), base64.b64decode(data["key"]), data["created_at"]))
        return keys

    def current(self) -> PseudonymKey:
        """The key in force, created on first use."""
        keys = self._read()
        return keys[-1] if keys else self.rotate()

    def versions(self) -> list[int]:
        return [k.version for k in self._read()]

    def rotate(self) -> PseudonymKey:
        """Add a new key; the next extraction uses it, and pseudonyms change for every patient."""
        keys = self._read()
        key = PseudonymKey(
            version=(keys[-1].version + 1) if keys else 1,
            secret=secrets.token_bytes(KEY_BYTES),
            created_at=now().isoformat(timespec="seconds"),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"version": key.version, "key": base64.b64encode(key.secret).decode(),
                           "created_at": key.created_at})
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        os.chmod(self.path, 0o600)
        return key


def pseudonym(secret: bytes, patient_id: str) -> str:
    """HMAC-SHA256 of the operational patient id, hexadecimal."""
    return hmac.new(secret, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()


def keyring_from_settings(warehouse: Warehouse) -> KeyRing:
    from maillage.config import get_settings

    settings = get_settings()
    path = settings.pseudonym_key_file or settings.key_dir / "analytics-pseudonym.keys"
    return checked_keyring(path, warehouse)


def checked_keyring(path: Path, warehouse: Warehouse) -> KeyRing:
    resolved, root = path.resolve(), warehouse.root.resolve()
    if resolved == root or root in resolved.parents:
        raise ValidationFailed("La clé de pseudonymisation ne doit pas être rangée dans l'entrepôt de données.")
    return KeyRing(path)


# --- the registry ----------------------------------------------------------------------------------------------
@dataclass
class ExtractionContext:
    session: Any  # a SQLAlchemy Session on the operational database (read only)
    objections: frozenset[str] = frozenset()
    communes: Any = None  # optional pandas DataFrame of the territory's communes


@dataclass(frozen=True)
class Extractor:
    name: str
    table: str
    schema: pa.Schema  # of the warehouse table (with ``patient_pseudonyme`` when patient_column is set)
    fetch: Callable[[ExtractionContext], pa.Table]
    patient_column: str | None = None  # raw operational patient id in what ``fetch`` returns
    description: str = ""


ObjectionSource = Callable[[Any], Iterable[str]]
"""``source(session)`` returns the operational ids of patients who objected to the reuse of their data."""


def objections(session: Any, sources: Iterable[ObjectionSource]) -> frozenset[str]:
    found: set[str] = set()
    for source in sources:
        found.update(str(p) for p in source(session))
    return frozenset(found)


@dataclass
class ExtractionReport:
    key_version: int
    tables: dict[str, int] = field(default_factory=dict)
    excluded_rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def protect(table: pa.Table, extractor: Extractor, secret: bytes, objected: frozenset[str]) -> tuple[pa.Table, int]:
    """Drop the rows of patients who objected, replace the raw id by its pseudonym, keep only declared columns."""
    if extractor.patient_column is None:
        return table.select(extractor.schema.names).cast(extractor.schema), 0
    raw = table.column(extractor.patient_column).cast(pa.string())
    if raw.null_count:
        raise ValidationFailed(f"Extraction {extractor.name} : identifiant patient manquant.")
    keep = pc.invert(pc.is_in(raw, value_set=pa.array(sorted(objected), pa.string())))
    kept = table.filter(keep)
    excluded = table.num_rows - kept.num_rows
    ids = kept.column(extractor.patient_column).cast(pa.string()).to_pylist()
    pseudonyms = pa.array([pseudonym(secret, str(i)) for i in ids], pa.string())
    kept = kept.drop_columns([extractor.patient_column]).append_column(PSEUDONYM_COLUMN, pseudonyms)
    return kept.select(extractor.schema.names).cast(extractor.schema), excluded


def run_extraction(context: ExtractionContext, warehouse: Warehouse, keyring: KeyRing, *,
                   extractors: Sequence[Extractor], objection_sources: Sequence[ObjectionSource],
                   only: Iterable[str] | None = None,
                   progress: Callable[[str], None] | None = None) -> ExtractionReport:
    """Run ``extractors`` (all, or those named in ``only``) and write their tables into the warehouse, without the
    patients that ``objection_sources`` name (unless ``context.objections`` already lists them).

    Both lists are explicit (``maillage.analytics.catalogue`` holds the platform's): no extractor and no objection
    source is known by having been imported."""
    names = [e.name for e in extractors]
    if len(names) != len(set(names)):
        raise ValueError(f"extractor names must be unique: {sorted(names)}")
    wanted = set(only) if only is not None else None
    chosen = [e for e in sorted(extractors, key=lambda e: e.name) if wanted is None or e.name in wanted]
    if wanted is not None and len(chosen) != len(wanted):
        unknown = sorted(wanted - {e.name for e in chosen})
        raise ValidationFailed(f"Extracteur inconnu : {', '.join(unknown)}.")
    key = keyring.current()
    if not context.objections:
        context.objections = objections(context.session, objection_sources)
    report = ExtractionReport(key_version=key.version)
    for extractor in chosen:
        try:
            raw = extractor.fetch(context)
        except LookupError as exc:  # the source does not exist on this installation (yet)
            report.skipped[extractor.name] = str(exc)
            continue
        table, excluded = protect(raw, extractor, key.secret, context.objections)
        warehouse.write_table(extractor.table, table, synthetic=False)
        report.tables[extractor.table] = table.num_rows
        report.excluded_rows[extractor.table] = excluded
        log.info("analytics.extracted", extractor=extractor.name, rows=table.num_rows, excluded=excluded)
        if progress is not None:
            progress(extractor.name)
    warehouse.update_manifest(
        source=warehouse.manifest().get("source", "extraction") if warehouse.is_synthetic else "extraction",
        extracted_at=now().isoformat(timespec="seconds"),
        pseudonym_key_version=key.version,
        extractors=sorted(report.tables),
    )
    warehouse.refresh_catalog()
    return report


# --- built-in extractors (the clinical ones live in ``clinical``) --------------------------------------------------
def territory_departements(session: Any) -> list[str]:
    """The départements of the territory's GHTs in the operational database (none: no GHT recorded)."""
    if session is None:
        return []
    from sqlalchemy import inspect, select

    from maillage.models.directory import Ght

    if not inspect(session.connection()).has_table(Ght.__tablename__):
        return []
    return sorted({d for d in session.scalars(select(Ght.departement)) if d})


def _fetch_communes(context: ExtractionContext) -> pa.Table:
    """The communes of the territory's départements (all of France when no GHT is recorded)."""
    import pandas as pd

    from maillage.analytics.communes import load_real_communes

    if context.communes is not None:
        frame = context.communes
    else:
        departements = territory_departements(context.session)
        frames = [load_real_communes(d) for d in departements] if departements else [load_real_communes()]
        frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return pa.Table.from_pandas(frame, schema=snds.COMMUNES.schema, preserve_index=False)


COMMUNES_EXTRACTOR = Extractor(
    name="communes",
    table="COMMUNES",
    schema=snds.COMMUNES.schema,
    fetch=_fetch_communes,
    description="Communes des départements du territoire (code INSEE, département, population, coordonnées).",
)


def extract_from_database(url: str, warehouse: Warehouse, *, extractors: Sequence[Extractor],
                          objection_sources: Sequence[ObjectionSource], only: Iterable[str] | None = None,
                          progress: Callable[[str], None] | None = None) -> ExtractionReport:
    """The extraction on a read-only connection of its own, safe beside a running server.

    Every read happens in one read-only transaction: on SQLite it begins DEFERRED and takes no write lock (WAL
    lets the server keep writing and the extraction sees one snapshot); on PostgreSQL it is READ ONLY."""
    from maillage.kit.db import make_engine, make_sessionmaker

    engine = make_engine(url, read_only=True, pool=False)
    try:
        with make_sessionmaker(engine)() as session:
            report = run_extraction(ExtractionContext(session=session), warehouse, keyring_from_settings(warehouse),
                                    extractors=extractors, objection_sources=objection_sources, only=only,
                                    progress=progress)
            session.rollback()
    finally:
        engine.dispose()
    return report
