"""E-prescription end to end in the browser, on the demo territory (issue 22's "Done when"): the dermatologist
(dr.martin) writes and signs a prescription from one of her opinions; the PDF carries the QR code, read back here
and matched to the number; the demo pharmacist (pharma.petit) finds it by its number, dispenses one line with a
generic of its group and leaves the other; the dermatologist sees the dispensation; a second dispensation of the
dispensed line (from a page opened before the first) is refused."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from typing import Any

import pytest
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from tests.conftest import CHILD_PYTHONPATH, ROOT
from tests.e2e.conftest import signed_in

pytestmark = pytest.mark.e2e
WAIT = 30_000

# The dermatologist's most recent signed opinion, read in the live server's database (pages never show ids).
LATEST_OPINION = """
from sqlalchemy import select
from maillage.auth.cli import unit_of_work
from maillage.models.auth import UserAccount
from maillage.models.teleexpertise import TeleexpertiseRequest as R
with unit_of_work() as db:
    derm = db.scalar(select(UserAccount.id).where(UserAccount.username == "dr.martin"))
    print(db.scalar(select(R.id).where(R.status == "completed", R.signed_by == derm)
                    .order_by(R.signed_at.desc()).limit(1)))
"""


def latest_opinion(live_server: Any) -> str:
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(live_server.var_dir), "MAILLAGE_ENVIRONMENT": "development",
           "PYTHONPATH": CHILD_PYTHONPATH}
    env.pop("MAILLAGE_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", LATEST_OPINION], env=env, cwd=ROOT, check=True, timeout=120,
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


def qr_payloads(pdf: bytes) -> list[str]:
    found = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            found += [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(image.data)).convert("L"))]
    return found


class TestPrescriptionInTheBrowser:
    def test_signed_from_an_opinion_read_by_its_qr_code_dispensed_with_a_generic_and_once_only(
            self, live_server, browser):
        url = live_server.url
        opinion = latest_opinion(live_server)
        with signed_in(browser, url, "dr.martin") as derm:
            derm.goto(f"{url}/teleexpertise/demandes/{opinion}")
            derm.get_by_role("link", name="Rédiger une ordonnance").click()
            derm.wait_for_url(re.compile(r"/ordonnances/nouvelle\?origine=opinion"), timeout=WAIT)
            assert "Avis de téléexpertise" in derm.inner_text("main")
            derm.fill("#l1_drug", "dermoval")
            derm.select_option("#l1_dose_unit", "application")
            derm.fill("#l1_duration", "2")
            derm.select_option("#l1_duration_unit", "week")
            derm.fill("#l1_conditions", "le soir, en couche fine")
            derm.fill("#l2_drug", "Doxycycline 100 mg, comprimé")
            derm.check("input[name='l2_dci']")
            derm.select_option("#l2_dose_unit", "comprimé")
            derm.fill("#l2_duration", "3")
            derm.select_option("#l2_duration_unit", "month")
            derm.get_by_role("button", name="Enregistrer le brouillon et vérifier").click()
            derm.get_by_role("button", name="Signer l'ordonnance").wait_for(timeout=WAIT)
            derm.get_by_role("button", name="Signer l'ordonnance").click()
            derm.locator("p.success", has_text="Ordonnance signée").wait_for(timeout=WAIT)
            prescription_url = derm.url.split("?")[0]
            number = re.search(r"n° ([0-9 ]{19})", derm.inner_text("h1")).group(1).replace(" ", "")
            pdf = derm.request.get(prescription_url + "/ordonnance.pdf")
            assert pdf.status == 200
            (payload,) = qr_payloads(pdf.body())
            assert payload.startswith(f"MAILLAGE-RX:{number}:")

            with signed_in(browser, url, "pharma.petit") as pharmacist:
                pharmacist.goto(url + "/officine")
                pharmacist.get_by_label("Numéro de l'ordonnance").fill(" ".join(re.findall("....", number)))
                pharmacist.get_by_role("button", name="Rechercher l'ordonnance").click()
                pharmacist.locator("p.success", has_text="Signature vérifiée").wait_for(timeout=WAIT)
                stale = pharmacist.context.new_page()  # a second counter, opened before the first dispensation
                stale.goto(f"{url}/officine?numero={number}")
                stale.locator("p.success", has_text="Signature vérifiée").wait_for(timeout=WAIT)

                pharmacist.locator("select[id^='outcome_']").nth(0).select_option("substituted")
                pharmacist.locator("select[id^='substitute_']").nth(0).select_option(
                    label="CLOBÉTASOL ARROW 0,05 %, crème")
                pharmacist.get_by_role("button", name="Enregistrer la délivrance").click()
                pharmacist.locator("p.success", has_text="Délivrance enregistrée").wait_for(timeout=WAIT)

                stale.locator("select[id^='outcome_']").nth(0).select_option("delivered")
                stale.get_by_role("button", name="Enregistrer la délivrance").click()
                stale.locator("p.error", has_text="Cette ligne a déjà été entièrement délivrée").wait_for(
                    timeout=WAIT)

            derm.goto(prescription_url)
            lines = derm.inner_text("table")
            assert "Délivré, substitué par un générique : 1 (CLOBÉTASOL ARROW 0,05 %, crème)" in lines
            assert "Rien délivré" in lines
            assert "Délivrée en partie" in derm.inner_text("main")
