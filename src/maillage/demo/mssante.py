"""The MSSanté exchange's part of the demo: external professionals of the directory get an MSSanté address (so
"Envoyer par MSSanté" offers them), and one document received by the applicative mailbox waits in the reception
inbox of the identity officer (idv.fournier): a letter from an outside hospital about a demo patient whose identity
is not qualified, so it carries no INS and must be matched by a person.

The message is built and read by the same code as real mail (an IHE XDM archive read by ``exchange.poll_mailbox``
through the in-memory transport), so the inbox shows what a real reception would.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.config import get_settings
from maillage.exchange import rules
from maillage.exchange import service as exchange
from maillage.integrations.mssante import Attachment, FakeTransport, MssMessage, build_email, xdm
from maillage.kit.clock import frozen
from maillage.models.directory import Professional
from maillage.models.patient import Patient

EXTERNAL_DOMAIN = "chu-exemple.mssante.fr"
EXTERNAL_SENDER = "Dr Paul Lefort <paul.lefort@chu-exemple.mssante.fr>"
ADDRESSED = 3


def _letter() -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text="Compte rendu de consultation (document de demonstration, fictif).")
    return bytes(pdf.output())


def _ascii(value: str) -> str:
    return "".join(c for c in value.lower() if c.isalnum()) or "pro"


def seed_demo_mssante(session: Session, id_for: Callable[[str], uuid.UUID], day: dt.datetime) -> int:
    """Give a few directory professionals an MSSanté address and leave one received document to match."""
    pros = session.scalars(select(Professional).where(Professional.source == "demo", Professional.mssante.is_(None))
                           .order_by(Professional.rpps).limit(ADDRESSED)).all()
    for p in pros:
        p.mssante = f"{_ascii(p.first_name or '')}.{_ascii(p.last_name)}@{EXTERNAL_DOMAIN}"
    patient = session.scalar(select(Patient).where(Patient.identity_status == "PROV", Patient.merged_into_id.is_(None))
                             .order_by(Patient.birth_name_norm, Patient.id).limit(1))
    if patient is None:
        return len(pros)
    at = day - dt.timedelta(hours=5)
    archive = xdm.build(xdm.Submission(
        document=xdm.OutgoingDocument(
            data=_letter(), media_type="application/pdf", title="Compte rendu de consultation de cardiologie",
            type_code=xdm.Code("11488-4", xdm.LOINC, "Compte rendu de consultation"),
            class_code=xdm.Code(rules.CLASS_REPORT.code, rules.CLASS_REPORT.system, rules.CLASS_REPORT.display),
            created_at=at, unique_id=f"2.25.{id_for('mssante/demo/letter').int}"),
        patient=xdm.PatientIdentity(identifier="IPP-DEMO-4471", authority="1.2.250.1.999.77.1",
                                    birth_name=patient.birth_name, given_names=patient.given_names,
                                    birth_date=patient.birth_date, sex=patient.sex, is_ins=False),
        author=xdm.Author(name="Paul Lefort", family="Lefort", given="Paul"), source_id="1.2.250.1.999.77",
        intended_recipient=get_settings().mssante_address, submitted_at=at))
    message = MssMessage(to=get_settings().mssante_address, subject="Compte rendu de consultation",
                         text="Cher confrère, veuillez trouver ci-joint le compte rendu.",
                         message_id=f"<demo-{id_for('mssante/demo/letter')}@{EXTERNAL_DOMAIN}>",
                         attachments=(Attachment("IHE_XDM.ZIP", "application/zip", archive),))
    transport = FakeTransport()
    transport.deliver(bytes(build_email(message, EXTERNAL_SENDER)))
    with frozen(at):
        exchange.poll_mailbox(session, transport, settings=get_settings().model_copy(
            update={"mssante_filing_username": ""}))
    return len(pros)
