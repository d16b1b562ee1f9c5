"""Patient pages: search among one's patients, creation with the identity proposal, the patient page (masked
matricule, consents), the identity-vigilance worklist; the authorization triplet on each."""

from __future__ import annotations

import html
import re

from sqlalchemy import func, select

from maillage.models.directory import Professional
from maillage.models.patient import IdentityMerge, Patient, PatientAllergy, PatientConsent
from maillage.web.patient_banner import banner
from tests.fixtures.factories import make_user
from tests.fixtures.patients import IDENTITIES, REASON, create, ins_of, insert_record, physician, qualified, traits
from tests.fixtures.web import assert_triplet, csrf_token, sign_in

HTML = {"accept": "text/html"}


def banner_of(page: str) -> str:
    """The text of the page's patient banner (web/_patient_banner.html), unescaped; fails without one."""
    found = re.findall(r'<section class="patient-banner".*?</section>', page, re.S)
    assert len(found) == 1, "one patient banner expected"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found[0])).split())


def assert_banner_facts(page: str, view) -> None:
    """The banner states the facts the shared banner function gives for this patient: the same as elsewhere."""
    text = banner_of(page)
    facts = banner(view)
    assert facts is not None
    for value in (facts.name, facts.born, facts.age, facts.sex, facts.identity_status, facts.attending):
        if value:
            assert value in text, value
    assert (facts.ins or "non renseigné") in text


def form(client, url, data):
    return client.post(url, data={**data, "csrf_token": csrf_token(client)}, headers=HTML, follow_redirects=False)


def trait_form(index: int = 0, **changes):
    t = traits(index, **changes)
    return {**t, "birth_date": t["birth_date"].isoformat()}


class TestAuthorization:
    def test_the_patient_page_follows_the_triplet(self, client, db):
        view = create(db, physician(db))
        assert_triplet(client, db, "GET", f"/patients/{view.patient.id}", page=True,
                       wrong_role_user=make_user(db, "analyst"), outsider_user=physician(db))

    def test_the_search_and_creation_pages_refuse_anonymous_and_wrong_roles(self, client, db):
        assert_triplet(client, db, "GET", "/patients", page=True, wrong_role_user=make_user(db, "billing_officer"),
                       outsider_user=None)
        assert_triplet(client, db, "GET", "/patients/nouveau", page=True,
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=None)

    def test_the_worklist_is_the_identity_officers(self, client, db):
        assert_triplet(client, db, "GET", "/identitovigilance", page=True, wrong_role_user=physician(db),
                       outsider_user=None)

    def test_recording_a_consent_for_someone_elses_patient_is_not_found(self, client, db):
        view = create(db, physician(db))
        assert_triplet(client, db, "POST", f"/patients/{view.patient.id}/consentements", page=True,
                       data={"purpose": "teleexpertise", "decision": "consent"},
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=physician(db))


class TestSearchPage:
    def test_a_gp_finds_a_patient_by_ins_and_sees_the_matricule_of_a_qualified_identity(self, client, db):
        user = physician(db)
        qualified(db, user)
        sign_in(client, db, user)
        page = client.get("/patients", params={"ins": IDENTITIES[0].ins.matricule.formatted()}, headers=HTML)
        assert page.status_code == 200
        assert IDENTITIES[0].traits.birth_name.upper() in page.text
        assert "Identité qualifiée" in page.text

    def test_htmx_gets_only_the_results(self, client, db):
        user = physician(db)
        create(db, user)
        sign_in(client, db, user)
        page = client.get("/patients", params={"nom": IDENTITIES[0].traits.birth_name},
                          headers={**HTML, "hx-request": "true"})
        assert page.status_code == 200
        assert page.text.lstrip().startswith('<div id="resultats"') and "<html" not in page.text

    def test_an_invalid_ins_shows_a_french_error(self, client, db):
        sign_in(client, db, physician(db))
        page = client.get("/patients", params={"ins": "123"}, headers=HTML)
        assert page.status_code == 422 and "15 caractères" in page.text


