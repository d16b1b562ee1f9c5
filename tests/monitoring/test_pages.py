"""Pages of telesurveillance: worklist (live), triage forms, patient page with curves, adherence checks."""

from __future__ import annotations

import datetime as dt
import threading
from html import unescape
from typing import Any

from sqlalchemy import select

from maillage.kit.clock import now
from maillage.models.monitoring import MonitoringAlert, MonitoringEnrolment
from maillage.monitoring import ingest as pipeline
from maillage.monitoring import live, pages
from maillage.patient import service as patients
from maillage.security.purposes import Purpose
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, csrf_token, sign_in
from tests.monitoring.conftest import World, weights


def red_alert(db: Any, world: World) -> MonitoringAlert:
    pipeline.ingest(db, world.device, weights((3, 78.0), (0, 80.5)))
    db.commit()
    return db.scalar(select(MonitoringAlert).where(MonitoringAlert.condition == "weight_gain_3d"))


class TestWorklistPage:
    def test_the_nurse_sees_the_red_alert_first(self, client, db, world: World) -> None:
        red_alert(db, world)
        pipeline.ingest(db, world.device, weights((5, 80.0), prefix="x"))
        db.commit()
        sign_in(client, db, world.users["nurse"])
        html = client.get("/telesurveillance", headers={"accept": "text/html"}).text
        assert 'data-condition="weight_gain_3d"' in html
        assert html.index('data-group="red"') < html.index('data-group="orange"') < html.index('data-group="missing"')
        assert 'data-stream="/telesurveillance/flux"' in html and "/telesurveillance/static/worklist.js" in html

    def test_triplet(self, client, db, world: World) -> None:
        db.commit()
        assert_triplet(client, db, "GET", "/telesurveillance", wrong_role_user=make_user(db, "pharmacist"),
                       outsider_user=None, page=True)

    def test_an_outsider_sees_an_empty_list(self, client, db, world: World) -> None:
        red_alert(db, world)
        sign_in(client, db, world.users["outsider_nurse"])
        html = client.get("/telesurveillance/liste", headers={"accept": "text/html"}).text
        assert "weight_gain_3d" not in html and 'data-count="0"' in html


class TestTriageForms:
    def test_acknowledge_with_a_comment(self, client, db, world: World) -> None:
        alert = red_alert(db, world)
        sign_in(client, db, world.users["nurse"])
        response = client.post(f"/telesurveillance/alertes/{alert.id}/acquitter", follow_redirects=False,
                               data={"csrf_token": csrf_token(client), "comment": "Patient rappelé"})
        assert response.status_code == 303 and response.headers["location"] == "/telesurveillance"
        db.expire_all()
        assert db.get(MonitoringAlert, alert.id).comment == "Patient rappelé"

    def test_acknowledge_triplet(self, client, db, world: World) -> None:
        alert = red_alert(db, world)
        assert_triplet(client, db, "POST", f"/telesurveillance/alertes/{alert.id}/acquitter", data={"comment": ""},
                       wrong_role_user=make_user(db, "billing_officer"), outsider_user=world.users["outsider_nurse"],
                       page=True)

    def test_without_the_csrf_token_nothing_happens(self, client, db, world: World) -> None:
        alert = red_alert(db, world)
        sign_in(client, db, world.users["nurse"])
        response = client.post(f"/telesurveillance/alertes/{alert.id}/acquitter", data={"comment": "x"})
        assert response.status_code == 403
        db.expire_all()
        assert db.get(MonitoringAlert, alert.id).status == "open"

    def test_escalate_then_the_physician_sees_it(self, client, db, world: World) -> None:
        alert = red_alert(db, world)
        sign_in(client, db, world.users["nurse"])
        client.post(f"/telesurveillance/alertes/{alert.id}/escalader", data={"csrf_token": csrf_token(client)})
        sign_in(client, db, world.users["physician"])
        html = client.get("/telesurveillance", headers={"accept": "text/html"}).text
        assert "Alertes qui vous sont transmises" in html and "Transmise au médecin" in html

    def test_acknowledge_all_green(self, client, db, world: World) -> None:
        pipeline.ingest(db, world.device, weights((0, 80.2)))
        db.commit()
        sign_in(client, db, world.users["nurse"])
        response = client.post("/telesurveillance/verts/acquitter", data={"csrf_token": csrf_token(client)},
                               follow_redirects=False)
        assert response.status_code == 303
        db.expire_all()
        assert db.scalar(select(MonitoringAlert.close_reason).where(MonitoringAlert.condition == "received")) == \
            "green_receipt"


