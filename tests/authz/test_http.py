"""Authorization over HTTP: refused accesses are 404 and still audited; break-the-glass endpoints."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from maillage.authz import service as authz
from maillage.kit.http import DbSession, UnitOfWorkRoute
from maillage.models.audit import AuditEntry
from maillage.models.authz import BreakGlassAccess
from maillage.security.actor import Actor
from maillage.security.deps import audit_context, current_actor
from tests.fixtures.factories import make_patient_id, make_user
from tests.fixtures.patients import existing_patient
from tests.fixtures.web import assert_triplet, csrf_token, sign_in


@pytest.fixture
def patient_app(app):
    """A patient-data endpoint as later capabilities will write them."""
    router = APIRouter(route_class=UnitOfWorkRoute)

    @router.get("/api/probe/patients/{patient_id}")
    def read_patient(patient_id: uuid.UUID, request: Request, db: DbSession,
                     actor: Annotated[Actor, Depends(current_actor)]) -> dict:
        authz.access_patient(db, actor, patient_id, "care", context=audit_context(request))
        return {"id": str(patient_id)}

    app.include_router(router)
    return app


class TestRefusedAccess:
    def test_triplet_on_a_patient_endpoint(self, patient_app, client, db):
        patient = make_patient_id(db)
        authz.grant_relationship(db, user_id=make_user(db, "physician").id, patient_id=patient, kind="attending")
        assert_triplet(client, db, "GET", f"/api/probe/patients/{patient}",
                       wrong_role_user=make_user(db, "analyst"), outsider_user=make_user(db, "physician"))

    def test_a_refused_access_is_audited_even_though_the_request_rolls_back(self, patient_app, client, db):
        outsider = make_user(db, "physician")
        sign_in(client, db, outsider)
        patient = make_patient_id(db)
        response = client.get(f"/api/probe/patients/{patient}", headers={"x-request-id": "req-refused-0001"})
        assert response.status_code == 404
        entries = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient))).all()
        assert [(e.outcome, e.actor_id, e.request_id) for e in entries] == [
            ("denied", str(outsider.id), "req-refused-0001")]

    def test_an_allowed_access_is_audited_with_the_request_id_and_address(self, patient_app, client, db):
        user = make_user(db, "physician")
        patient = make_patient_id(db)
        authz.grant_relationship(db, user_id=user.id, patient_id=patient, kind="attending")
        sign_in(client, db, user)
        response = client.get(f"/api/probe/patients/{patient}", headers={"x-request-id": "req-allowed-0001"})
        assert response.status_code == 200
        entry = db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(patient))).one()
        assert (entry.outcome, entry.request_id, entry.address) == ("success", "req-allowed-0001", "testclient")


class TestBreakGlassEndpoints:
    def test_break_glass_api_triplet(self, client, db):
        assert_triplet(client, db, "POST", "/api/authz/break-glass",
                       json={"patient_id": str(uuid.uuid4()), "reason": "Patient inconscient, urgence vitale"},
                       wrong_role_user=make_user(db, "billing_officer"), outsider_user=None)

    def test_break_glass_then_read(self, patient_app, client, db):
        user = make_user(db, "physician")
        patient = existing_patient(db)
        db.commit()
        sign_in(client, db, user)
        assert client.get(f"/api/probe/patients/{patient}").status_code == 404
        created = client.post("/api/authz/break-glass", headers={"x-csrf-token": csrf_token(client)},
                              json={"patient_id": str(patient), "reason": "Arrêt cardiaque, antécédents nécessaires"})
        assert created.status_code == 201
        assert client.get(f"/api/probe/patients/{patient}").status_code == 200

    def test_break_glass_on_a_patient_that_does_not_exist_is_404_and_stores_nothing(self, client, db):
        sign_in(client, db, make_user(db, "physician"))
        ghost = uuid.uuid4()
        api = client.post("/api/authz/break-glass", headers={"x-csrf-token": csrf_token(client)},
                          json={"patient_id": str(ghost), "reason": "Arrêt cardiaque, antécédents nécessaires"})
        assert api.status_code == 404
        form = client.post("/acces-urgence", headers={"accept": "text/html"},
                           data={"patient_id": str(ghost), "reason": "Arrêt cardiaque, antécédents nécessaires",
                                 "csrf_token": csrf_token(client)}, follow_redirects=False)
        assert form.status_code == 404
        assert db.scalars(select(BreakGlassAccess)).all() == []
        assert db.scalars(select(AuditEntry).where(AuditEntry.patient_id == str(ghost))).all() == []

    def test_the_form_refuses_a_vague_reason_in_french_and_stores_nothing(self, client, db):
        user = make_user(db, "physician")
        sign_in(client, db, user)
        patient = make_patient_id(db)
        page = client.get(f"/acces-urgence?patient={patient}", headers={"accept": "text/html"})
        assert page.status_code == 200 and "bris de glace" in page.text
        response = client.post("/acces-urgence", headers={"accept": "text/html"},
                               data={"patient_id": str(patient), "reason": "urgence", "csrf_token": csrf_token(client)})
        assert response.status_code == 422 and "au moins 15 caractères" in response.text
        assert db.scalars(select(BreakGlassAccess)).all() == []

    def test_review_page_action_requires_an_administrator(self, client, db):
        assert_triplet(client, db, "POST", f"/admin/bris-de-glace/{uuid.uuid4()}/revue", data={"comment": "ok"},
                       wrong_role_user=make_user(db, "physician"), outsider_user=None, page=True)


class TestReviewFromTheAuditPage:
    def test_an_unreviewed_access_is_listed_and_can_be_marked_reviewed(self, client, db):
        from maillage.auth import service as auth_service

        doctor = make_user(db, "physician")
        admin = make_user(db, "administrator")
        access = authz.break_glass(db, auth_service.actor_for(db, doctor), existing_patient(db),
                                   "Patiente inconsciente, traitement inconnu, urgence vitale")
        db.commit()
        sign_in(client, db, admin)
        page = client.get("/admin/audit", headers={"accept": "text/html"})
        assert page.status_code == 200 and f"/admin/bris-de-glace/{access.id}/revue" in page.text
        done = client.post(f"/admin/bris-de-glace/{access.id}/revue", headers={"accept": "text/html"},
                           data={"comment": "Justifié après appel", "csrf_token": csrf_token(client)},
                           follow_redirects=False)
        assert done.status_code == 303
        db.expire_all()
        reviewed = db.get(BreakGlassAccess, access.id)
        assert reviewed.reviewed_by == admin.id and reviewed.review_comment == "Justifié après appel"
        assert f"/admin/bris-de-glace/{access.id}/revue" not in client.get("/admin/audit").text

    def test_a_join_to_an_existing_identity_is_listed_with_its_ground(self, client, db):
        from maillage.auth import service as auth_service

        doctor = make_user(db, "physician")
        admin = make_user(db, "administrator")
        authz.break_glass(db, auth_service.actor_for(db, doctor), existing_patient(db),
                          "Patient vu en consultation non programmée, antécédents utiles", ground="identity_attach")
        db.commit()
        sign_in(client, db, admin)
        page = client.get("/admin/audit", headers={"accept": "text/html"})
        assert page.status_code == 200 and "Rattachement à une identité existante" in page.text