class TestCreationPages:
    def test_creating_a_patient_redirects_to_its_page(self, client, db):
        sign_in(client, db, physician(db))
        answer = form(client, "/patients/nouveau", trait_form(0))
        assert answer.status_code == 303 and answer.headers["location"].startswith("/patients/")
        assert client.get(answer.headers["location"], headers=HTML).status_code == 200

    def test_known_traits_name_no_record_and_offer_only_a_reasoned_exceptional_access(self, client, db):
        existing = create(db, physician(db))
        sign_in(client, db, physician(db))
        answer = form(client, "/patients/nouveau", trait_form(0))
        assert answer.status_code == 409
        assert "Cette identité existe déjà" in answer.text and "accès exceptionnel" in answer.text
        assert str(existing.patient.id) not in answer.text
        vague = form(client, "/patients/rattachement", {**trait_form(0), "reason": "urgence"})
        assert vague.status_code == 422 and "au moins 15 caractères" in vague.text
        attached = form(client, "/patients/rattachement", {**trait_form(0), "reason": REASON})
        assert attached.status_code == 303 and attached.headers["location"] == f"/patients/{existing.patient.id}"

    def test_an_ins_with_other_traits_shows_the_same_page_as_matching_traits(self, client, db):
        owner = physician(db)
        existing = qualified(db, owner, 0)
        create(db, owner, 2)
        db.commit()
        sign_in(client, db, physician(db))
        by_ins = form(client, "/patients/nouveau", {**trait_form(1), "ins_matricule": IDENTITIES[0].ins.matricule.value,
                                                    "ins_oid": IDENTITIES[0].ins.oid.value})
        assert by_ins.status_code == 409
        assert str(existing.patient.id) not in by_ins.text and "qualifiée" not in by_ins.text
        by_traits = form(client, "/patients/nouveau", trait_form(2))
        notice = by_ins.text.split('<div class="notice"')[1].split("<form")[0]
        assert notice == by_traits.text.split('<div class="notice"')[1].split("<form")[0]
        joined = form(client, "/patients/rattachement", {**trait_form(1), "reason": REASON})
        assert joined.status_code == 404

    def test_the_creator_is_pointed_at_the_record_they_already_follow(self, client, db):
        user = physician(db)
        existing = create(db, user)
        sign_in(client, db, user)
        answer = form(client, "/patients/nouveau", trait_form(0))
        assert answer.status_code == 409 and f'href="/patients/{existing.patient.id}"' in answer.text

    def test_a_nurse_is_not_offered_the_exceptional_access(self, client, db):
        create(db, physician(db))
        sign_in(client, db, make_user(db, "nurse"))
        answer = form(client, "/patients/nouveau", trait_form(0))
        assert answer.status_code == 409 and "rattachement" not in answer.text and 'name="reason"' not in answer.text

    def test_an_incomplete_form_is_shown_again_with_the_error(self, client, db):
        sign_in(client, db, physician(db))
        answer = form(client, "/patients/nouveau", {**trait_form(0), "birth_date": "2020-13-45"})
        assert answer.status_code == 422 and "invalide : date de naissance." in answer.text


class TestPatientPage:
    def test_the_matricule_is_masked_below_a_qualified_identity(self, client, db):
        user = physician(db)
        view = create(db, user, **ins_of(0), insi_checked=True)
        sign_in(client, db, user)
        page = client.get(f"/patients/{view.patient.id}", headers=HTML)
        assert "Identité récupérée" in page.text and "masqué" in page.text
        assert IDENTITIES[0].ins.matricule.value not in page.text
        assert IDENTITIES[0].ins.matricule.formatted() not in page.text

    def test_a_consent_is_recorded_from_the_page(self, client, db):
        user = physician(db)
        view = create(db, user)
        sign_in(client, db, user)
        answer = form(client, f"/patients/{view.patient.id}/consentements",
                      {"purpose": "telesurveillance", "decision": "consent", "source": "written"})
        assert answer.status_code == 303
        row = db.scalars(select(PatientConsent).where(PatientConsent.patient_id == view.patient.id)).one()
        assert (row.purpose, row.decision, row.source, row.recorded_by) == ("telesurveillance", "consent",
                                                                            "written", user.id)
        page = client.get(f"/patients/{view.patient.id}", headers=HTML).text
        assert "Consentement recueilli" in page and f"enregistré par {user.display_name}" in page

    def test_an_identity_check_qualifies_the_identity_from_the_page(self, client, db):
        user = physician(db)
        view = create(db, user)
        sign_in(client, db, user)
        answer = form(client, f"/patients/{view.patient.id}/verification",
                      {"insi_checked": "1", **ins_of(0), "identity_document": "passport"})
        assert answer.status_code == 303
        page = client.get(f"/patients/{view.patient.id}", headers=HTML)
        assert "Identité qualifiée" in page.text and IDENTITIES[0].ins.matricule.formatted() in page.text


def rpps_of(db, user) -> str:
    """The RPPS number of the professional ``physician()`` tied to this account."""
    return db.scalar(select(Professional.rpps).where(Professional.last_name.ilike(f"TEST{user.username[-4:]}")))