class TestPatientPage:
    def test_curves_are_drawn_with_thresholds_and_the_timeline(self, client, db, world: World) -> None:
        red_alert(db, world)
        sign_in(client, db, world.users["nurse"])
        html = client.get(f"/telesurveillance/suivis/{world.enrolment.id}?jours=7",
                          headers={"accept": "text/html"}).text
        assert "<svg" in html and "<polyline" in html and 'stroke-dasharray="6 4"' in html
        assert "Poids sec" in html and "Prise de poids rapide" in html

    def test_the_patient_banner_heads_the_page(self, client, db, world: World) -> None:
        view = patients.get_patient(db, world.nurse, world.patient_id, purpose=Purpose.MONITORING)
        sign_in(client, db, world.users["nurse"])
        html = unescape(client.get(f"/telesurveillance/suivis/{world.enrolment.id}",
                                   headers={"accept": "text/html"}).text)
        banner = html[html.index('class="patient-banner"'):html.index("</section>")]
        assert view.display_name in banner and view.born_label in banner and view.age_label in banner
        assert view.identity_status_label in banner and str(world.patient_id) not in banner

    def test_triplet(self, client, db, world: World) -> None:
        db.commit()
        assert_triplet(client, db, "GET", f"/telesurveillance/suivis/{world.enrolment.id}",
                       wrong_role_user=make_user(db, "analyst"), outsider_user=world.users["outsider_nurse"], page=True)

    def test_an_unreasonable_period_is_refused(self, client, db, world: World) -> None:
        sign_in(client, db, world.users["nurse"])
        response = client.get(f"/telesurveillance/suivis/{world.enrolment.id}?jours=5000",
                              headers={"accept": "text/html"})
        assert response.status_code == 422


class TestManageForms:
    def test_the_physician_pauses_resumes_and_ends_from_the_patient_page(self, client, db, world: World) -> None:
        db.commit()
        sign_in(client, db, world.users["physician"])
        base = f"/telesurveillance/suivis/{world.enrolment.id}"
        assert "Gérer le suivi" in client.get(base, headers={"accept": "text/html"}).text
        token = csrf_token(client)
        assert client.post(f"{base}/suspendre", data={"csrf_token": token, "reason": "holidays"},
                           follow_redirects=False).status_code == 303
        assert client.post(f"{base}/reprendre", data={"csrf_token": token}, follow_redirects=False).status_code == 303
        assert client.post(f"{base}/terminer", data={"csrf_token": token, "reason": "clinical_decision"},
                           follow_redirects=False).status_code == 303
        db.expire_all()
        assert db.get(MonitoringEnrolment, world.enrolment.id).status == "ended"

    def test_a_nurse_sees_no_management_forms_and_may_not_post_them(self, client, db, world: World) -> None:
        """A nurse (not a coordinating nurse) of the care team triages but does not enrol."""
        from maillage.authz import service as authz

        authz.grant_relationship(db, user_id=world.outsider_nurse.user_id, patient_id=world.patient_id,
                                 kind="care_team", source_type="monitoring_enrolment",
                                 source_id=str(world.enrolment.id))
        db.commit()
        sign_in(client, db, world.users["outsider_nurse"])
        base = f"/telesurveillance/suivis/{world.enrolment.id}"
        assert "Gérer le suivi" not in client.get(base, headers={"accept": "text/html"}).text
        response = client.post(f"{base}/suspendre", data={"csrf_token": csrf_token(client), "reason": "holidays"},
                               headers={"accept": "text/html"}, follow_redirects=False)
        assert response.status_code == 403

    def test_an_unknown_end_reason_changes_nothing(self, client, db, world: World) -> None:
        db.commit()
        sign_in(client, db, world.users["physician"])
        response = client.post(f"/telesurveillance/suivis/{world.enrolment.id}/terminer",
                               data={"csrf_token": csrf_token(client), "reason": "ennui"},
                               headers={"accept": "text/html"}, follow_redirects=False)
        assert response.status_code == 422
        db.expire_all()
        assert db.get(MonitoringEnrolment, world.enrolment.id).status == "active"


