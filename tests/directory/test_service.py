"""The directory's use cases (directory/service.py): reading the territory, keeping it up to date (administrators
only, audited), specialty lines with their delays and answering professionals, accounts tied to professionals.

Rules: FINESS key and GHT roles (directory.rules; DOMAIN §1.4, §8); IdNat_PS derived from the RPPS, never typed
(DOMAIN §1.3); specialty codes TRE_R38 (directory.specialties).
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo.territory_plan import demo_rpps
from maillage.directory import admin_service, service
from maillage.exceptions import NotFound, PermissionDenied, ValidationFailed
from maillage.models.audit import AuditEntry
from maillage.models.auth import UserEstablishment
from maillage.models.directory import CareUnit
from tests.fixtures.directory import admin, hospital, line_data, professional, serial
from tests.fixtures.factories import make_user


class TestCreateEstablishment:
    def test_an_administrator_adds_a_support_hospital_placed_on_its_commune(self, db):
        a = admin(db)
        e = hospital(db, a)
        assert (e.kind, e.ght_role, e.commune_name) == ("hospital", "support", "Limoges")
        assert e.latitude is not None and "LIMOGES" in e.search_text
        db.commit()
        entry = db.scalars(select(AuditEntry).where(AuditEntry.object_id == str(e.id))).one()
        assert (entry.action, entry.object_type, entry.actor_role) == ("create", "establishment", "administrator")

    def test_a_wrong_finess_key_is_refused_in_french(self, db):
        with pytest.raises(ValidationFailed, match="clé de contrôle"):
            hospital(db, finess_et="870000016")

    def test_a_private_practice_cannot_be_the_support_establishment(self, db):
        """Support and members are public health establishments (CSP L6132-1; directory.rules)."""
        with pytest.raises(ValidationFailed, match="Rôle GHT"):
            hospital(db, kind="city_practice", public=False, finess_et=None)

    def test_a_finess_already_in_the_directory_is_refused(self, db):
        e = hospital(db)
        with pytest.raises(ValidationFailed, match="déjà"):
            hospital(db, finess_et=e.finess_et)

    def test_a_physician_may_not_change_the_directory(self, db):
        with pytest.raises(PermissionDenied):
            hospital(db, auth.actor_for(db, make_user(db, "physician")))


class TestCreateProfessional:
    def test_the_national_identifier_is_derived_from_the_rpps(self, db):
        p = professional(db)
        assert p.national_id == "8" + p.rpps and p.identifier_warnings == []
        assert p.specialty_label == "Dermatologie et Vénéréologie"

    def test_an_rpps_with_a_wrong_key_is_kept_with_a_warning(self, db):
        """Soft check only (DOMAIN §1.3)."""
        good = demo_rpps(next(serial))
        bad = good[:-1] + str((int(good[-1]) + 1) % 10)
        p = professional(db, rpps=bad)
        assert p.rpps == bad and "Luhn" in p.identifier_warnings[0]

    def test_an_adeli_number_gives_the_0_prefixed_identifier(self, db):
        p = professional(db, rpps=None, adeli="012600631", profession_code="26", specialty_code=None)
        assert (p.adeli, p.national_id) == ("012600631", "0012600631")

    def test_a_professional_needs_an_identifier_and_a_known_profession(self, db):
        with pytest.raises(ValidationFailed, match="RPPS ou un numéro ADELI"):
            professional(db, rpps=None)
        with pytest.raises(ValidationFailed, match="TRE_G15"):
            professional(db, profession_code="99")

    def test_the_same_rpps_cannot_be_added_twice(self, db):
        p = professional(db)
        with pytest.raises(ValidationFailed, match="déjà"):
            professional(db, rpps=p.rpps)

    def test_a_professional_is_attached_to_an_establishment(self, db):
        e = hospital(db)
        p = professional(db, establishment_id=e.id, function_label="Praticien hospitalier")
        view = service.get_professional(db, p.id)
        assert [(r.establishment_name, r.function_label) for r in view.roles] == [(e.name, "Praticien hospitalier")]


class TestSpecialtyLines:
    def test_a_line_is_saved_with_its_delays_and_members(self, db):
        e = hospital(db)
        answering, backup = professional(db), professional(db)
        view = admin_service.save_line(db, admin(db), line_data(e.id, answering=[answering.id], backups=[backup.id]))
        assert view.specialty_label == "Dermatologie et Vénéréologie"
        assert [(c.urgency, c.response_label) for c in view.commitments] == [("urgent", "48 h"),
                                                                             ("routine", "7 jours")]
        assert [m.role for m in view.members] == ["answering", "backup"]
        assert view.requirement_labels == ["Photographie(s) de la lésion : au moins 1"]

    def test_saving_again_replaces_delays_and_members(self, db):
        e = hospital(db)
        first, second = professional(db), professional(db)
        view = admin_service.save_line(db, admin(db), line_data(e.id, answering=[first.id]))
        updated = admin_service.save_line(db, admin(db), line_data(e.id, answering=[second.id],
                                                             commitments={"routine": 3 * 24 * 60}),
                                    line_id=view.id)
        assert [m.professional_id for m in updated.members] == [second.id]
        assert [c.urgency for c in updated.commitments] == ["routine"]

    @pytest.mark.parametrize(("changes", "message"), [
        ({"specialty_code": "XX12"}, "TRE_R38"),
        ({"teleexpertise": False, "teleconsultation": False}, "téléexpertise"),
        ({"min_photos": 0}, "photos"),
        ({"commitments": {}}, "délai"),
        ({"commitments": {"someday": 60}}, "Urgence inconnue"),
        ({"requirements": ["tarot"]}, "Exigence inconnue"),
    ])
    def test_an_incoherent_line_is_refused_in_french(self, db, changes, message):
        e = hospital(db)
        with pytest.raises(ValidationFailed) as caught:
            admin_service.save_line(db, admin(db), line_data(e.id, **changes))
        assert any(message in d["message"] for d in caught.value.details)

    def test_lines_are_found_by_specialty_audience_and_the_professional_who_answers(self, db):
        e = hospital(db)
        p = professional(db)
        admin_service.save_line(db, admin(db), line_data(e.id, answering=[p.id], accepts_usmp=False))
        admin_service.save_line(db, admin(db), line_data(e.id, specialty_code="SM04", title="Cardiologie",
                                                   requirements=[], min_photos=0))
        assert [v.specialty_code for v in service.search_lines(db, query="dermato")] == ["SM15"]
        assert [v.specialty_code for v in service.search_lines(db, audience="usmp")] == ["SM04"]
        assert [v.specialty_code for v in service.search_lines(db, professional_id=p.id)] == ["SM15"]

    def test_an_unpublished_line_is_missing_from_the_public_catalogue(self, db):
        e = hospital(db)
        view = admin_service.save_line(db, admin(db), line_data(e.id, published=False))
        assert service.search_lines(db, published_only=True) == []
        with pytest.raises(NotFound):
            service.get_line(db, view.id, published_only=True)

    def test_an_unknown_audience_is_refused(self, db):
        with pytest.raises(ValidationFailed, match="Public"):
            service.search_lines(db, audience="martians")


class TestReading:
    def test_an_establishment_is_read_with_its_units_lines_and_staff(self, db):
        e = hospital(db)
        db.add(CareUnit(establishment_id=e.id, name="Dermatologie", specialty_code="SM15"))
        p = professional(db, establishment_id=e.id)
        admin_service.save_line(db, admin(db), line_data(e.id, answering=[p.id]))
        view = service.get_establishment(db, e.id)
        assert [u.name for u in view.units] == ["Dermatologie"]
        assert [v.title for v in view.lines] == ["Dermatologie : avis sur photo"]
        assert [s[0].id for s in view.staff] == [p.id]
        assert view.kind_label == "Établissement de santé" and view.ght_role_label == "Établissement support"

    def test_searches_ignore_accents_and_find_an_rpps(self, db):
        hospital(db, name="Hôpital Émile-Roux")
        p = professional(db, last_name="Lefèvre")
        assert [e.name for e in service.search_establishments(db, query="emile roux")] == ["Hôpital Émile-Roux"]
        assert [x.id for x in service.search_professionals(db, query="lefevre")] == [p.id]
        assert [x.id for x in service.search_professionals(db, query=p.rpps)] == [p.id]

    def test_searching_a_percent_sign_finds_only_the_names_that_contain_one(self, db):
        """Issue 15, finding 9: ``%`` and ``_`` are ``LIKE`` wildcards; searching them must not list everyone."""
        hospital(db, name="Centre hospitalier de Limoges")
        hospital(db, name="Unité 100% ambulatoire")
        hospital(db, name="Site_annexe")
        assert [e.name for e in service.search_establishments(db, query="%")] == ["Unité 100% ambulatoire"]
        assert [e.name for e in service.search_establishments(db, query="_")] == ["Site_annexe"]
        assert [e.name for e in service.search_establishments(db, query="%%")] == []
        # "100%" looks for the word "100", which a FINESS number may hold too (the test's serial numbers reach it).
        found = service.search_establishments(db, query="100%")
        assert "Unité 100% ambulatoire" in [e.name for e in found]
        assert all("100" in e.name or "100" in (e.finess_et or "") for e in found)

    def test_searching_wildcards_in_professionals_and_lines_finds_only_those_that_contain_them(self, db):
        e = hospital(db)
        professional(db, last_name="Martin")
        odd = professional(db, last_name="Dupont_Durand")
        assert [x.id for x in service.search_professionals(db, query="_")] == [odd.id]
        assert service.search_professionals(db, query="%") == []
        admin_service.save_line(db, admin(db), line_data(e.id))
        admin_service.save_line(db, admin(db), line_data(e.id, specialty_code="SM04", title="Cardiologie 100%",
                                                   requirements=[], min_photos=0))
        assert [v.title for v in service.search_lines(db, query="%")] == ["Cardiologie 100%"]
        assert service.search_lines(db, query="_") == []

    def test_a_missing_establishment_or_professional_is_not_found(self, db):
        with pytest.raises(NotFound):
            service.get_establishment(db, uuid.uuid4())
        with pytest.raises(NotFound):
            service.get_professional(db, uuid.uuid4())


class TestLinkAccount:
    def test_an_account_is_tied_to_its_professional_and_establishments(self, db):
        e = hospital(db)
        p = professional(db)
        user = make_user(db, "physician")
        admin_service.link_account(db, user, professional_id=p.id, establishment_ids=[e.id])
        assert service.professional_of_user(db, user.id).id == p.id
        link = db.scalars(select(UserEstablishment).where(UserEstablishment.user_id == user.id)).one()
        assert (link.establishment_id, link.is_default) == (e.id, True)
        assert auth.actor_for(db, user).current_establishment_id == e.id
        assert service.user_ids_of_professionals(db, [p.id]) == {p.id: user.id}

    def test_an_unknown_professional_is_not_found(self, db):
        with pytest.raises(NotFound):
            admin_service.link_account(db, make_user(db, "physician"), professional_id=uuid.uuid4(),
                                       establishment_ids=[])


class TestDisplayName:
    def test_physicians_are_called_doctor(self):
        p = SimpleNamespace(profession_code="10", civility="DR", first_name="Claire", last_name="MARTIN")
        assert service.display_name(p) == "Dr Claire MARTIN"  # type: ignore[arg-type]

    def test_other_professions_are_called_by_name(self):
        p = SimpleNamespace(profession_code="60", civility="MME", first_name="Sophie", last_name="LEROY")
        assert service.display_name(p) == "Sophie LEROY"  # type: ignore[arg-type]