class TestPickers:
    """Issue 17: the creation form asks for names, not codes; the codes stay what the form submits."""

    def test_the_form_has_no_code_to_type(self, client, db):
        sign_in(client, db, physician(db))
        page = client.get("/patients/nouveau", headers=HTML).text
        assert "Code INSEE de la commune" not in page and "RPPS" not in page
        assert 'name="commune_insee_q"' in page and 'name="attending_rpps_q"' in page

    def test_the_search_step_without_javascript_lists_choices_and_keeps_what_was_typed(self, client, db):
        gp = physician(db)
        db.commit()
        sign_in(client, db, gp)
        answer = form(client, "/patients/nouveau", {**trait_form(0), "commune_insee_q": "ambazac",
                                                     "attending_rpps_q": "anne", "chercher": "commune_insee"})
        assert answer.status_code == 200
        text = html.unescape(answer.text)
        assert 'value="87002"' in text and "Ambazac (Haute-Vienne)" in text
        assert 'value="ambazac"' in text and f'value="{traits(0)["birth_name"]}"' in text
        rpps = rpps_of(db, gp)
        assert f'name="attending_rpps" value="{rpps}"' in text  # the other picker searched too

    def test_the_chosen_codes_are_saved_and_shown_as_names(self, client, db):
        gp = physician(db)
        db.commit()
        rpps = rpps_of(db, gp)
        sign_in(client, db, gp)
        answer = form(client, "/patients/nouveau", {**trait_form(0), "commune_insee_q": "ambazac",
                                                     "commune_insee": "87002", "attending_rpps": rpps})
        assert answer.status_code == 303
        page = html.unescape(client.get(answer.headers["location"], headers=HTML).text)
        assert "Ambazac" in page and "Dr Anne TEST" in page

    def test_an_unknown_code_is_a_clear_error_that_keeps_what_was_typed_and_creates_nothing(self, client, db):
        sign_in(client, db, physician(db))
        before = db.scalar(select(func.count()).select_from(Patient))
        answer = form(client, "/patients/nouveau", {**trait_form(0), "commune_insee_q": "ambaz",
                                                     "commune_insee": "99999"})
        assert answer.status_code == 422
        text = html.unescape(answer.text)
        assert "ne correspond à aucune commune" in text and "Choisissez dans la liste" in text
        assert 'value="ambaz"' in text and f'value="{traits(0)["given_names"]}"' in text
        answer = form(client, "/patients/nouveau", {**trait_form(0), "attending_rpps": "10000000000"})
        assert answer.status_code == 422 and "Choisissez dans la liste" in html.unescape(answer.text)
        assert db.scalar(select(func.count()).select_from(Patient)) == before

    def test_a_name_typed_but_not_chosen_is_not_lost(self, client, db):
        sign_in(client, db, physician(db))
        answer = form(client, "/patients/nouveau", {**trait_form(0), "commune_insee_q": "ambazac"})
        assert answer.status_code == 422
        text = html.unescape(answer.text)
        assert "sans choisir dans la liste" in text and 'value="87002"' in text and 'value="ambazac"' in text


class TestPatientBanner:
    """Issue 17: every page about one patient opens with the shared banner, with the same facts as elsewhere."""

    def test_the_patient_page_shows_the_banner(self, client, db):
        user = physician(db)
        views = [qualified(db, user), create(db, user, 2)]
        sign_in(client, db, user)
        for view in views:
            page = client.get(f"/patients/{view.patient.id}", headers=HTML)
            assert page.status_code == 200
            assert_banner_facts(page.text, view)

    def test_the_page_shown_again_after_a_refused_consent_or_check_keeps_the_banner(self, client, db):
        user = physician(db)
        view = create(db, user)
        sign_in(client, db, user)
        refused = form(client, f"/patients/{view.patient.id}/consentements", {"purpose": "teleexpertise",
                                                                               "decision": "peut-être"})
        assert refused.status_code == 422
        assert_banner_facts(refused.text, view)
        checked = form(client, f"/patients/{view.patient.id}/verification", {"ins_matricule": "123"})
        assert checked.status_code == 422
        assert_banner_facts(checked.text, view)

    def test_the_identity_officer_sees_the_banner_on_the_record_opened_for_vigilance(self, client, db):
        view = create(db, physician(db))
        sign_in(client, db, make_user(db, "identity_officer"))
        page = client.get(f"/patients/{view.patient.id}", params={"finalite": "identitovigilance"}, headers=HTML)
        assert page.status_code == 200
        assert_banner_facts(page.text, view)


