"""The compte rendu of a tele-expertise, as a PDF in French.

Contents (CSP R6316-4 and NGAP art. 14.9.4, DOMAIN.md §4): the patient's identity, the professionals who took part
(requester and specialist), the date and time of the act, the question and the context, the opinion with its
orientation, the exchanges, the acts recorded. Written with an embedded Unicode font (``maillage.kit.pdf``), so
"€", "œ" and every French character print as typed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from maillage.kit.clock import PARIS
from maillage.kit.pdf import FAMILY, UnicodePDF


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
    born = f", né(e) le {data.patient_birth_date.strftime('%d/%m/%Y')}" if data.patient_birth_date else ""
    pdf.multi_cell(0, 5, data.patient + born, new_x="LMARGIN", new_y="NEXT")
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
