"""The administrator's audit page: filters, pagination, review block, its own trace, and its authorization."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from maillage.audit import service
from maillage.kit import clock
from maillage.models.audit import AuditEntry
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.deps import current_actor
from maillage.security.roles import Role

HTML = {"accept": "text/html"}


def actor(role: Role) -> Actor:
    return Actor(user_id=uuid.uuid4(), username=role.value, display_name=role.label, role=role)


@pytest.fixture
def as_admin(app):
    admin = actor(Role.ADMINISTRATOR)
    app.dependency_overrides[current_actor] = lambda: admin
    yield admin
    app.dependency_overrides.pop(current_actor, None)


@pytest.fixture
def trail(db):
    """Three traces of patient p-1 and p-2, one of them a break-the-glass access."""
    with clock.frozen(clock.now() - dt.timedelta(days=2)) as c:
        service.record(db, action="read", object_type="patient", patient_id="p-1", actor_id="u-1",
                       actor_role="physician", context=AuditContext("req-a-000001", "10.0.0.1"))
        c.advance(dt.timedelta(hours=1))
        service.record(db, action="update", object_type="patient", patient_id="p-2", actor_id="u-1",
                       actor_role="physician", outcome="denied")
        c.advance(dt.timedelta(hours=1))
        service.record(db, action="read", object_type="patient", patient_id="p-1", actor_id="u-2",
                       actor_role="nurse", break_glass=True, reason="Malaise en salle d'attente")
    db.commit()


class TestAuditPage:
    def test_an_administrator_sees_the_trail_newest_first_in_french(self, as_admin, trail, client):
        response = client.get("/admin/audit", headers=HTML)
        assert response.status_code == 200
        body = response.text
        assert "Traces d'accès" in body and "Accès en urgence des 30 derniers jours" in body
        assert body.index("Malaise en salle d") < body.index("req-a-000001")
        assert "Modification" in body and "Refusé" in body and "Infirmier ou infirmière" in body

    def test_filters_by_patient_actor_and_break_the_glass(self, as_admin, trail, client):
        def rows(query):
            response = client.get(f"/admin/audit?{query}", headers=HTML)
            assert response.status_code == 200
            table = response.text.split('id="traces"')[1]
            return table.count("<tr>") - table.count("<thead>")

        today = clock.today_paris()
        assert rows(f"du={today.isoformat()}") == 0
        assert rows(f"du={(today - dt.timedelta(days=3)).isoformat()}&au={(today - dt.timedelta(days=1))}") == 3
        assert rows("patient=p-1") == 2
        assert rows("acteur=u-1") == 2
        assert rows("urgence=1") == 1
        assert rows("patient=p-2&acteur=u-2") == 0
        assert rows("") == 3 + 6, "the six searches above are traced too"

    def test_pages_are_capped_at_200_and_link_to_the_next(self, as_admin, db, client):
        for i in range(3):
            service.record(db, action="read", object_type="patient", patient_id=f"p-{i}")
        db.commit()
        first = client.get("/admin/audit?taille=2", headers=HTML)
        assert 'href="?taille=2&amp;page=2"' in first.text and "Page précédente" not in first.text
        second = client.get("/admin/audit?taille=2&page=2", headers=HTML)
        assert "Page suivante" not in second.text and 'href="?taille=2&amp;page=1"' in second.text
        assert 'max="200"' in first.text

    def test_viewing_the_page_is_itself_audited(self, as_admin, trail, client, db):
        client.get("/admin/audit?patient=p-1", headers={**HTML, "x-request-id": "req-audit-page-01"})
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "search")).one()
        assert (entry.object_type, entry.patient_id, entry.actor_id, entry.actor_role, entry.request_id) == (
            "audit", "p-1", str(as_admin.user_id), "administrator", "req-audit-page-01")
        assert entry.details == {"filter_actor_id": None, "break_glass_only": False, "page": 1, "results": 2}

    def test_bad_filters_get_a_french_error_and_no_trace(self, as_admin, client, db):
        response = client.get("/admin/audit?du=hier", headers=HTML)
        assert response.status_code == 422
        assert "La date de début n&#39;est pas une date valide" in response.text
        assert 'value="hier"' in response.text
        assert db.scalar(select(AuditEntry).where(AuditEntry.action == "search")) is None

    def test_the_navigation_shows_the_page_to_administrators_only(self):
        from maillage.web.nav import NAV

        item = next(i for i in NAV if i.href == "/admin/audit")
        assert item.label == "Traces d'accès" and item.roles == frozenset({"administrator"})


class TestAuditPageAuthorization:
    def test_a_physician_is_refused_with_403(self, app, client):
        app.dependency_overrides[current_actor] = lambda: actor(Role.PHYSICIAN)
        try:
            assert client.get("/admin/audit", headers={"accept": "application/json"}).status_code == 403
            assert client.get("/admin/audit", headers=HTML).status_code == 403
        finally:
            app.dependency_overrides.pop(current_actor, None)

    def test_anonymous_gets_401_from_the_api_and_a_login_redirect_in_a_browser(self, client):
        api = client.get("/admin/audit", headers={"accept": "application/json"}, follow_redirects=False)
        assert api.status_code == 401
        assert api.json()["error"]["code"] == "not_authenticated"
        page = client.get("/admin/audit?patient=p-1", headers=HTML, follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"].startswith("/connexion")


class TestWhoSawThisPatient:
    """Finding 8: a list read (search, "my patients", worklist) names every patient it showed, so the
    administrator's "who saw this patient" (the patient filter) shows it, with the actor's name."""

    def _trail_of(self, client, patient_id):
        response = client.get(f"/admin/audit?patient={patient_id}", headers=HTML)
        assert response.status_code == 200
        return response.text.split('id="traces"')[1]

    def test_a_physicians_list_of_patients_appears_in_the_patients_trail(self, client, db):
        from maillage.authz import service as authz
        from tests.fixtures.factories import make_user
        from tests.fixtures.patients import create, physician
        from tests.fixtures.web import sign_in

        colleague = physician(db)
        seen, unseen = create(db, colleague, 0), create(db, colleague, 1)
        doctor = physician(db)  # a display name of its own, and no trace of these patients yet
        authz.grant_relationship(db, user_id=doctor.id, patient_id=seen.patient.id, kind="care_team")
        admin = make_user(db, "administrator")
        db.commit()

        sign_in(client, db, doctor)
        assert client.get("/patients", headers=HTML).status_code == 200   # the page lists "my patients"
        sign_in(client, db, admin)

        trail = self._trail_of(client, seen.patient.id)
        assert str(doctor.id) in trail, "the physician's list read is in the patient's trail"
        assert doctor.display_name in trail and "Liste de 1 patient" in trail and f"dont {seen.patient.id}" in trail
        assert str(doctor.id) not in self._trail_of(client, unseen.patient.id), "a list that did not show them"

    def test_the_trail_of_a_surviving_record_shows_who_saw_the_record_merged_into_it(self, client, db):
        from maillage.patient import vigilance
        from tests.fixtures.factories import make_user
        from tests.fixtures.patients import actor, create, insert_record, physician, traits
        from tests.fixtures.web import sign_in

        kept = create(db, physician(db), 0)
        twin = insert_record(db, 0, birth_name=traits(0)["birth_name"].title())
        nurse, officer, admin = (make_user(db, role) for role in ("nurse", "identity_officer", "administrator"))
        # Before the merge, a nurse's worklist showed the twin record (and only it).
        service.record(db, action="search", object_type="monitoring_alert", actor_id=str(nurse.id),
                       actor_role="nurse", list_patients=[twin.id])
        db.commit()
        vigilance.merge_patients(db, actor(db, officer), kept_id=kept.patient.id, merged_id=twin.id,
                                 reason="Même personne")
        db.commit()

        sign_in(client, db, admin)
        trail = self._trail_of(client, kept.patient.id)
        assert "dossier fusionné" in trail and str(twin.id) in trail
        assert nurse.display_name in trail and f"dont {twin.id}" in trail


class TestReadableTrail:
    """Issue 17: people's names and French labels instead of UUIDs and English codes; find an actor by name; pages
    that say where they are."""

    @pytest.fixture
    def martin(self, db):
        from tests.fixtures.factories import make_user

        user = make_user(db, "physician", username="dr.martin", display_name="Dr Claire Martin")
        service.record(db, action="claim", object_type="teleexpertise_request", object_id=str(uuid.uuid4()),
                       patient_id="p-9", actor_id=str(user.id), actor_role="physician", purpose="teleexpertise")
        service.record(db, action="read", object_type="patient", patient_id="p-8", actor_id="u-3",
                       actor_role="nurse")
        db.commit()
        return user

    def _table(self, client, query=""):
        response = client.get(f"/admin/audit?{query}", headers=HTML)
        assert response.status_code == 200
        return response.text.split('id="traces"')[1]

    def test_actors_are_named_with_their_role_and_objects_actions_and_purposes_in_french(self, as_admin, martin,
                                                                                          client):
        table = self._table(client)
        assert "Dr Claire Martin" in table and "Médecin" in table
        assert "Demande de téléexpertise" in table and "Prise en charge" in table and "Téléexpertise" in table
        assert "teleexpertise_request" not in table and ">claim<" not in table
        assert f">{martin.id}<" not in table, "the account's id is a link target, not text"
        assert f'href="?acteur={martin.id}"' in table

    @pytest.mark.parametrize("typed", ["dr.martin", "DR.MARTIN", "Martin", "claire martin", "  Claire   Martin "])
    def test_the_actor_filter_finds_an_account_by_username_or_display_name(self, as_admin, martin, client, typed):
        table = self._table(client, f"acteur={typed}")
        assert "Prise en charge" in table and "p-8" not in table

    def test_the_actor_filter_still_takes_an_id_and_finds_nothing_for_a_stranger(self, as_admin, martin, client):
        assert "Prise en charge" in self._table(client, f"acteur={martin.id}")
        assert "p-8" in self._table(client, "acteur=u-3")
        assert "Aucune trace ne correspond" in self._table(client, "acteur=dr.dupont")

    def test_an_actor_search_is_audited_with_the_number_of_accounts_it_matched(self, as_admin, martin, client, db):
        client.get("/admin/audit?acteur=martin", headers=HTML)
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "search")).one()
        assert entry.details is not None
        assert (entry.details["filter_actor_id"], entry.details["filter_actor_accounts"]) == ("martin", 1)

    def test_the_page_says_which_entries_it_shows_out_of_how_many(self, as_admin, db, client):
        for i in range(5):
            service.record(db, action="read", object_type="patient", patient_id=f"p-{i}")
        db.commit()
        first = self._table(client, "taille=2")
        assert "Entrées 1 à 2 sur 5" in first and "page 1 sur 3" in first
        # The first view is traced: six entries when the last page is read.
        last = self._table(client, "taille=2&page=3")
        assert "Entrées 5 à 6 sur 6" in last and "page 3 sur 3" in last
        beyond = self._table(client, "taille=2&page=9")
        assert "au-delà de la dernière" in beyond and 'href="?taille=2"' in beyond

    def test_the_actors_establishment_is_named(self, as_admin, db, client):
        from maillage.models.directory import Establishment

        place = Establishment(kind="ehpad", name="EHPAD Les Tilleuls")
        db.add(place)
        db.flush()
        service.record(db, action="read", object_type="patient", patient_id="p-7", actor_id="u-7",
                       actor_role="nurse", establishment_id=str(place.id))
        db.commit()
        table = self._table(client)
        assert "EHPAD Les Tilleuls" in table and f">Établissement {place.id}<" not in table