class TestVigilancePage:
    def test_the_officer_sees_the_pair_merges_it_and_undoes_the_merge(self, client, db):
        first = insert_record(db, 0)
        second = insert_record(db, 0, birth_name=traits(0)["birth_name"].lower())
        sign_in(client, db, make_user(db, "identity_officer"))
        page = client.get("/identitovigilance", headers=HTML)
        assert "Traits stricts identiques" in page.text
        merged = form(client, "/identitovigilance/fusions", {"kept_patient_id": str(first.id),
                                                             "merged_patient_id": str(second.id),
                                                             "reason": "Même personne"})
        assert merged.status_code == 303
        merge = db.scalars(select(IdentityMerge)).one()
        page = client.get("/identitovigilance?message=fusion", headers=HTML)
        assert "Aucun doublon potentiel" in page.text and "Annuler la fusion" in page.text
        undone = form(client, f"/identitovigilance/fusions/{merge.id}/annulation", {"reason": "Erreur de saisie"})
        assert undone.status_code == 303
        db.refresh(merge)
        assert merge.unmerged_at is not None

    def test_a_refused_merge_is_explained_on_the_worklist(self, client, db):
        kept = qualified(db, physician(db), 0)
        twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].lower())
        sign_in(client, db, make_user(db, "identity_officer"))
        answer = form(client, "/identitovigilance/fusions", {"kept_patient_id": str(twin.id),
                                                             "merged_patient_id": str(kept.patient.id),
                                                             "reason": "Même personne"})
        assert answer.status_code == 422 and "plus fiable" in answer.text


class TestFrenchAgreement:
    """Issue 17: "Féminin, né·e le…" when the sex is known; the birth line agrees with it."""

    def test_the_patient_page_and_my_patients_say_ne_or_nee_from_the_known_sex(self, client, db):
        user = physician(db)
        views = [create(db, user, index) for index in (0, 2)]  # a man and a woman
        sign_in(client, db, user)
        for view in views:
            page = client.get(f"/patients/{view.patient.id}", headers=HTML)
            assert page.status_code == 200
            expected = "Née le" if view.patient.sex == "F" else "Né le"
            assert f"{expected} " in banner_of(page.text) and "né·e le" not in page.text.lower()
            title = "Dossier de la patiente" if view.patient.sex == "F" else "Dossier du patient"
            assert f"<h1>{title}</h1>" in page.text
        listing = client.get("/patients", headers=HTML).text
        assert "né·e le" not in listing and ("née le" in listing or "né le" in listing)


class TestAllergySection:
    def test_an_allergy_is_added_then_marked_in_error_from_the_page(self, client, db):
        user = physician(db)
        view = create(db, user)
        sign_in(client, db, user)
        page = client.get(f"/patients/{view.patient.id}", headers=HTML).text
        assert "Aucune allergie ni intolérance enregistrée." in page
        answer = form(client, f"/patients/{view.patient.id}/allergies",
                      {"substance": "Amoxicilline", "kind": "allergy", "criticality": "high",
                       "reaction": "Œdème de Quincke"})
        assert answer.status_code == 303 and answer.headers["location"].endswith("#allergies")
        row = db.scalars(select(PatientAllergy).where(PatientAllergy.patient_id == view.patient.id)).one()
        assert (row.substance, row.criticality, row.recorded_by) == ("Amoxicilline", "high", user.id)
        page = html.unescape(client.get(f"/patients/{view.patient.id}", headers=HTML).text)
        assert "Œdème de Quincke" in page and "Élevée" in page and f"par {user.display_name}" in page
        prescribing = html.unescape(client.get(f"/patients/{view.patient.id}/ordonnances/nouvelle",
                                               headers=HTML).text)
        assert "Allergie à Amoxicilline (Œdème de Quincke)" in prescribing
        answer = form(client, f"/patients/{view.patient.id}/allergies/{row.id}/erreur", {})
        assert answer.status_code == 303
        db.refresh(row)
        assert row.status == "entered-in-error" and row.entered_in_error_by == user.id
        page = html.unescape(client.get(f"/patients/{view.patient.id}", headers=HTML).text)
        assert "<del>Amoxicilline</del>" in page and "Aucune allergie ni intolérance enregistrée." in page

    def test_a_missing_substance_is_shown_again_in_french_and_nothing_is_written(self, client, db):
        user = physician(db)
        view = create(db, user)
        sign_in(client, db, user)
        answer = form(client, f"/patients/{view.patient.id}/allergies", {"substance": " ", "kind": "allergy"})
        assert answer.status_code == 422 and "indiquez la substance" in html.unescape(answer.text)
        assert db.scalar(select(PatientAllergy.id)) is None

    def test_recording_an_allergy_for_someone_elses_patient_is_not_found(self, client, db):
        view = create(db, physician(db))
        assert_triplet(client, db, "POST", f"/patients/{view.patient.id}/allergies", page=True,
                       data={"substance": "Amoxicilline", "kind": "allergy", "criticality": "low"},
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=physician(db))
