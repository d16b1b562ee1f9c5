"""The compte rendu of a tele-expertise, as a PDF in French.

Contents (CSP R6316-4 and NGAP art. 14.9.4, DOMAIN.md §4): the patient's identity, the professionals who took part
(requester and specialist), the date and time of the act, the question and the context, the opinion with its
orientation, the exchanges, the acts recorded. Written with an embedded Unicode font (``maillage.kit.pdf``), so
"€", "œ" and every French character print as typed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from maillage.document import rules as document_rules
from maillage.document import service as documents
from maillage.exceptions import Conflict, PermissionDenied
from maillage.kit.clock import PARIS, now
from maillage.kit.numbers import fr_euros
from maillage.kit.pdf import FAMILY, RenderedDocuments, UnicodePDF
from maillage.patient import service as patients
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose
from maillage.teleexpertise import reading, steps
from maillage.teleexpertise.rules import AdmissionStatus, Orientation, Status

if TYPE_CHECKING:
    from maillage.models.document import Document
    from maillage.models.teleexpertise import TeleexpertiseRequest

# A filed compte rendu is owned by its own kind (it is no attachment of the request: it does not count in the
# request's attachments nor show among them) and carries the request as its origin.
TELEEXPERTISE_REPORT_OWNER = "teleexpertise_report"
TELEEXPERTISE_REPORT_ORIGIN = "teleexpertise_request"


def _when(value: dt.datetime | None) -> str:
    return value.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M") if value else "-"


@dataclass(frozen=True)
class ReportData:
    patient: str
    patient_birth_date: dt.date | None
    line: str
    requester: str
    expert: str
    submitted_at: dt.datetime | None
    signed_at: dt.datetime | None
    urgency: str
    question: str
    clinical_context: str
    exchanges: list[tuple[str, dt.datetime, str]]
    answer: str
    orientation: str
    act: str | None
    delay_days: int | None
    admission: str | None
    acts: list[str]
    patient_born: str = "Né le"  # agreed with the known sex: "Née le" / "Né le"
    patient_age: str | None = None
    patient_sex: str | None = None
    patient_ins: str | None = None  # "2 95 ... (Identité qualifiée)"
    patient_attending: str | None = None


# A signed opinion's compte rendu is read again as it is (by the requester, by the specialist, at each visit to the
# file): written once per process for the same content. The access is checked and audited before, each time.
WRITTEN = RenderedDocuments()


def render_pdf(data: ReportData) -> bytes:
    pdf = UnicodePDF(format="A4")
    pdf.set_title("Compte rendu de téléexpertise")
    pdf.set_author("Maillage")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    def heading(text: str) -> None:
        pdf.ln(2)
        pdf.set_font(FAMILY, "B", 12)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, "", 10)

    def line(label: str, value: str) -> None:
        pdf.set_font(FAMILY, "B", 10)
        pdf.multi_cell(0, 5, f"{label} : ", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, "", 10)
        pdf.multi_cell(0, 5, value or "-", new_x="LMARGIN", new_y="NEXT")

    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(0, 9, "Compte rendu de téléexpertise", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    heading("Patient")
    pdf.set_font(FAMILY, "B", 10)
    pdf.multi_cell(0, 5, data.patient, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    if data.patient_birth_date:
        age = f" ({data.patient_age})" if data.patient_age else ""
        line(data.patient_born, data.patient_birth_date.strftime("%d/%m/%Y") + age)
    if data.patient_sex:
        line("Sexe", data.patient_sex)
    line("INS", data.patient_ins or "non renseigné")
    line("Médecin traitant", data.patient_attending or "non déclaré")
    heading("Professionnels")
    line("Requérant", data.requester)
    line("Requis (spécialiste)", f"{data.expert} - {data.line}")
    heading("Dates")
    line("Demande envoyée le", _when(data.submitted_at))
    line("Avis rendu le (date et heure de l'acte)", _when(data.signed_at))
    line("Urgence", data.urgency)
    heading("Question")
    pdf.multi_cell(0, 5, data.question, new_x="LMARGIN", new_y="NEXT")
    if data.clinical_context:
        line("Contexte clinique", data.clinical_context)
    if data.exchanges:
        heading("Échanges")
        for who, at, body in data.exchanges:
            line(f"{who}, {_when(at)}", body)
    heading("Avis")
    pdf.multi_cell(0, 5, data.answer, new_x="LMARGIN", new_y="NEXT")
    orientation = data.orientation
    if data.act:
        orientation += f" : {data.act}"
    if data.delay_days is not None:
        orientation += f" (sous {data.delay_days} jours)"
    line("Orientation", orientation)
    if data.admission:
        line("Demande d'admission", data.admission)
    if data.acts:
        heading("Actes enregistrés")
        for act in data.acts:
            pdf.multi_cell(0, 5, act, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(FAMILY, "I", 8)
    pdf.multi_cell(0, 4, "À verser au dossier du patient tenu par chaque professionnel intervenant et au DMP "
                         "(NGAP art. 14.9.4 ; CSP R6316-4).", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def _report_data(session: Session, actor: Actor, req: TeleexpertiseRequest,
                 context: AuditContext | None) -> ReportData:
    view = patients.get_patient(session, actor, req.patient_id, purpose=Purpose.TELEEXPERTISE, context=context)
    d = reading.get_request(session, actor, req.id, context=context)

    def name(user_id: uuid.UUID | None) -> str:
        user = d.users.get(user_id) if user_id else None
        return user.display_name if user else "-"

    admission = None
    if d.admission is not None:
        admission = f"{Orientation(d.admission.orientation).label} - {AdmissionStatus(d.admission.status).label}"
    acts = [f"{a.code} — {fr_euros(a.amount)} — {a.act_date.strftime('%d/%m/%Y')} — "
            f"{'facturable' if a.billable else 'non facturable : ' + a.reason}" for a in d.acts]
    return ReportData(
        patient=view.display_name, patient_birth_date=view.patient.birth_date, patient_born=view.born_label,
        patient_age=view.age_label, patient_sex=view.sex_label, patient_attending=view.attending_name,
        patient_ins=f"{view.matricule_display or 'non renseigné'} ({view.identity_status_label})",
        line=d.line.title if d.line else "-", requester=name(req.requester_id), expert=name(req.signed_by),
        submitted_at=req.submitted_at, signed_at=req.signed_at, urgency=req.urgency, question=req.question,
        clinical_context=req.clinical_context,
        exchanges=[("Question du spécialiste" if m.kind == "question" else "Réponse du requérant", m.created_at,
                    m.body) for m in d.messages],
        answer=req.answer or "", orientation=Orientation(req.orientation or "advice_only").label, act=req.act,
        delay_days=req.delay_days, admission=admission, acts=acts)


def compte_rendu(session: Session, actor: Actor, request_id: uuid.UUID | str,
                 context: AuditContext | None = None) -> bytes:
    """The PDF compte rendu of a signed opinion, for the requester and the specialist (audited as an export)."""
    req = steps.load(session, actor, request_id, action="export", context=context)
    if actor.user_id not in (req.requester_id, req.signed_by, req.assignee_id):
        raise PermissionDenied("Le compte rendu est réservé au requérant et au spécialiste.")
    if req.status != Status.COMPLETED or req.signed_by is None:
        raise Conflict("Le compte rendu existe une fois l'avis rendu.")
    data = _report_data(session, actor, req, context)
    return WRITTEN.get_or_render(data, lambda: render_pdf(data))


def file_report(session: Session, actor: Actor, req: TeleexpertiseRequest,
                context: AuditContext | None = None) -> Document:
    """File the signed opinion's compte rendu in the patient's documents, in the signing's unit of work (a "Compte
    rendu de consultation", LOINC 11488-4, generated from this request): the record holds the opinion as signed,
    the requester and the patient's care team find it beside the other reports, and it can be sent by MSSanté from
    there. Filed once: a request already holding its report is left as it is."""
    existing = documents.generated_from(session, TELEEXPERTISE_REPORT_ORIGIN, str(req.id))
    if existing is not None:
        return existing
    data = _report_data(session, actor, req, context)
    signed = (req.signed_at or now()).astimezone(PARIS).date()
    return documents.store_upload(
        session, actor, patient_id=req.patient_id, filename=f"compte-rendu-teleexpertise-{signed}.pdf",
        data=WRITTEN.get_or_render(data, lambda: render_pdf(data)), declared_type="application/pdf",
        purpose=Purpose.TELEEXPERTISE, owner_type=TELEEXPERTISE_REPORT_OWNER, owner_id=str(req.id),
        context=context, title=f"Compte rendu de téléexpertise du {signed.strftime('%d/%m/%Y')}",
        type_code=document_rules.CONSULT_NOTE, act_date=signed, source=document_rules.Source.REPORT,
        origin=(TELEEXPERTISE_REPORT_ORIGIN, str(req.id)))
