"""Issue 15, finding 2: free text about patients is encrypted at rest, every column of it, checked from the models.

The rule, generated from the metadata: a table holds patient data when it is ``patient``, has a ``patient_id`` (or
``*_patient_id``) column, or refers by foreign key to such a table. Each text column (``String``/``Text``) of such a
table is either sealed (``SealedText``, the vault's envelope in the database) or listed in ``CLEAR`` with the reason
it stays in clear. A new free-text column that is neither fails here.

Then every sealed column is written through its service with its own marker (and so are a document's content,
in the blob store, and a value sealed by the vault itself), committed, checkpointed, and the
marker is searched for in the database's files (SQLite: the file and its ``-wal``; PostgreSQL: the tables' and
indexes' files, TOAST included, and the WAL segments written during the test) and in the blob store. The
controls write a marker in a clear column and find it, so the search itself can fail.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Engine, String, Table, Text, func, select, text, type_coerce

from maillage.authz import service as authz
from maillage.config import Settings
from maillage.document import service as documents
from maillage.exchange import service as exchange
from maillage.integrations.mssante import Attachment, FakeTransport, MssMessage, build_email, xdm
from maillage.kit.clock import frozen
from maillage.kit.db import make_sessionmaker
from maillage.kit.sealed import SealedText
from maillage.messaging import service as msg_service
from maillage.messaging.rules import TeamKind
from maillage.models import Base
from maillage.models.audit import AuditEntry
from maillage.models.document import Document
from maillage.models.monitoring import MonitoringAlert
from maillage.monitoring import ingest as pipeline
from maillage.monitoring import service as monitoring
from maillage.patient import allergy, vigilance
from maillage.prescription import service as rx_service
from maillage.prescription.rules import Outcome
from maillage.teleconsultation import aftercare as tc_aftercare
from maillage.teleconsultation import booking as tc_booking
from maillage.teleconsultation import patient_link
from maillage.teleconsultation import report as tc_report
from maillage.teleexpertise import service as teleexpertise
from maillage.teleexpertise.schemas import AdmissionUpdate, MessageIn, OpinionIn
from maillage.vault import service as vault
from maillage.vault.blobstore import LocalBlobStore, use_blobstore
from maillage.vault.columns import PREFIX, sealed_columns
from tests.conftest import run_migrations
from tests.corpus.make_corpus import _pdf, _report_objects, _stream
from tests.fixtures.factories import make_user
from tests.fixtures.messaging import msg_world
from tests.fixtures.patients import insert_record, qualified, traits
from tests.fixtures.patients import physician as patient_physician
from tests.fixtures.prescription import doxycycline_dci as rx_dci
from tests.fixtures.prescription import rx_world
from tests.fixtures.prescription import signed as rx_signed
from tests.fixtures.teleconsultation import FIRST_SLOT, MONDAY_9H, clinic
from tests.fixtures.teleconsultation import book as tc_book
from tests.fixtures.teleexpertise import actor, draft, photo, world
from tests.monitoring.conftest import backdate, enrol_patient, register, weights
from tests.vault.conftest import FreshDatabase

IDENTITY = "identity trait or its comparison form, in clear for identity matching and duplicate search (DOMAIN §1.2)"
CODE = "a code from a closed list (status, kind, purpose, unit...), checked by a constraint or the rules"
REFERENCE = "an identifier, key or hash, no free text"

# Text columns of patient tables that stay in clear, with the reason. Everything else must be SealedText.
CLEAR: dict[str, str] = {
    **{f"patient.{c}": IDENTITY for c in (
        "birth_name", "given_names", "sex", "birthplace", "used_name", "used_given_name", "birth_name_norm",
        "first_given_name_norm", "used_name_norm", "duplicate_key", "ins_matricule", "ins_oid")},
    "patient.identity_status": CODE,
    "patient.identity_document": CODE,
    **{f"patient.{c}": "contact and residence, no health data; shown and searched by the staff who call the patient"
       for c in ("phone", "email", "address_line", "postcode", "commune_insee")},
    **{f"audit_entry.{c}": REFERENCE for c in (
        "actor_id", "establishment_id", "object_id", "patient_id", "request_id", "address", "prev_hash", "hash")},
    **{f"audit_entry.{c}": CODE for c in ("actor_role", "action", "object_type", "purpose", "outcome")},
    "audit_entry.key_id": "the id of the audit key the entry's hash is keyed with",
    "audit_entry_patient.patient_id": REFERENCE,
    "break_glass_access.ground": CODE,
    **{f"care_relationship.{c}": CODE for c in ("kind", "source_type")},
    "care_relationship.source_id": REFERENCE,
    "document.owner_type": CODE,
    "document.owner_id": REFERENCE,
    "document.media_type": CODE,
    "document.sha256": REFERENCE,
    "document.sha1": REFERENCE,
    "document.purpose": CODE,
    **{f"document.{c}": CODE for c in ("type_code", "source", "origin_type", "status", "confidentiality")},
    "document.origin_id": REFERENCE,
    "identity_pair_review.decision": CODE,
    "patient_consent.purpose": CODE,
    **{f"patient_allergy.{c}": CODE for c in ("kind", "criticality", "status")},
    "patient_allergy.substance_code": "a substance code of the public drug database (CIS_COMPO), to match the "
                                      "compositions of prescribed drugs; the substance as typed and the reaction are "
                                      "sealed",
    "patient_consent.decision": CODE,
    "patient_consent.source": CODE,
    "monitoring_enrolment.programme": CODE,
    "monitoring_enrolment.status": CODE,
    "monitoring_enrolment.end_reason": CODE,
    "monitoring_pause.reason": CODE,
    "monitoring_forfait.level": CODE,
    "monitoring_reading.external_id": "the device's reading id, for idempotent ingestion",
    **{f"monitoring_reading.{c}": CODE for c in ("measure", "unit", "original_unit", "status")},
    **{f"monitoring_alert.{c}": CODE for c in ("condition", "severity", "status", "measure", "close_reason")},
    "monitoring_alert.open_key": REFERENCE,
    "monitoring_alert.reading_key": REFERENCE,
    "monitoring_alert.message": "written by the rules engine from the measure and value (kept in clear in "
                                "monitoring_reading and monitoring_alert.value for alerting), never by a person; "
                                "rewritten on the ingestion hot path",
    "monitoring_alert.source": "the bibliographic source of the rule (HAS, ESC...), the same for every patient",
    "monitoring_alert_event.kind": CODE,
    **{f"teleexpertise_request.{c}": CODE for c in ("status", "urgency", "orientation")},
    **{f"teleexpertise_event.{c}": CODE for c in ("action", "from_status", "to_status")},
    "teleexpertise_message.kind": CODE,
    **{f"teleexpertise_admission.{c}": CODE for c in ("orientation", "status")},
    "teleexpertise_act.code": CODE,
    "teleexpertise_act.tariff_source": "the tariff's legal source, the same for every act",
    "teleexpertise_act.reason": "the billing rule's verdict (rules.act_decision), fixed texts, no patient detail",
    **{f"billing_entry.{c}": CODE for c in ("source", "code", "status")},
    "billing_entry.source_key": "the source's name and the source act's id, written by the collector",
    "billing_entry.rpps": "the performing professional's public RPPS number, no patient data",
    "billing_entry.finess": "the establishment's public FINESS number",
    "billing_entry.tariff_source": "the tariff's legal source, the same for every act",
    "prediction_score.band": "low / moderate / high, computed from the score's probability (a closed list)",
    "billing_entry.reason": "a code of billing.rules.Reason (a closed list, the officer chooses from it), never text",
    "teleexpertise_notification.kind": CODE,
    "teleconsultation_appointment.status": CODE,
    "teleconsultation_appointment.place": "'remote' or a teleconsultation room's name, from the practitioner's "
                                          "availability",
    "teleconsultation_act.code": CODE,
    "teleconsultation_act.tariff_source": "the dated tariff table's source, fixed texts",
    "teleconsultation_link.token_hash": "SHA-256 of a random secret",
    "teleconsultation_link.session_hash": "SHA-256 of a random secret",
    "teleconsultation_appointment.assistance": CODE,
    "teleconsultation_appointment.follow_up_kind": CODE,
    "teleconsultation_event.kind": CODE,
    "teleconsultation_notice.kind": CODE,
    "teleconsultation_quality_sample.role": CODE,
    **{f"teleconsultation_guest.{c}": CODE for c in ("capacity", "patient_decision")},
    "teleconsultation_guest.token_hash": "SHA-256 of a random secret",
    "teleconsultation_guest.session_hash": "SHA-256 of a random secret",
    "message_thread.kind": CODE,
    "message_thread.subject_terms": "keyed hashes (HMAC) of the subject's words, for search; the subject is sealed",
    "message_participant.team_kind": CODE,
    "message_attachment.media_type": "the sniffed type of the file (image/png...), a code of the upload checks",
    "message_attachment.sha256": "SHA-256 of the file's content",
    "message_revision.kind": CODE,
    **{f"mssante_send.{c}": CODE for c in ("source_type", "status", "cda_code")},
    **{f"mssante_send.{c}": REFERENCE for c in ("source_id", "delivery_key", "message_id")},
    "mssante_send.recipient": "a professional's MSSanté address (directory data, chosen or typed; not about the "
                              "patient)",
    "mssante_received.mailbox": "the platform's own applicative mailbox address",
    "mssante_received.message_id": "the Message-ID header: an identifier chosen by the sending system",
    **{f"mssante_received.{c}": CODE for c in ("status", "reason_code")},
    "mssante_received.reason": "a French sentence from the fixed lists of exchange.rules, xdm and the upload checks "
                               "(about the file, never the message's text)",
    **{f"prescription.{c}": CODE for c in ("source_kind", "status")},
    "prescription.number": "the prescription's number, printed under its QR code and typed by the pharmacist",
    **{f"prescription.{c}": REFERENCE for c in ("signature", "signing_key_id", "verification_code")},
    **{f"prescription_line.{c}": CODE for c in ("kind", "dose_unit", "period", "duration_unit",
                                               "non_substitution_reason")},
    **{f"prescription_line.{c}": "a code of the public drug database (CIS, CIP13), needed to check a substitution "
                                 "against the generic groups; the drug's label and the free text are sealed"
       for c in ("cis", "cip13")},
    "prescription_dispensation.outcome": CODE,
    "prescription_dispensation.substitute_cis": "a CIS code of the public drug database (the generic dispensed)",
}


# JSON columns of patient tables: structured values written by the code, never a person's free text.
CLEAR_STRUCTURED: dict[str, str] = {
    "prediction_score.factors": "the model's top factors: feature codes and numbers, never text (analytics.predict)",
    "audit_entry.details": "ids, counts and codes given by the services (hash-chained with the entry)",
    "patient.identity_attributes": "INS reliability attributes, codes of a closed list",
    "monitoring_enrolment.reference_values": "numbers (dry weight...) the alerting engine reads on every batch",
    "monitoring_enrolment.overrides": "rule settings (thresholds), numbers checked by the rules",
    "monitoring_enrolment.enhanced_periods": "dates of the enhanced monitoring periods",
    "monitoring_rule_state.state": "the alerting engine's state per enrolment (recent values and times), rewritten "
                                   "on every batch",
    "teleexpertise_request.provided": "codes of directory.specialties.Requirement, others refused by the service",
}


def patient_tables() -> list[Table]:
    tables = Base.metadata.sorted_tables
    names = {t.name for t in tables if t.name == "patient"
             or any(c.name == "patient_id" or c.name.endswith("_patient_id") for c in t.columns)}
    grown = True
    while grown:
        grown = False
        for t in tables:
            if t.name not in names and any(fk.column.table.name in names for fk in t.foreign_keys):
                names.add(t.name)
                grown = True
    return [t for t in tables if t.name in names]


def text_columns() -> dict[str, Any]:
    return {f"{t.name}.{c.name}": c for t in patient_tables() for c in t.columns
            if isinstance(c.type, String | Text | SealedText)}


class TestEveryFreeTextColumnIsSealed:
    def test_patient_tables_are_found_by_the_rule(self):
        names = {t.name for t in patient_tables()}
        assert {"patient", "teleexpertise_request", "teleexpertise_message", "teleexpertise_event",
                "monitoring_alert", "monitoring_alert_event", "document", "identity_merge", "break_glass_access",
                "audit_entry"} <= names
        assert "user_account" not in names and "vault_sealed_value" not in names

    def test_each_text_column_of_a_patient_table_is_sealed_or_listed_with_its_reason(self):
        unlisted = [name for name, c in text_columns().items() if not isinstance(c.type, SealedText)
                    and name not in CLEAR]
        assert unlisted == [], f"free text in clear: seal it (SealedText) or list it in CLEAR with why: {unlisted}"

    def test_each_json_column_of_a_patient_table_is_listed_as_structured(self):
        found = {f"{t.name}.{c.name}" for t in patient_tables() for c in t.columns if isinstance(c.type, JSON)
                 or isinstance(getattr(c.type, "impl", None), JSON)}
        assert found == set(CLEAR_STRUCTURED)

    def test_the_list_of_exceptions_names_only_clear_columns_that_exist(self):
        columns = text_columns()
        stale = [name for name in CLEAR if name not in columns or isinstance(columns[name].type, SealedText)]
        assert stale == []

    def test_each_sealed_column_is_bound_to_its_own_table_and_column(self):
        wrong = [(t.name, c.name, c.type.scope) for t, c in sealed_columns()  # type: ignore[attr-defined]
                 if c.type.scope != f"{t.name}.{c.name}"]  # type: ignore[attr-defined]
        assert wrong == [] and len(sealed_columns()) >= 17


# --- The markers, written through the services ---------------------------------------------------------------


def marker_of(column: str) -> str:
    return f"Marqueur-{column.replace('.', '-')}-{uuid.uuid4().hex}"


def write_through_services(db: Any, markers: dict[str, str], settings: Settings) -> None:
    """Every sealed column receives its marker from the service that writes it in production."""
    m = markers
    # Tele-expertise: question, context, attachment (document name and title), thread, hand back, opinion with an
    # act, admission refused; a second request declined.
    w = world(db)
    req = draft(db, w, question=f"{m['teleexpertise_request.question']} : lésion du dos ?",
                clinical_context=m["teleexpertise_request.clinical_context"])
    teleexpertise.add_attachment(db, actor(db, w.requester), req.id, filename=f"{m['document.display_name']}.png",
                                 data=photo(), declared_type="image/png", title=m["document.title"])
    page_text = _stream(b"BT /F1 16 Tf 72 770 Td (%s) Tj ET" % m["vault_blob.content"].encode())
    report = _pdf([*_report_objects(pages=1)[:-1], page_text])
    teleexpertise.add_attachment(db, actor(db, w.requester), req.id, filename="compte-rendu.pdf", data=report,
                                 declared_type="application/pdf")
    wrong = teleexpertise.add_attachment(db, actor(db, w.requester), req.id, filename="erreur.png", data=photo(),
                                         declared_type="image/png")
    documents.mark_entered_in_error(db, actor(db, w.requester), wrong.id, m["document.status_reason"])
    teleexpertise.submit(db, actor(db, w.requester), req.id, consent_recorded_now=True)
    teleexpertise.claim(db, actor(db, w.expert), req.id)
    teleexpertise.ask(db, actor(db, w.expert), req.id, MessageIn(body=m["teleexpertise_message.body"]))
    reply = MessageIn(body=f"Réponse {m['teleexpertise_message.body']}")
    teleexpertise.reply(db, actor(db, w.requester), req.id, reply)
    teleexpertise.hand_back(db, actor(db, w.expert), req.id, m["teleexpertise_event.reason"])
    teleexpertise.claim(db, actor(db, w.expert), req.id)
    teleexpertise.answer(db, actor(db, w.expert), req.id, OpinionIn(
        answer=m["teleexpertise_request.answer"], orientation="scheduled_hospitalisation",
        act=m["teleexpertise_request.act"]))
    teleexpertise.update_admission(db, actor(db, w.expert), req.id, AdmissionUpdate(
        status="refused", reason=m["teleexpertise_admission.reason"]))
    other = draft(db, w)
    teleexpertise.add_attachment(db, actor(db, w.requester), other.id, filename="photo.png", data=photo(),
                                 declared_type="image/png")
    teleexpertise.submit(db, actor(db, w.requester), other.id, consent_recorded_now=True)
    teleexpertise.decline(db, actor(db, w.colleague), other.id, m["teleexpertise_request.closing_reason"])
    # Teleconsultation: a booking's reason, a cancellation's reason, the three texts of a signed report.
    with frozen(MONDAY_9H) as clock:
        c = clinic(db)
        booked = tc_book(db, c, reason=m["teleconsultation_appointment.reason"])
        other = tc_book(db, c, starts_at=FIRST_SLOT + dt.timedelta(minutes=20))
        clock.advance(dt.timedelta(minutes=1))
        tc_booking.cancel(db, c.a(db, c.gp), other.appointment.id, m["teleconsultation_appointment.closing_reason"])
        clock.advance(FIRST_SLOT - clock.now - dt.timedelta(minutes=5))
        _, secret = patient_link.open_link(db, booked.link)
        patient_link.consent(db, secret, teleconsultation=True, third_party=False)
        tc_booking.admit(db, c.a(db, c.specialist), booked.appointment.id)
        clock.advance(dt.timedelta(minutes=15))
        tc_booking.end(db, c.a(db, c.specialist), booked.appointment.id)
        tc_report.sign(db, c.a(db, c.specialist), booked.appointment.id, tc_report.ReportIn(
            report=m["teleconsultation_appointment.report"],
            prescriptions=m["teleconsultation_appointment.report_prescriptions"],
            incidents=m["teleconsultation_appointment.report_incidents"]))
        tc_aftercare.order_follow_up(db, c.a(db, c.specialist), booked.appointment.id, tc_aftercare.FollowUpIn(
            kind="in_person", note=m["teleconsultation_appointment.follow_up_note"]))
    # Messaging: a thread about a patient to the dermatology line (its subject, its first message corrected: the
    # earlier text kept as a revision), a colleague added with a reason, a photo joined under its name.
    mw = msg_world(db)
    thread = msg_service.create_thread(db, mw.a(db, mw.gp), msg_service.NewThread(
        subject=m["message_thread.subject"], body=f"Première version {m['message_revision.body']}",
        teams=((TeamKind.LINE, mw.line_id),), patient_id=mw.patient_id,
        reason="Avis dermatologique demandé sur une lésion du dos"))
    first = msg_service.first_message_id(db, thread.id)
    msg_service.edit_message(db, mw.a(db, mw.gp), first, f"Version corrigée {m['message.body']}")
    msg_service.add_participant(db, mw.a(db, mw.gp), thread.id, user_id=mw.backup.id,
                                reason=m["message_participant.reason"])
    msg_service.add_attachment(db, mw.a(db, mw.gp), first, filename=f"{m['message_attachment.display_name']}.png",
                               data=photo(), declared_type="image/png")
    # Telesurveillance: an alert acknowledged with a comment (the alert and its history).
    users = {"admin": make_user(db, "administrator"), "physician": make_user(db, "physician"),
             "nurse": make_user(db, "coordinating_nurse")}
    admin, doctor, nurse = (actor(db, users[k]) for k in ("admin", "physician", "nurse"))
    team = monitoring.create_team(db, admin, establishment_id=uuid.uuid4(), name="Télésurveillance")
    monitoring.add_member(db, admin, team.id, users["physician"].id, "physician")
    monitoring.add_member(db, admin, team.id, users["nurse"].id, "nurse")
    device, _ = register(db, doctor, team, f"SCALE-{uuid.uuid4().hex[:8]}")
    enrolment = backdate(db, enrol_patient(db, doctor, team, devices=[device.device_identifier]), 10)
    pipeline.ingest(db, device, weights((3, 78.0), (0, 80.5)))
    alert_id = db.scalar(select(MonitoringAlert.id).where(MonitoringAlert.enrolment_id == enrolment.id,
                                                          MonitoringAlert.condition == "weight_gain_3d"))
    comment = f"{m['monitoring_alert.comment']} {m['monitoring_alert_event.comment']}"
    monitoring.acknowledge(db, nurse, alert_id, comment)
    # Identity vigilance: a merge and its undoing.
    owner = patient_physician(db)
    kept = qualified(db, owner, 0)
    twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].title())
    officer = actor(db, make_user(db, "identity_officer"))
    merge = vigilance.merge_patients(db, officer, kept_id=kept.patient.id, merged_id=twin.id,
                                     reason=m["identity_merge.reason"])
    vigilance.unmerge_patients(db, officer, merge.id, m["identity_merge.unmerge_reason"])
    # Break the glass (its reason goes to the access and to the audit trail), then its review.
    emergency = make_user(db, "physician")
    access = authz.break_glass(db, actor(db, emergency), kept.patient.id,
                               f"{m['break_glass_access.reason']} {m['audit_entry.reason']}", settings=settings)
    authz.review_break_glass(db, actor(db, make_user(db, "administrator")), access.id,
                             m["break_glass_access.review_comment"])
    # MSSanté: a message received without INS (its sender, subject and declared identity sealed; the original a blob).
    mss_settings = settings.model_copy(update={"mssante_filing_username": ""})
    archive = xdm.build(xdm.Submission(
        document=xdm.OutgoingDocument(data=report, media_type="application/pdf", title="Compte rendu",
                                      type_code=xdm.Code("11488-4", xdm.LOINC, "Compte rendu"),
                                      class_code=xdm.Code("11", "1.2.250.1.213.1.1.4.1", "Compte rendu"),
                                      created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), unique_id="2.25.7"),
        patient=xdm.PatientIdentity(identifier="IPP-1", authority="1.2.250.1.999.5.1",
                                    birth_name=m["mssante_received.declared_birth_name"],
                                    given_names=m["mssante_received.declared_identity"],
                                    birth_date=dt.date(1950, 1, 1), sex="F"),
        author=xdm.Author(name="Paul Lefort"), source_id="1.2.250.1.999.5", intended_recipient="bal@mssante.test",
        submitted_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC)))
    inbox = FakeTransport()
    inbox.deliver(bytes(build_email(MssMessage(
        to="bal@mssante.test", subject=m["mssante_received.subject"], text="Bonjour", message_id="<marker@ext.test>",
        attachments=(Attachment("IHE_XDM.ZIP", "application/zip", archive),)),
        f"{m['mssante_received.sender']}@chu-ext.mssante.fr")))
    exchange.poll_mailbox(db, inbox, settings=mss_settings)
    # Prescription: a line by substance (its label) with conditions, instructions (also in the signed content), a
    # line not delivered with its reason; a second prescription cancelled with its reason.
    rx = rx_world(db, 7)
    written = rx_dci(label=m["prescription_line.label"], conditions=m["prescription_line.conditions"])
    prescribed = rx_signed(db, rx, written,
                           instructions=f"{m['prescription.instructions']} {m['prescription.signed_content']}")
    rx_service.dispense(db, rx.a(db, rx.pharmacist), prescribed.prescription.id, [rx_service.DispenseEntry(
        prescribed.lines[0].line.id, Outcome.NOT_DELIVERED, 0, reason=m["prescription_dispensation.reason"])])
    cancelled = rx_signed(db, rx, rx_dci())
    rx_service.cancel(db, rx.a(db, rx.prescriber), cancelled.prescription.id, m["prescription.cancel_reason"])
    # Allergies: the substance as typed and the reaction.
    allergy.record_allergy(db, actor(db, owner), kept.patient.id, allergy.AllergyIn(
        substance=m["patient_allergy.substance"], reaction=m["patient_allergy.reaction"], kind="allergy",
        criticality="high"))
    # A value sealed by the vault itself (what the second factor's secret uses).
    vault.seal(db, object_type="user_account", object_id=str(emergency.id), field="note",
               plaintext=m["vault_sealed_value.ciphertext"].encode())


def check_written(db: Any, markers: dict[str, str]) -> None:
    """Each marker is really in its column (read back, decrypted) and the column holds envelopes only."""
    for table, column in sealed_columns():
        name = f"{table.name}.{column.name}"
        values = [v for v in db.scalars(select(column).where(column.is_not(None))) if markers[name] in v]
        assert values, f"{name}: the marker was not written"
        raw = db.scalars(select(type_coerce(column, Text())).where(column.is_not(None))).all()
        assert raw and all(v.startswith(PREFIX) for v in raw), name


def leaks(markers: dict[str, str], files: list[Path]) -> dict[str, list[str]]:
    """For each marker found, the files holding it (UTF-8, UTF-16 or UTF-32); each file is read once."""
    needles = {name: [marker.encode(e) for e in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le")]
               for name, marker in markers.items()}
    found: dict[str, list[str]] = {}
    for path in files:
        try:
            content = path.read_bytes()
        except FileNotFoundError:  # a WAL segment recycled meanwhile
            continue
        for name, forms in needles.items():
            if any(form in content for form in forms):
                found.setdefault(name, []).append(str(path))
    return found


def read_document(db: Any, document: Any) -> bytes:
    return vault.read_blob(db, document.blob_id, object_type="document", object_id=str(document.id))


# --- Where the bytes are --------------------------------------------------------------------------------------


@pytest.fixture
def at_rest(fresh_database: FreshDatabase) -> tuple[Engine, Any]:
    """A database of its own whose commits are real (files to search), built by the migrations."""
    with fresh_database.engine.begin() as conn:
        run_migrations(conn)
    fresh_database.mark()
    return fresh_database.engine, fresh_database.files


class TestNoMarkerAtRest:
    def test_every_sealed_column_written_through_its_service_leaves_no_marker_in_the_files(self, at_rest, tmp_path):
        engine, files = at_rest
        names = [f"{t.name}.{c.name}" for t, c in sealed_columns()] + ["vault_blob.content",
                                                                        "vault_sealed_value.ciphertext"]
        markers = {name: marker_of(name) for name in names}
        store = LocalBlobStore(tmp_path / "blobs")
        settings = Settings(environment="test", var_dir=tmp_path, secret_key="s" * 40)
        with use_blobstore(store):
            with make_sessionmaker(engine)() as db:
                write_through_services(db, markers, settings)
                db.commit()
            with make_sessionmaker(engine)() as db:
                check_written(db, markers)
                pdf = [d for d in db.scalars(select(Document)) if d.display_name == "compte-rendu.pdf"]
                assert markers["vault_blob.content"].encode() in read_document(db, pdf[0])
                assert db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.break_glass)) >= 1
        found = files()
        assert found
        assert leaks(markers, [*found, *[p for p in store.root.rglob("*") if p.is_file()]]) == {}

    def test_the_search_finds_a_marker_written_in_a_clear_column(self, at_rest):
        """The control: the same search, on the same database, sees a committed clear text (a job's name)."""
        engine, files = at_rest
        marker = marker_of("job.name")
        with engine.begin() as conn:
            conn.execute(text("insert into job (name, args, status, run_at, attempts, max_attempts, created_at) "
                              "values (:n, '{}', 'queued', '2026-01-01', 0, 5, '2026-01-01')"), {"n": marker})
        assert leaks({"job.name": marker}, files())
