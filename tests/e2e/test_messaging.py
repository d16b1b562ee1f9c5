"""Secure messaging end to end in the browser, on the demo territory (issue 20's first "Done when"): the GP
(dr.dupont) writes to the dermatology line about one of their patients with a photo; the line's dermatologist
(dr.martin), whose inbox is open, sees it arrive live, opens and reads it, and the GP's open thread shows the receipt
(live); the dermatologist answers and files the photo into the patient's documents; a physician of the territory
without a relationship with that patient gets 404 on the thread and on the filed document."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from typing import Any

import pytest
from PIL import Image

from tests.conftest import CHILD_PYTHONPATH, ROOT
from tests.e2e.conftest import signed_in

pytestmark = pytest.mark.e2e

OUTSIDER = "dr.lambert"

# A physician of the territory with no patient in common with the GP: an account created in the live server's
# database the way the demo makes its accounts (the published demo password, a TOTP secret derived from the name).
CREATE_OUTSIDER = """
from maillage.auth import second_factor, service as auth
from maillage.auth.cli import unit_of_work
from maillage.demo.accounts import DEMO_PASSWORD, demo_totp_secret
with unit_of_work() as db:
    if auth.repo.user_by_username(db, {name!r}) is None:
        user = auth.create_user(db, username={name!r}, display_name="Dr Luc Lambert (médecin, autre secteur)",
                                role="physician", password=DEMO_PASSWORD)
        second_factor.enrol_totp_with_secret(db, user, demo_totp_secret({name!r}))
"""


def create_outsider(live_server: Any) -> None:
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(live_server.var_dir), "MAILLAGE_ENVIRONMENT": "development",
           "PYTHONPATH": CHILD_PYTHONPATH}
    env.pop("MAILLAGE_DATABASE_URL", None)
    subprocess.run([sys.executable, "-c", CREATE_OUTSIDER.format(name=OUTSIDER)], env=env, cwd=ROOT, check=True,
                   timeout=120)

# The filed document's id, read by the dermatologist's page from the API (pages never show identifiers).
FILED_DOCUMENT = """async () => {
  const thread = await (await fetch('/api/messaging/threads/' + location.pathname.split('/').pop())).json();
  const docs = await (await fetch('/api/patients/' + thread.patient_id + '/documents')).json();
  return docs.items.find((d) => d.display_name === 'lesion-bras.png').id;
}"""


def lesion_png() -> bytes:
    image = Image.new("RGB", (160, 120), (215, 175, 150))
    for x in range(60, 100):
        for y in range(40, 80):
            image.putpixel((x, y), (110, 60, 40))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class TestMessagingInTheBrowser:
    def test_gp_writes_to_the_line_the_dermatologist_sees_it_live_reads_answers_files_and_an_outsider_gets_404(
            self, live_server, browser, tmp_path):
        url = live_server.url
        create_outsider(live_server)
        photo = tmp_path / "lesion-bras.png"
        photo.write_bytes(lesion_png())
        subject = "Naevus du bras qui saigne"
        with signed_in(browser, url, "dr.martin") as derm, signed_in(browser, url, "dr.dupont") as gp:
            derm.goto(url + "/messagerie")
            derm.wait_for_selector("#inbox[data-live='on']")
            assert subject not in derm.inner_text("main")

            gp.goto(url + "/messagerie/nouveau")
            team = gp.locator("#team option", has_text=re.compile(r"^Dermatologie.*ligne de spécialité")).first
            gp.select_option("#team", value=team.get_attribute("value"))
            patient_option = gp.locator("#patient_id option").nth(1)
            patient_name = patient_option.inner_text().split(" (")[0]
            gp.select_option("#patient_id", index=1)
            gp.get_by_label("Motif du partage").fill("Avis dermatologique sur un naevus qui saigne")
            gp.get_by_label("Objet").fill(subject)
            gp.get_by_label("Message", exact=True).fill("Naevus du bras droit qui saigne au frottement. Photo jointe.")
            gp.set_input_files("#file", str(photo))
            gp.get_by_role("button", name="Envoyer").click()
            gp.wait_for_url(re.compile(r"/messagerie/[0-9a-f-]{36}$"))
            thread_url = gp.url
            assert patient_name in gp.inner_text(".patient-banner")
            assert "Pas encore lu" in gp.inner_text("#thread")
            gp.wait_for_selector("#thread[data-live='on']")

            # The dermatologist's open inbox shows it without a reload, unread.
            # Locator waits (the page's CSP forbids the eval that a string predicate of wait_for_function needs).
            derm.locator("#inbox", has_text=subject).wait_for(timeout=15_000)
            row = derm.locator("tr", has_text=subject)
            assert "1" in row.locator("td").nth(4).inner_text()
            row.get_by_role("link", name=subject).click()
            derm.wait_for_url(thread_url)
            assert patient_name in derm.inner_text(".patient-banner")
            assert derm.locator("img[alt='lesion-bras.png']").evaluate(
                "img => img.complete ? img.naturalWidth : new Promise(r => { img.onload = () => r(img.naturalWidth); })"
            ) == 160

            # The GP's open thread shows the receipt, live.
            gp.locator("#thread", has_text="Lu par Dr Claire Martin").wait_for(timeout=15_000)

            derm.get_by_label("Votre message").fill("Exérèse à prévoir : je la vois jeudi en consultation.")
            derm.get_by_role("button", name="Envoyer la réponse").click()
            derm.wait_for_load_state()
            assert "Exérèse à prévoir" in derm.inner_text("#thread")
            gp.locator("#thread", has_text="Exérèse à prévoir").wait_for(timeout=15_000)

            derm.get_by_role("button", name="Classer dans les documents du patient").click()
            derm.wait_for_load_state()
            assert "Pièce jointe classée dans les documents du patient" in derm.inner_text("main")
            document_id = derm.evaluate(FILED_DOCUMENT)

        with signed_in(browser, url, OUTSIDER) as outsider:
            answer = outsider.goto(thread_url)
            assert answer is not None and answer.status == 404
            assert subject not in outsider.inner_text("body")
            document = outsider.request.get(f"{url}/api/documents/{document_id}")
            assert document.status == 404
            content = outsider.request.get(f"{url}/api/documents/{document_id}/content")
            assert content.status == 404
            outsider.goto(url + "/messagerie")
            assert subject not in outsider.inner_text("main")
