"""The prescription as a French PDF: the prescriber (name, RPPS), the patient, the lines with their posology and
mentions, the bizone layout when a line relates to the patient's long-term condition (ALD), and the QR code that
carries the prescription's number and verification code, the number also printed under it.

The QR code is a PNG drawn by segno and embedded as an image, so that the PDF can be printed and scanned, and the
number typed when no scanner is at hand.
"""

from __future__ import annotations

import io
import uuid

import segno
from sqlalchemy.orm import Session

from maillage.document import rules as document_rules
from maillage.document import service as documents
from maillage.exceptions import Conflict
from maillage.kit.clock import PARIS
from maillage.kit.pdf import FAMILY, UnicodePDF
from maillage.prescription import rules, service
from maillage.prescription.service import LineView, PrescriptionView
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose

PRESCRIPTION_TYPE = "57833-6"  # LOINC "Prescription for medication" (document.rules.DOCUMENT_TYPES)
ALD_HEADING = "Prescriptions relatives au traitement de l'affection de longue durée reconnue (liste ou hors liste)"
OTHER_HEADING = "Prescriptions SANS RAPPORT avec l'affection de longue durée"


def qr_png(payload: str, scale: int = 6) -> bytes:
    buffer = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def _line_text(line: LineView) -> str:
    mention = f"{line.mention} - " if line.mention else ""
    what = line.line.label if line.line.kind == rules.LineKind.SPECIALITY else f"{line.line.label} (DCI)"
    renewals = f" ; à renouveler {line.line.renewals} fois" if line.line.renewals else ""
    return f"{mention}{what}\n{line.posology}\nQuantité : {line.line.quantity}{renewals}"


def render_pdf(view: PrescriptionView) -> bytes:
    p = view.prescription
    if p.number is None or p.verification_code is None or p.signed_at is None:
        raise Conflict("Une ordonnance n'a de PDF qu'une fois signée.")
    pdf = UnicodePDF(format="A4")
    pdf.set_title(f"Ordonnance {rules.display_number(p.number)}")
    pdf.set_author("Maillage")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.image(io.BytesIO(qr_png(rules.qr_payload(p.number, p.verification_code))), x=150, y=10, w=45, h=45)
    pdf.set_xy(150, 56)
    pdf.set_font(FAMILY, "B", 8)
    pdf.multi_cell(45, 4, f"{rules.display_number(p.number)}\nCode : {p.verification_code}", align="C")
    pdf.set_xy(10, 10)
    pdf.set_font(FAMILY, "B", 15)
    pdf.multi_cell(130, 9, "Ordonnance", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    rpps = f"RPPS {view.prescriber_rpps}" if view.prescriber_rpps else "RPPS non renseigné"
    pdf.multi_cell(130, 5, f"{view.prescriber_name}\n{rpps}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(FAMILY, "B", 11)
    pdf.multi_cell(130, 6, f"Patient : {view.patient_name}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    pdf.multi_cell(130, 5, f"Le {p.signed_at.astimezone(PARIS):%d/%m/%Y}\n"
                           f"À délivrer au plus tard le {p.valid_until:%d/%m/%Y}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), 66))

    def section(title: str | None, lines: list[LineView]) -> None:
        if title:
            pdf.ln(2)
            pdf.set_font(FAMILY, "B", 10)
            pdf.multi_cell(0, 5, title, border="B", new_x="LMARGIN", new_y="NEXT")
        for line in lines:
            pdf.ln(2)
            pdf.set_font(FAMILY, "", 10)
            pdf.multi_cell(0, 5, f"{line.line.position}. {_line_text(line)}", new_x="LMARGIN", new_y="NEXT")

    if view.bizone:
        section(ALD_HEADING, [line for line in view.lines if line.line.ald])
        section(OTHER_HEADING, [line for line in view.lines if not line.line.ald])
    else:
        section(None, view.lines)
    if p.instructions:
        pdf.ln(3)
        pdf.set_font(FAMILY, "B", 10)
        pdf.multi_cell(0, 5, "Instructions", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FAMILY, "", 10)
        pdf.multi_cell(0, 5, p.instructions, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)
    pdf.set_font(FAMILY, "I", 8)
    pdf.multi_cell(0, 4, "Ordonnance signée électroniquement par la plateforme Maillage (Ed25519) au nom du "
                         "prescripteur. Le pharmacien lit le QR code ou saisit le numéro : la signature et la "
                         "validité sont vérifiées avant toute délivrance, chaque ligne n'est délivrée qu'une fois.",
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def sign_and_file(session: Session, actor: Actor, prescription_id: uuid.UUID | str,
                  context: AuditContext | None = None) -> PrescriptionView:
    """Sign the prescription and file its PDF in the patient's documents (an "Ordonnance", LOINC 57833-6, generated
    from this prescription): the record holds what the patient was given, and it can be sent by MSSanté from there.
    One unit of work: a refused filing signs nothing."""
    view = service.sign(session, actor, prescription_id, context=context)
    p = view.prescription
    documents.store_upload(
        session, actor, patient_id=p.patient_id, filename=f"ordonnance-{p.number}.pdf", data=render_pdf(view),
        declared_type="application/pdf", purpose=Purpose.PRESCRIPTION, owner_type="prescription", owner_id=str(p.id),
        context=context, title=f"Ordonnance n° {p.number}", type_code=PRESCRIPTION_TYPE,
        act_date=p.signed_at.astimezone(PARIS).date() if p.signed_at else None,
        source=document_rules.Source.REPORT, origin=("prescription", str(p.id)))
    return view


def prescription_pdf(session: Session, actor: Actor, prescription_id: uuid.UUID | str,
                     context: AuditContext | None = None) -> bytes:
    """The PDF of a signed prescription, for whoever may see the patient's data (audited as a read)."""
    return render_pdf(service.view(session, actor, prescription_id, context=context))
