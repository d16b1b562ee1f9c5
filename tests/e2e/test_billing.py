"""Billing end to end in the browser, on the demo territory (issue 23's "Done when"): the demo billing officer
(fact.moreau) opens the month's statement of the support hospital, sees the TE2 and RQD of the day's tele-expertise
at 23 € and 10 €, marks them billed, and downloads the CSV and the PDF statement."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.e2e.conftest import signed_in

pytestmark = pytest.mark.e2e
WAIT = 30_000


class TestBillingInTheBrowser:
    def test_the_officer_reviews_the_month_marks_billed_and_downloads_csv_and_pdf(self, live_server, browser):
        with signed_in(browser, live_server.url, "fact.moreau") as page:
            page.set_default_timeout(WAIT)
            page.get_by_role("navigation").get_by_role("link", name="Facturation").click()
            page.wait_for_url("**/facturation**")
            page.get_by_role("heading", name="Facturation des actes de télémédecine").wait_for()
            statement = page.get_by_role("table").filter(has_text="Actes et montants par code")
            assert statement.get_by_role("row").filter(has_text="TE2").filter(has_text="À facturer").count() == 1
            assert statement.get_by_role("row").filter(has_text="RQD").filter(has_text="À facturer").count() == 1
            acts = page.get_by_role("table").filter(has_text="par date")
            assert "23,00 €" in acts.get_by_role("row").filter(has_text="TE2").first.inner_text()
            assert "10,00 €" in acts.get_by_role("row").filter(has_text="RQD").first.inner_text()

            page.get_by_role("button", name="Marquer facturés les actes cochés").click()
            page.get_by_role("status").filter(has_text="marqué(s) facturé(s)").wait_for()
            billed = page.get_by_role("table").filter(has_text="Actes et montants par code")
            assert billed.get_by_role("row").filter(has_text="TE2").filter(has_text="Facturé").count() == 1
            assert billed.get_by_role("row").filter(has_text="RQD").filter(has_text="Facturé").count() == 1

            with page.expect_download() as csv_download:
                page.get_by_role("link", name="Télécharger le CSV").click()
            rows = list(csv.reader(io.StringIO(Path(csv_download.value.path()).read_text("utf-8-sig")),
                                   delimiter=";"))
            assert rows[0][:4] == ["date_acte", "code", "libelle", "montant"]
            assert ("TE2", "23.00", "Facturé") in {(r[1], r[3], r[4]) for r in rows[1:]}
            assert ("RQD", "10.00", "Facturé") in {(r[1], r[3], r[4]) for r in rows[1:]}

            with page.expect_download() as pdf_download:
                page.get_by_role("link", name="Télécharger le relevé PDF").click()
            pdf = Path(pdf_download.value.path()).read_bytes()
            text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
            assert pdf.startswith(b"%PDF") and "Relevé des actes de télémédecine" in text and "TE2" in text