class TestOtherPages:
    def test_adherence_checks_and_enrolments_list(self, client, db, world: World) -> None:
        db.commit()
        sign_in(client, db, world.users["nurse"])
        assert client.get("/telesurveillance/observance", headers={"accept": "text/html"}).status_code == 200
        listing = client.get("/telesurveillance/suivis", headers={"accept": "text/html"}).text
        assert f"/telesurveillance/suivis/{world.enrolment.id}" in listing

    def test_static_files_need_the_triage_permission(self, client, db, world: World) -> None:
        sign_in(client, db, world.users["nurse"])
        assert "EventSource" in client.get("/telesurveillance/static/worklist.js").text
        assert client.get("/telesurveillance/static/other.js").status_code == 404


class TestStream:
    def test_a_change_is_pushed_as_a_worklist_event(self, client, db, world: World, monkeypatch) -> None:
        monkeypatch.setattr(pages, "STREAM_SECONDS", 3.0)
        sign_in(client, db, world.users["nurse"])
        stop = threading.Event()

        def keep_changing() -> None:
            while not stop.wait(0.2):
                live.bump()

        changer = threading.Thread(target=keep_changing, daemon=True)
        changer.start()
        seen = []
        with client.stream("GET", "/telesurveillance/flux") as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                seen.append(line)
                if line == "event: worklist":
                    break
        stop.set()
        assert "event: worklist" in seen

    def test_a_reading_committed_through_the_api_is_pushed_to_the_open_stream(self, client, db, world: World,
                                                                            monkeypatch) -> None:
        """The app is built by ``create_app`` (the ``client`` fixture), which installs the after-commit hook
        (``live.install``): the commit of a batch that changed alerts wakes the stream, with nothing else bumping.
        The database mark is not read during the test (it would push the change by itself, seconds later). On
        SQLite the hook is the only way the event can come (without it this test fails); on PostgreSQL the
        process's LISTEN thread may deliver it as well, as it does for another process's commit."""
        monkeypatch.setattr(pages, "STREAM_SECONDS", 5.0)
        monkeypatch.setattr(pages, "DB_CHECK_SECONDS", 60.0)
        db.commit()
        sign_in(client, db, world.users["nurse"])
        body = {"readings": [{"id": "live-1", "code": "weight", "value": 80.0, "unit": "kg",
                              "at": (now() - dt.timedelta(minutes=5)).isoformat()}]}
        replies: list[Any] = []
        seen = []
        with client.stream("GET", "/telesurveillance/flux") as response:
            for line in response.iter_lines():
                seen.append(line)
                if line.startswith("retry:"):  # the stream is waiting: send the reading from another client
                    sender = threading.Thread(target=lambda: replies.append(client.post(
                        "/api/monitoring/readings", json=body,
                        headers={"Authorization": f"Bearer {world.secret}"})), daemon=True)
                    sender.start()
                if line == "event: worklist":
                    break
        sender.join(10)
        assert replies and replies[0].status_code == 200 and replies[0].json()["accepted"] == 1
        assert "event: worklist" in seen

    def test_anonymous_callers_are_refused(self, client) -> None:
        response = client.get("/telesurveillance/flux", headers={"accept": "application/json"},
                              follow_redirects=False)
        assert response.status_code in (303, 401)
