"""Patient allergies end to end in the browser, on the demo territory: the dermatologist (dr.martin) opens the record
of the demo patient known to be allergic to amoxicillin, records a second allergy and marks it entered in error,
then writes a prescription of amoxicillin: the form lists the allergy, the checks before signing warn of it, and
signing is not blocked."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import CHILD_PYTHONPATH, ROOT
from tests.e2e.conftest import signed_in

pytestmark = pytest.mark.e2e
WAIT = 30_000

# The patient of the demo prescription (the one with the recorded allergy), read in the live server's database.
ALLERGIC_PATIENT = """
from sqlalchemy import select
from maillage.auth.cli import unit_of_work
from maillage.models.auth import UserAccount
from maillage.models.prescription import Prescription
with unit_of_work() as db:
    derm = db.scalar(select(UserAccount.id).where(UserAccount.username == "dr.martin"))
    print(db.scalar(select(Prescription.patient_id).where(Prescription.prescriber_id == derm,
                                                          Prescription.status == "signed")
                    .order_by(Prescription.created_at).limit(1)))
"""


def allergic_patient(live_server: Any) -> str:
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(live_server.var_dir), "MAILLAGE_ENVIRONMENT": "development",
           "PYTHONPATH": CHILD_PYTHONPATH}
    env.pop("MAILLAGE_DATABASE_URL", None)
    done = subprocess.run([sys.executable, "-c", ALLERGIC_PATIENT], env=env, cwd=ROOT, check=True, timeout=120,
                          capture_output=True, text=True)
    return done.stdout.strip().splitlines()[-1]


class TestAllergiesInTheBrowser:
    def test_recorded_struck_out_listed_on_the_form_and_warned_before_signing(self, live_server, browser):
        url = live_server.url
        patient = allergic_patient(live_server)
        with signed_in(browser, url, "dr.martin") as derm:
            derm.goto(f"{url}/patients/{patient}")
            section = derm.locator("section[aria-labelledby='allergies']")
            section.get_by_role("cell", name="Amoxicilline", exact=True).wait_for(timeout=WAIT)
            derm.fill("#a-substance", "Doxycycline")
            derm.select_option("#a-criticality", "low")
            derm.fill("#a-reaction", "Photosensibilisation")
            derm.get_by_role("button", name="Enregistrer l'allergie").click()
            section.locator("td", has_text="Photosensibilisation").wait_for(timeout=WAIT)
            section.get_by_role("form", name="Marquer l'allergie à Doxycycline comme saisie par erreur").get_by_role(
                "button", name="Saisie par erreur").click()
            section.locator("del", has_text="Doxycycline").wait_for(timeout=WAIT)
            assert "Photosensibilisation" not in section.locator("table").inner_text()

            derm.get_by_role("link", name="Rédiger une ordonnance").click()
            known = derm.locator("section[aria-labelledby='titre-allergies']")
            known.locator("li", has_text="Allergie à Amoxicilline").wait_for(timeout=WAIT)
            assert "Doxycycline" not in known.inner_text()
            derm.fill("#l1_drug", "Amoxicilline 1 g, comprimé")
            derm.check("input[name='l1_dci']")
            derm.select_option("#l1_dose_unit", "comprimé")
            derm.fill("#l1_duration", "7")
            derm.select_option("#l1_duration_unit", "day")
            derm.get_by_role("button", name="Enregistrer le brouillon et vérifier").click()
            derm.locator("section.notice li", has_text="allergie connue du patient à Amoxicilline").wait_for(
                timeout=WAIT)
            derm.get_by_role("button", name="Signer l'ordonnance").click()
            derm.locator("p.success", has_text="Ordonnance signée").wait_for(timeout=WAIT)
