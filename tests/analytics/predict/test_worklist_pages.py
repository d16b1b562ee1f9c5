"""The worklist page with risk scores: the band in the list, the factors only when the nurse opens them (read
through the patient's access check and audited then), the model card link, and a clear French 400 for an unknown
order (issue 25)."""

from __future__ import annotations

from html import unescape
from typing import Any

from sqlalchemy import select

from maillage.kit.clock import now
from maillage.models.audit import AuditEntry
from maillage.models.prediction import PredictionModel, PredictionScore
from tests.fixtures.factories import make_user
from tests.fixtures.web import assert_triplet, sign_in
from tests.monitoring.conftest import World
from tests.monitoring.test_pages import red_alert

FACTOR = "Prise de poids sur 3 jours : +2,5 kg"


def scored(db: Any, world: World) -> PredictionScore:
    red_alert(db, world)
    model = PredictionModel(name="hf_decompensation_14d", version=1, status="active", data_window={},
                            code_version="test", metrics={}, artefact={})
    db.add(model)
    db.flush()
    score = PredictionScore(enrolment_id=world.enrolment.id, patient_id=world.patient_id, model_id=model.id,
                            probability=0.31, band="élevé", computed_at=now(),
                            factors=[{"feature": "weight_change_3d", "value": 2.5, "text": FACTOR}])
    db.add(score)
    db.commit()
    return score


def score_reads(db: Any, who: Any) -> list[AuditEntry]:
    db.commit()
    return list(db.scalars(select(AuditEntry).where(AuditEntry.actor_id == str(who.user_id),
                                                    AuditEntry.object_type == "prediction_score",
                                                    AuditEntry.action == "read")))


def searches(db: Any, who: Any) -> int:
    db.commit()
    return len(list(db.scalars(select(AuditEntry.id).where(AuditEntry.actor_id == str(who.user_id),
                                                           AuditEntry.action == "search"))))


class TestScoresInTheWorklist:
    def test_the_list_shows_the_band_and_the_card_link_but_not_the_factors(self, client, db, world: World) -> None:
        score = scored(db, world)
        sign_in(client, db, world.users["nurse"])
        html = unescape(client.get("/telesurveillance?ordre=risque", headers={"accept": "text/html"}).text)
        assert "Risque élevé" in html and f"/telesurveillance/modeles/{score.model_id}" in html
        assert FACTOR not in html
        assert f'hx-get="/telesurveillance/suivis/{world.enrolment.id}/facteurs"' in html
        assert score_reads(db, world.nurse) == []  # the list read is audited as a list, no factor read yet

    def test_opening_the_factors_reads_them_audited(self, client, db, world: World) -> None:
        scored(db, world)
        sign_in(client, db, world.users["nurse"])
        response = client.get(f"/telesurveillance/suivis/{world.enrolment.id}/facteurs",
                              headers={"accept": "text/html"})
        assert response.status_code == 200 and FACTOR in unescape(response.text)
        [entry] = score_reads(db, world.nurse)
        assert entry.patient_id == str(world.patient_id) and entry.outcome == "success"

    def test_the_factors_triplet_an_outsider_gets_404_like_a_missing_score(self, client, db, world: World) -> None:
        scored(db, world)
        assert_triplet(client, db, "GET", f"/telesurveillance/suivis/{world.enrolment.id}/facteurs",
                       wrong_role_user=make_user(db, "pharmacist"), outsider_user=world.users["outsider_nurse"],
                       page=True)

    def test_an_enrolment_without_score_is_not_found(self, client, db, world: World) -> None:
        red_alert(db, world)
        sign_in(client, db, world.users["nurse"])
        assert client.get(f"/telesurveillance/suivis/{world.enrolment.id}/facteurs").status_code == 404


class TestOrder:
    def test_an_unknown_order_is_a_french_400_and_reads_nothing(self, client, db, world: World) -> None:
        scored(db, world)
        sign_in(client, db, world.users["nurse"])
        before = searches(db, world.nurse)
        for url in ("/telesurveillance?ordre=hasard", "/telesurveillance/liste?ordre=RISQUE"):
            response = client.get(url, headers={"accept": "text/html"})
            assert response.status_code == 400
            assert "Ordre de la liste inconnu" in unescape(response.text)
        assert searches(db, world.nurse) == before  # nothing was read

    def test_both_known_orders_answer(self, client, db, world: World) -> None:
        scored(db, world)
        sign_in(client, db, world.users["nurse"])
        for order in ("couleur", "risque"):
            assert client.get(f"/telesurveillance?ordre={order}", headers={"accept": "text/html"}).status_code == 200
