"""What `benchmarks/chaos.py` writes with and checks against: the demo's accounts and devices given credentials,
the ledger of acknowledged writes, and the final count in the database (imported by the script, not run by
`make bench`). Needs the run's settings in the environment (database, var folder) before it is used."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import func, select

from maillage.auth import tokens
from maillage.kit.clock import now
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from maillage.models.document import Document
from maillage.models.job import Job
from maillage.models.monitoring import MonitoringDevice, MonitoringDeviceAssignment, MonitoringReading
from maillage.models.teleexpertise import TeleexpertiseEvent, TeleexpertiseRequest

REQUESTER, EXPERT = "dr.dupont", "dr.martin"


@dataclass(frozen=True)
class World:
    device: str            # identifier of a scale assigned to an enrolment
    device_secret: str
    requester_token: str
    expert_token: str
    patient_id: str        # a patient of the requester's


def load_demo(url: str) -> None:
    """The demo territory and its activity, without the analytics warehouse (a year of synthetic claims the run
    does not use)."""
    from maillage.demo.load import DEFAULT_DEPARTEMENT, DEFAULT_SEED, build_demo
    from maillage.kit.logging import configure_logging

    configure_logging("WARNING", json=False)  # the demo's thousands of info lines are not the run's output
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            build_demo(db, DEFAULT_DEPARTEMENT, DEFAULT_SEED)
            db.commit()
    finally:
        engine.dispose()


def prepare(url: str) -> World:
    """Credentials for the demo's GP, its dermatologist and one of its assigned scales."""
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            identifier = db.scalars(
                select(MonitoringDevice.identifier)
                .join(MonitoringDeviceAssignment, MonitoringDeviceAssignment.device_id == MonitoringDevice.id)
                .where(MonitoringDeviceAssignment.ends_at.is_(None), MonitoringDevice.identifier.like("BAL-%"))
                .order_by(MonitoringDevice.identifier)).first()
            assert identifier is not None, "the demo has no assigned scale"
            device = tokens.create_device_credential(db, device_identifier=identifier, label="Chaos")
            users = {u.username: u for u in db.scalars(select(UserAccount).where(
                UserAccount.username.in_([REQUESTER, EXPERT])))}
            issued = {name: tokens.create_personal_token(db, users[name], name="chaos", scopes=[]).secret
                      for name in (REQUESTER, EXPERT)}
            patient = db.scalars(select(CareRelationship.patient_id).where(
                CareRelationship.user_id == users[REQUESTER].id).order_by(CareRelationship.patient_id)).first()
            assert patient is not None, "the demo GP has no patient"
            db.commit()
            return World(identifier, device.secret, issued[REQUESTER], issued[EXPERT], str(patient))
    finally:
        engine.dispose()


@dataclass
class Ledger:
    """Every write the client saw acknowledged (a 2xx), by its unique marker."""

    readings: set[str] = field(default_factory=set)           # device's reading ids
    documents: dict[str, str] = field(default_factory=dict)   # document id -> SHA-1 of its (unique) bytes
    requests: dict[str, str] = field(default_factory=dict)    # request id -> marker written in its question
    opinions: set[str] = field(default_factory=set)           # request ids whose signed opinion was acknowledged
    unacknowledged: Counter[str] = field(default_factory=Counter)  # attempts that got no answer (not retried)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def total(self) -> int:
        return len(self.readings) + len(self.documents) + len(self.requests) + len(self.opinions)


@dataclass
class Verdict:
    lost: Counter[str] = field(default_factory=Counter)
    duplicates: Counter[str] = field(default_factory=Counter)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()  # the platform keeps SHA-1 for FHIR's Attachment.hash


def due_jobs(url: str, before: object | None = None) -> tuple[int, int]:
    """Jobs queued and due (before ``before`` if given, else now), and jobs failed for good."""
    engine = make_engine(url, pool=False)
    try:
        with engine.connect() as conn:
            queued = conn.scalar(select(func.count()).select_from(Job).where(
                Job.status == "queued", Job.run_at <= (before or now()))) or 0
            failed = conn.scalar(select(func.count()).select_from(Job).where(Job.status == "failed")) or 0
            return int(queued), int(failed)
    finally:
        engine.dispose()


def check(url: str, ledger: Ledger, device: str) -> Verdict:
    """Each acknowledged write present exactly once."""
    verdict = Verdict()
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as db:
            stored = Counter(db.scalars(select(MonitoringReading.external_id).join(
                MonitoringDevice, MonitoringDevice.id == MonitoringReading.device_id).where(
                MonitoringDevice.identifier == device)))
            verdict.lost["mesures"] = sum(1 for rid in ledger.readings if stored[rid] == 0)
            verdict.duplicates["mesures"] = sum(1 for rid in ledger.readings if stored[rid] > 1)

            hashes = set(ledger.documents.values())
            by_hash = Counter(db.scalars(select(Document.sha1).where(Document.sha1.in_(hashes)))) if hashes else {}
            present = set(map(str, db.scalars(select(Document.id).where(
                Document.id.in_([uuid.UUID(d) for d in ledger.documents]))))) if ledger.documents else set()
            verdict.lost["documents"] = len(set(ledger.documents) - present)
            verdict.duplicates["documents"] = sum(1 for h in hashes if by_hash[h] > 1)

            markers = Counter(question.split("]", 1)[0] for question in db.scalars(select(
                TeleexpertiseRequest.question).where(TeleexpertiseRequest.question.is_not(None)))
                if question.startswith("[chaos-"))
            ids = {str(i) for i in db.scalars(select(TeleexpertiseRequest.id))}
            verdict.lost["demandes"] = len(set(ledger.requests) - ids)
            verdict.duplicates["demandes"] = sum(1 for m in ledger.requests.values() if markers[m] > 1)

            answers = Counter(str(r) for r in db.scalars(select(TeleexpertiseEvent.request_id).where(
                TeleexpertiseEvent.action == "answer")))
            signed = {str(r) for r in db.scalars(select(TeleexpertiseRequest.id).where(
                TeleexpertiseRequest.signed_at.is_not(None)))}
            verdict.lost["avis"] = sum(1 for r in ledger.opinions if r not in signed or answers[r] == 0)
            verdict.duplicates["avis"] = sum(1 for r in ledger.opinions if answers[r] > 1)
    finally:
        engine.dispose()
    return verdict
