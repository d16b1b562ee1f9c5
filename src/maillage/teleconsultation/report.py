"""The compte rendu of a teleconsultation, signed by the practitioner: a PDF document of the patient, and the act.

Contents (CSP R6316-4, DOMAIN.md §4): the patient's identity, the professionals who took part (the practitioner and
the requester), the date and time of the act, the report, the acts and prescriptions made, the technical incidents,
the patient's consent (and a third person's presence). Signing it (once, by the practitioner, the consultation
ended) stores the PDF as a document of the patient (encrypted, reached through ``authz`` by whoever cares for the
patient: the requester reads it) and records the act: TCG, priced at the act's date from the dated tariff table.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.directory.tariffs import tariff_for
from maillage.document import rules as document_rules
from maillage.document import service as documents
from maillage.exceptions import Conflict, PermissionDenied, ValidationFailed
from maillage.kit.clock import now
from maillage.kit.numbers import fr_euros
from maillage.kit.pdf import FAMILY, UnicodePDF
from maillage.models.teleconsultation import TeleconsultationAct, TeleconsultationAppointment
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose
from maillage.teleconsultation import aftercare, assisted, booking, rules
from maillage.teleconsultation import repository as repo
from maillage.teleconsultation.rules import Status

ACT_CODE = "TCG"  # the code of a practitioner in sector 1 or OPTAM; sector 2: TC (``aftercare.act_code_for``)
MIN_REPORT_CHARS = 20
MAX_CHARS = 20_000


@dataclass(frozen=True)
class ReportIn:
    report: str
    prescriptions: str = ""
    incidents: str = ""


def report_problems(data: ReportIn) -> list[dict[str, str]]:
    """What is missing from a report, field by field (empty: it can be signed)."""
    problems = []
    if len(data.report.strip()) < MIN_REPORT_CHARS:
        problems.append({"field": "report", "message": f"Rédigez le compte rendu ({MIN_REPORT_CHARS} caractères au "
                                                       "moins)."})
    for field, value in (("report", data.report), ("prescriptions", data.prescriptions),
                         ("incidents", data.incidents)):
        if len(value) > MAX_CHARS:
            problems.append({"field": field, "message": f"{MAX_CHARS} caractères au plus."})
    return problems


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(rules.PARIS).strftime("%d/%m/%Y à %H:%M") if value else "-"


def render_pdf(*, patient: list[tuple[str, str]], practitioner: str, line: str, requester: str,
               appt: TeleconsultationAppointment, data: ReportIn, act: str, signed_at: dt.datetime,
               nurse: str = "", recipients: str = "") -> bytes:
    pdf = UnicodePDF(format="A4")
    pdf.set_title("Compte rendu de téléconsultation")
    pdf.set_creation_date(signed_at)  # the signature's time: the same report gives the same file
    pdf.set_author("Maillage")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    def heading(text: str) -> None:
        pdf.ln(2)
        pdf.set_font(FAMILY, "B", 12)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, "", 10)

    def line_of(label: str, value: str) -> None:
        pdf.set_font(FAMILY, "B", 10)
        pdf.multi_cell(0, 5, f"{label} : ", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, "", 10)
        pdf.multi_cell(0, 5, value or "-", new_x="LMARGIN", new_y="NEXT")

    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(0, 9, "Compte rendu de téléconsultation", new_x="LMARGIN", new_y="NEXT")
    heading("Patient")
    for label, value in patient:
        line_of(label, value)
    heading("Professionnels")
    line_of("Médecin téléconsultant", f"{practitioner} - {line}")
    line_of("Demandée par", requester)
    if nurse:
        line_of("Infirmier(ère) auprès du patient", nurse)
    if recipients:
        line_of("Compte rendu adressé aussi à", recipients)
    heading("Consultation")
    line_of("Date et heure de l'acte", _when(appt.admitted_at or appt.starts_at))
    line_of("Fin", _when(appt.ended_at))
    line_of("Lieu", "À distance (vidéo)" if appt.place == rules.REMOTE else appt.place)
    consent = f"Recueilli le {_when(appt.consent_at)}" if appt.consent_at else "Non recueilli par le lien du patient"
    if appt.consent_at and appt.consent_recorded_by and nurse:
        consent = f"Recueilli le {_when(appt.consent_at)} par {nurse}, pour le patient"
    if appt.third_party_present:
        consent += ", en présence d'un tiers accepté par le patient"
    line_of("Consentement du patient", consent)
    if appt.reason:
        line_of("Motif", appt.reason)
    heading("Compte rendu")
    pdf.multi_cell(0, 5, data.report.strip(), new_x="LMARGIN", new_y="NEXT")
    line_of("Actes et prescriptions", data.prescriptions.strip() or "Aucun")
    line_of("Incidents techniques", data.incidents.strip() or "Aucun")
    heading("Acte enregistré")
    pdf.multi_cell(0, 5, act, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FAMILY, "I", 8)
    pdf.multi_cell(0, 4, f"Signé par {practitioner} le {_when(signed_at)}. À verser au dossier du patient, adressé "
                         "au médecin traitant et au médecin demandeur (CSP R6316-4).", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def sign(session: Session, actor: Actor, appointment_id: uuid.UUID | str, data: ReportIn,
         context: AuditContext | None = None) -> TeleconsultationAppointment:
    """The practitioner signs the report of an ended consultation, once: the PDF becomes a document of the patient,
    the act is recorded at the act's date."""
    appt = booking.load(session, actor, appointment_id, action="sign", context=context)
    if appt.practitioner_id != actor.user_id:
        raise PermissionDenied("Seul le praticien de la téléconsultation signe son compte rendu.")
    if appt.status != Status.DONE:
        raise Conflict("Le compte rendu se signe une fois la consultation terminée.")
    if appt.report_signed_at is not None:
        raise Conflict("Le compte rendu est déjà signé.")
    problems = report_problems(data)
    if problems:
        raise ValidationFailed(problems[0]["message"], details=problems)
    view = patients.get_patient(session, actor, appt.patient_id, purpose=Purpose.TELECONSULTATION, context=context)
    at = now()
    act_date = (appt.admitted_at or appt.starts_at).astimezone(rules.PARIS).date()
    code = aftercare.act_code_for(session, appt.practitioner_id)  # TCG, or TC in sector 2 (DOMAIN.md §2.1)
    tariff = tariff_for(code, act_date)
    users = repo.users_by_ids(session, [u for u in (appt.practitioner_id, appt.requester_id,
                                                    appt.assisting_nurse_id) if u])
    recipients = assisted.send_report(session, appt)
    line = repo.line(session, appt.line_id)

    def name(user_id: uuid.UUID) -> str:
        user = users.get(user_id)
        return user.display_name if user else "-"

    act_text = f"{code} — {fr_euros(tariff.amount)} — {act_date.strftime('%d/%m/%Y')} ({tariff.source})"
    pdf = render_pdf(
        patient=[("Nom", view.display_name),
                 (view.born_label, f"{view.patient.birth_date.strftime('%d/%m/%Y')} ({view.age_label})"),
                 ("Sexe", view.sex_label),
                 ("INS", f"{view.matricule_display or 'non renseigné'} ({view.identity_status_label})"),
                 ("Médecin traitant", view.attending_name or "non déclaré")],
        practitioner=name(appt.practitioner_id), line=line.title if line else "-", requester=name(appt.requester_id),
        appt=appt, data=data, act=act_text, signed_at=at,
        nurse=name(appt.assisting_nurse_id) if appt.assisting_nurse_id else "",
        recipients=", ".join(f"{r.name} ({r.establishment})" for r in recipients))
    document = documents.store_upload(
        session, actor, patient_id=appt.patient_id, filename=f"compte-rendu-teleconsultation-{act_date}.pdf",
        data=pdf, declared_type="application/pdf", purpose=Purpose.TELECONSULTATION,
        owner_type=booking.OBJECT_TYPE, owner_id=str(appt.id), context=context,
        title=f"Compte rendu de téléconsultation du {act_date.strftime('%d/%m/%Y')}",
        type_code=document_rules.CONSULT_NOTE, act_date=act_date, source=document_rules.Source.REPORT,
        origin=(booking.OBJECT_TYPE, str(appt.id)))
    appt.report = data.report.strip()
    appt.report_prescriptions = data.prescriptions.strip() or None
    appt.report_incidents = data.incidents.strip() or None
    appt.report_signed_at = at
    appt.report_document_id = document.id
    appt.updated_at = at
    session.add(TeleconsultationAct(
        appointment_id=appt.id, patient_id=appt.patient_id, professional_user_id=appt.practitioner_id,
        code=code, act_date=act_date, amount=tariff.amount, tariff_source=tariff.source, created_at=at))
    session.flush()
    aftercare.send_report(session, actor, appt)
    return appt


def acts_of(session: Session, appointment_id: uuid.UUID) -> list[TeleconsultationAct]:
    return list(session.scalars(select(TeleconsultationAct).where(
        TeleconsultationAct.appointment_id == appointment_id).order_by(TeleconsultationAct.code)))
