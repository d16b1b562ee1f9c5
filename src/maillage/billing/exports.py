"""What leaves the billing office: the month's CSV (column layout in docs/billing.md), the PDF statement for the
establishment's direction, and the FHIR ``Claim`` Bundle (one Claim per act to bill, validated by fhir.resources).

The CSV and the PDF name no patient: a pseudonymous number (``service.patient_number``). The Claim is the claim
itself: it references the patient resource by its id on this platform, as the insurer's side resolves it.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from maillage.billing.rules import EntryStatus, Statement, month_label
from maillage.billing.service import EntryView
from maillage.directory.tariffs import label_of
from maillage.kit.numbers import fr_euros
from maillage.kit.pdf import FAMILY, UnicodePDF
from maillage.kit.spreadsheet import text_row

CSV_COLUMNS = ("date_acte", "code", "libelle", "montant", "statut", "motif", "rpps", "finess", "professionnel",
               "patient", "origine", "identifiant_acte", "corrige")
NGAP_SYSTEM = "https://www.ameli.fr/nomenclature/ngap"
RPPS_SYSTEM = "https://rpps.esante.gouv.fr"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"


def csv_bytes(rows: Sequence[EntryView]) -> bytes:
    """One line per entry, ';'-separated, UTF-8 with BOM (opens as is in a French spreadsheet); amounts with a
    decimal point, dates ISO 8601."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for v in rows:
        e = v.entry
        # The amount is the platform's own number; every other cell may start like a formula (a name typed by
        # someone else) and is written as text (maillage.kit.spreadsheet).
        writer.writerow((*text_row((e.act_date.isoformat(), e.code, label_of(e.code))), f"{e.amount:.2f}",
                         *text_row((v.status_label, v.reason_label, e.rpps or "", e.finess or "", v.professional,
                                    v.patient_number, e.source, str(e.id),
                                    str(e.corrects_id) if e.corrects_id else ""))))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


@dataclass(frozen=True)
class StatementDocument:
    establishment: str
    finess: str | None
    statement: Statement
    generated_on: str


def statement_pdf(doc: StatementDocument) -> bytes:
    """The month's statement for the direction: per code and status, counts and amounts, totals, caps reached."""
    pdf = UnicodePDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 15)
    pdf.cell(0, 9, f"Relevé des actes de télémédecine — {month_label(doc.statement.month)}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 10)
    pdf.cell(0, 6, doc.establishment + (f" (FINESS {doc.finess})" if doc.finess else ""), new_x="LMARGIN",
             new_y="NEXT")
    pdf.cell(0, 6, f"Édité le {doc.generated_on}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    widths = (22, 78, 35, 20, 30)
    pdf.set_font(FAMILY, "B", 10)
    for w, title in zip(widths, ("Code", "Libellé", "Statut", "Actes", "Montant"), strict=True):
        pdf.cell(w, 7, title, border=1)
    pdf.ln()
    pdf.set_font(FAMILY, "", 9)
    for line in doc.statement.lines:
        values = (line.code, line.label[:48], line.status.label, str(line.count), fr_euros(line.amount))
        for w, value in zip(widths, values, strict=True):
            pdf.cell(w, 6, value, border=1)
        pdf.ln()
    pdf.ln(4)
    pdf.set_font(FAMILY, "B", 10)
    for status in (EntryStatus.TO_BILL, EntryStatus.BILLED, EntryStatus.REJECTED, EntryStatus.NOT_BILLABLE):
        amount = fr_euros(doc.statement.total(status))
        pdf.cell(0, 6, f"{status.label} : {doc.statement.count(status)} acte(s), {amount}", new_x="LMARGIN",
                 new_y="NEXT")
    pdf.set_font(FAMILY, "", 9)
    pdf.cell(0, 6, f"Plafonds annuels de téléexpertise atteints ce mois : {doc.statement.caps_reached}",
             new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def claim_bundle(rows: Sequence[EntryView], created: str) -> str:
    """A FHIR R4 ``collection`` Bundle of one ``Claim`` per entry to bill (professional claim, NGAP code, amount,
    performing RPPS, establishment FINESS), validated by fhir.resources; returned as JSON. (fhir.resources is
    imported here, when an export is asked: a heavy import the pages need only then.)"""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.claim import Claim

    entries = []
    for v in rows:
        e = v.entry
        if e.status != EntryStatus.TO_BILL.value:
            continue
        provider: dict[str, object] = (
            {"identifier": {"system": RPPS_SYSTEM, "value": e.rpps}} if e.rpps
            else {"identifier": {"system": FINESS_SYSTEM, "value": e.finess or "inconnu"}})
        money = {"value": float(e.amount), "currency": "EUR"}
        resource: dict[str, object] = {
            "resourceType": "Claim", "id": str(e.id), "status": "active",
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type",
                                 "code": "professional"}]},
            "use": "claim", "patient": {"reference": f"Patient/{e.patient_id}"}, "created": created,
            "provider": provider,
            "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority",
                                     "code": "normal"}]},
            "insurance": [{"sequence": 1, "focal": True,
                           "coverage": {"display": "Assurance maladie obligatoire"}}],
            "item": [{"sequence": 1,
                      "productOrService": {"coding": [{"system": NGAP_SYSTEM, "code": e.code,
                                                       "display": label_of(e.code)}]},
                      "servicedDate": e.act_date.isoformat(), "unitPrice": money, "net": money}],
            "total": money,
        }
        if e.finess:
            resource["facility"] = {"identifier": {"system": FINESS_SYSTEM, "value": e.finess}}
        claim = Claim.model_validate(resource)
        entries.append({"fullUrl": f"urn:uuid:{e.id}", "resource": claim})
    bundle = Bundle.model_validate({"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "collection",
                                    "timestamp": created, "entry": entries})
    return json.dumps(json.loads(bundle.model_dump_json(exclude_none=True)), ensure_ascii=False, indent=1)
