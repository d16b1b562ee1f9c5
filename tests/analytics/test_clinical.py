"""Indicator 4: operational tele-expertise and telesurveillance rows → pseudonymised warehouse tables → indicators
on DuckDB and Spark (agreeing exactly) → the confidentiality gate → the analyst pages. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from maillage.analytics import catalogue, clinical, extract, service
from maillage.analytics.catalogue import get_indicator
from maillage.analytics.gate import MASKED, determinable_cells, margin_equations, publish
from maillage.analytics.indicators import TOTAL
from maillage.analytics.warehouse import Warehouse
from maillage.auth import service as auth
from maillage.kit.clock import frozen
from maillage.models.directory import Establishment, SpecialtyLine
from maillage.models.monitoring import (
    MonitoringAlert,
    MonitoringDevice,
    MonitoringEnrolment,
    MonitoringPause,
    MonitoringReading,
    MonitoringTeam,
)
from maillage.models.patient import Patient, PatientConsent
from maillage.models.teleexpertise import TeleexpertiseAct, TeleexpertiseRequest
from maillage.patient import vigilance
from tests.fixtures.factories import make_user

TODAY = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
YEAR = 2026
_n = itertools.count()


def patient(db: Any, commune: str = "87085") -> Patient:
    n = next(_n)
    p = Patient(birth_name=f"ANALYSE{n}", given_names="JEANNE", birth_date=dt.date(1950, 1, 1), sex="F",
                birthplace="87085", birth_name_norm=f"ANALYSE{n}", first_given_name_norm="JEANNE",
                duplicate_key=f"analyse{n}", commune_insee=commune)
    db.add(p)
    db.flush()
    return p


def object_to_reuse(db: Any, p: Patient, *, then_consent: bool = False) -> None:
    db.add(PatientConsent(patient_id=p.id, purpose="data_reuse", decision="objection",
                          recorded_at=TODAY - dt.timedelta(days=60)))
    if then_consent:
        db.add(PatientConsent(patient_id=p.id, purpose="data_reuse", decision="consent",
                              recorded_at=TODAY - dt.timedelta(days=30)))
    db.flush()


def at(day: dt.date, hours: float = 8.0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC) + dt.timedelta(hours=hours)


def request(db: Any, *, p: Patient, line: SpecialtyLine, requester: Any, establishment: Establishment,
            submitted: dt.datetime | None, status: str, answered_after_h: float | None = None,
            orientation: str | None = None, due_h: float = 48) -> TeleexpertiseRequest:
    signed = submitted + dt.timedelta(hours=answered_after_h) if answered_after_h is not None and submitted else None
    r = TeleexpertiseRequest(
        patient_id=p.id, line_id=line.id, requester_id=requester.id, requester_establishment_id=establishment.id,
        status=status, submitted_at=submitted, due_at=submitted + dt.timedelta(hours=due_h) if submitted else None,
        signed_at=signed, signed_by=requester.id if signed else None, orientation=orientation,
        answer="Avis" if signed else None, closed_at=signed,
    )
    db.add(r)
    db.flush()
    if signed is not None:
        db.add(TeleexpertiseAct(request_id=r.id, patient_id=p.id, professional_user_id=requester.id, code="TE2",
                                act_date=signed.date(), amount=Decimal("20.00"), tariff_source="test",
                                billable=True, reason="test"))
        db.flush()
    return r


@pytest.fixture
def operational(db: Any) -> dict[str, Any]:
    """12 dermatology requests from an EHPAD (answered in 1…12 h), 3 cardiology ones from a practice (one late,
    one declined, one open), a draft, a request of a patient who objected; 12 heart-failure enrolments and alerts."""
    hospital = Establishment(kind="hospital", name="CH Limoges")
    ehpad = Establishment(kind="ehpad", name="EHPAD Les Tilleuls")
    practice = Establishment(kind="city_practice", name="Cabinet du Pont")
    db.add_all([hospital, ehpad, practice])
    db.flush()
    derm = SpecialtyLine(establishment_id=hospital.id, specialty_code="SM15", title="Dermatologie")
    cardio = SpecialtyLine(establishment_id=hospital.id, specialty_code="SM04", title="Cardiologie")
    db.add_all([derm, cardio])
    db.flush()
    requester = make_user(db)
    jan5 = dt.date(2026, 1, 5)
    people = [patient(db) for _ in range(15)]
    for i, p in enumerate(people[:12]):
        request(db, p=p, line=derm, requester=requester, establishment=ehpad, submitted=at(jan5), status="completed",
                answered_after_h=i + 1, orientation="advice_only" if i < 6 else "consultation")
    feb10 = dt.date(2026, 2, 10)
    request(db, p=people[12], line=cardio, requester=requester, establishment=practice, submitted=at(feb10),
            status="completed", answered_after_h=50, orientation="urgent_transfer")
    request(db, p=people[13], line=cardio, requester=requester, establishment=practice, submitted=at(feb10),
            status="declined")
    request(db, p=people[14], line=cardio, requester=requester, establishment=practice, submitted=at(feb10),
            status="published")
    request(db, p=people[14], line=cardio, requester=requester, establishment=practice, submitted=None,
            status="draft")
    objector = patient(db)
    object_to_reuse(db, objector)
    request(db, p=objector, line=derm, requester=requester, establishment=ehpad, submitted=at(jan5),
            status="completed", answered_after_h=100, orientation="advice_only")
    changed_mind = people[0]
    object_to_reuse(db, changed_mind, then_consent=True)  # the latest decision counts: included

    team = MonitoringTeam(establishment_id=hospital.id, name="Équipe IC du CH")
    db.add(team)
    db.flush()
    device = MonitoringDevice(identifier=f"balance-{uuid.uuid4().hex[:8]}", label="Balance", team_id=team.id)
    db.add(device)
    db.flush()
    enrolments = []
    for p in [*people[:12], objector]:
        e = MonitoringEnrolment(
            patient_id=p.id, team_id=team.id, programme="heart_failure", prescribed_on=dt.date(2025, 12, 20),
            duration_months=3, starts_on=dt.date(2026, 1, 1), ends_on=dt.date(2026, 3, 31),
            consent_at=at(dt.date(2025, 12, 20)), watch_from=at(dt.date(2026, 1, 1), 0))
        db.add(e)
        db.flush()
        enrolments.append(e)
        for day in range(31):  # one weight a day in January, nothing after
            local = dt.date(2026, 1, 1) + dt.timedelta(days=day)
            db.add(MonitoringReading(device_id=device.id, external_id=f"{e.id}-{day}", enrolment_id=e.id,
                                     patient_id=p.id, measure="weight", value=70.0, unit="kg", original_value=70.0,
                                     original_unit="kg", taken_at=at(local), local_day=local, received_at=at(local)))
    # Patient 0 paused from 1 to 11 February: 10 days not monitored.
    db.add(MonitoringPause(enrolment_id=enrolments[0].id, reason="hospitalisation", starts_at=at(dt.date(2026, 2, 1)),
                           ends_at=at(dt.date(2026, 2, 11))))
    alerts = [(0, "red", False, dt.date(2026, 1, 3)), (1, "red", False, dt.date(2026, 1, 4)),
              (2, "red", False, dt.date(2026, 1, 9)), (3, "orange", False, dt.date(2026, 1, 20)),
              (4, "orange", True, dt.date(2026, 1, 28)), (5, "orange", True, dt.date(2026, 2, 14)),
              (12, "red", False, dt.date(2026, 1, 10))]  # the last one: the objector's
    for n, (who, severity, silence, day) in enumerate(alerts):
        e = enrolments[who]
        db.add(MonitoringAlert(enrolment_id=e.id, patient_id=e.patient_id, team_id=team.id, condition=f"c{n}",
                               severity=severity, silence=silence, status="closed", message="Alerte",
                               opened_at=at(day), last_seen_at=at(day), closed_at=at(day, 12)))
    db.flush()
    return {"objector": objector, "people": people}


@pytest.fixture
def extracted(db: Any, operational: dict[str, Any], tmp_path: Path) -> Warehouse:
    warehouse = Warehouse(tmp_path / "entrepot")
    keyring = extract.KeyRing(tmp_path / "cles" / "pseudonymes.keys")
    with frozen(TODAY):
        report = extract.run_extraction(
            extract.ExtractionContext(session=db), warehouse, keyring, extractors=catalogue.EXTRACTORS,
            objection_sources=catalogue.OBJECTION_SOURCES,
            only=["teleexpertise-actes", "teleexpertise-demandes", "telesurveillance-suivi",
                  "telesurveillance-alertes"])
    assert report.excluded_rows == {"OP_ACTES_TELEMEDECINE": 1, "OP_TELEEXPERTISE_DEMANDES": 1,
                                    "OP_TELESURVEILLANCE_SUIVI": 3, "OP_TELESURVEILLANCE_ALERTES": 1}
    return warehouse


def run(warehouse: Warehouse, code: str, engine: Any) -> pd.DataFrame:
    indicator = get_indicator(code)
    return service.compute(indicator, indicator.resolve_params({"annee": YEAR}), warehouse, engine).frame


def cell(frame: pd.DataFrame, period: str, **groups: str) -> dict[str, Any]:
    keep = frame.periode == period
    for name, value in groups.items():
        keep &= frame[name] == value
    rows = frame[keep]
    assert len(rows) == 1, rows
    return rows.iloc[0].to_dict()


class TestExtraction:
    def test_the_requests_table_holds_pseudonyms_and_no_operational_id(self, extracted, operational):
        table = extracted.read_table(clinical.TE_REQUESTS_TABLE).to_pandas()
        assert len(table) == 15  # 12 + 3 submitted; not the draft, not the objector's request
        raw_ids = {str(p.id) for p in operational["people"]} | {str(operational["objector"].id)}
        text = table.astype(str).to_numpy().ravel().tolist()
        assert not raw_ids & set(text)
        assert table.patient_pseudonyme.str.fullmatch(r"[0-9a-f]{64}").all()
        assert sorted(table.delai_reponse_minutes.dropna().astype(int)) == [*(60 * h for h in range(1, 13)), 3000]
        assert "patient_id" not in table.columns

    def test_the_acts_fill_the_operational_telemedicine_table(self, extracted):
        acts = extracted.read_table("OP_ACTES_TELEMEDECINE").to_pandas()
        assert len(acts) == 13 and set(acts.nature) == {"te"} and set(acts.commune_residence) == {"87085"}
        assert set(acts.specialite) == {"SM15", "SM04"} and set(acts.etablissement) == {"CH Limoges"}

    def test_monitored_days_exclude_pauses_and_stop_today(self, extracted):
        follow = extracted.read_table(clinical.MONITORING_TABLE).to_pandas()
        assert len(follow) == 36  # 12 patients × January, February, March
        assert follow.jours_suivis.sum() == 12 * 90 - 10
        assert follow.jours_avec_mesure.sum() == 12 * 31
        assert follow.debut_inclusion.sum() == 12

    def test_monitored_days_rule(self):
        days = clinical.monitored_days(dt.date(2026, 1, 30), dt.date(2026, 3, 31),
                                       [(dt.date(2026, 2, 1), dt.date(2026, 2, 3)), (dt.date(2026, 2, 10), None)],
                                       today=dt.date(2026, 2, 12))
        assert days == [dt.date(2026, 1, 30), dt.date(2026, 1, 31), dt.date(2026, 2, 3), dt.date(2026, 2, 4),
                        dt.date(2026, 2, 5), dt.date(2026, 2, 6), dt.date(2026, 2, 7), dt.date(2026, 2, 8),
                        dt.date(2026, 2, 9)]

    def test_without_a_database_the_clinical_extractors_are_skipped(self, tmp_path):
        report = extract.run_extraction(
            extract.ExtractionContext(session=None, objections=frozenset({"x"})), Warehouse(tmp_path / "w"),
            extract.KeyRing(tmp_path / "k.keys"), extractors=catalogue.EXTRACTORS,
            objection_sources=catalogue.OBJECTION_SOURCES, only=["teleexpertise-demandes", "telesurveillance-suivi"])
        assert set(report.skipped) == {"teleexpertise-demandes", "telesurveillance-suivi"} and not report.tables


class TestObjectionsFollowIdentityMerges:
    def test_an_objection_on_a_merged_away_duplicate_excludes_the_survivors_facts(self, db, tmp_path):
        """The extraction applies the patient package's rule: an objection recorded on a duplicate record covers
        the person, so once the duplicate is merged into the survivor the survivor's rows leave the warehouse."""
        hospital, ehpad = Establishment(kind="hospital", name="CH Guéret"), Establishment(kind="ehpad", name="EHPAD")
        db.add_all([hospital, ehpad])
        db.flush()
        derm = SpecialtyLine(establishment_id=hospital.id, specialty_code="SM15", title="Dermatologie")
        db.add(derm)
        db.flush()
        requester = make_user(db)
        survivor, duplicate, other = patient(db), patient(db), patient(db)
        for p in (survivor, other):
            request(db, p=p, line=derm, requester=requester, establishment=ehpad, submitted=at(dt.date(2026, 1, 5)),
                    status="completed", answered_after_h=2, orientation="advice_only")
        object_to_reuse(db, duplicate)
        keyring = extract.KeyRing(tmp_path / "cles" / "pseudonymes.keys")

        def extracted_requests(name: str) -> tuple[int, int]:
            warehouse = Warehouse(tmp_path / name)
            with frozen(TODAY):
                report = extract.run_extraction(extract.ExtractionContext(session=db), warehouse, keyring,
                                                extractors=catalogue.EXTRACTORS,
                                                objection_sources=catalogue.OBJECTION_SOURCES,
                                                only=["teleexpertise-demandes"])
            return (report.tables[clinical.TE_REQUESTS_TABLE],
                    report.excluded_rows[clinical.TE_REQUESTS_TABLE])

        assert extracted_requests("avant") == (2, 0)  # two separate records: the survivor's own choice is silent
        officer = auth.actor_for(db, make_user(db, "identity_officer"))
        vigilance.merge_patients(db, officer, kept_id=survivor.id, merged_id=duplicate.id, reason="Même personne")
        assert extracted_requests("apres") == (1, 1)  # the survivor's request is excluded, the other kept
        assert str(survivor.id) in clinical.data_reuse_objections(db)


class TestTeleexpertiseIndicator:
    def test_response_times_and_orientations(self, extracted, duckdb_engine):
        frame = run(extracted, "teleexpertise-reponses", duckdb_engine)
        derm = cell(frame, "2026", ligne="Dermatologie", etablissement_demandeur="EHPAD Les Tilleuls")
        assert (derm["patients"], derm["demandes"], derm["repondues"], derm["refusees"]) == (12, 12, 12, 0)
        assert derm["delai_moyen_heures"] == 6.5 and derm["part_dans_les_delais"] == 1.0
        assert (derm["avis_seul"], derm["orientation_consultation"], derm["transfert_urgent"]) == (6, 6, 0)
        cardio = cell(frame, "2026", ligne="Cardiologie", etablissement_demandeur=TOTAL)
        assert (cardio["patients"], cardio["demandes"], cardio["repondues"], cardio["refusees"]) == (3, 3, 1, 1)
        assert cardio["delai_moyen_heures"] == 50.0 and cardio["part_dans_les_delais"] == 0.0
        assert cardio["transfert_urgent"] == 1
        total = cell(frame, "2026", ligne=TOTAL, etablissement_demandeur=TOTAL)
        assert (total["patients"], total["demandes"], total["repondues"], total["dans_les_delais"]) == (15, 15, 13, 12)
        assert total["delai_moyen_heures"] == round((78 * 60 + 3000) / 13 / 60, 6)
        assert cell(frame, "2026-02", ligne=TOTAL, etablissement_demandeur=TOTAL)["demandes"] == 3
        assert cell(frame, "2026-01", ligne=TOTAL, etablissement_demandeur=TOTAL)["demandes"] == 12

    def test_the_gate_masks_small_lines_and_their_complements(self, extracted, duckdb_engine):
        indicator = get_indicator("teleexpertise-reponses")
        frame = run(extracted, indicator.code, duckdb_engine)
        gated = publish(indicator, frame)
        out = gated.frame
        primary = out[gated.primary]
        small = frame[frame.patients < 11].index  # zeros are small cells too; rows the gate added are zeros
        assert set(primary.index) == set(small) | set(range(len(frame), len(out)))
        assert (primary.secret == MASKED).all()
        assert out.loc[primary.index, ["demandes", "delai_moyen_heures", "transfert_urgent"]].isna().all().all()
        masked = (out.secret != "").to_numpy()
        assert masked.sum() > len(primary)  # secondary masks exist: the 3 cardiology patients = total − dermatology
        assert not determinable_cells(masked, margin_equations(indicator, out, {}))
        assert gated.report["residuelles_calculables"] == 0


class TestTelemonitoringIndicator:
    def test_cohorts_alerts_per_patient_month_and_adherence(self, extracted, duckdb_engine):
        frame = run(extracted, "telesurveillance", duckdb_engine)
        jan = cell(frame, "2026-01", programme="heart_failure")
        assert (jan["patients"], jan["inclusions"], jan["mois_suivis"]) == (12, 12, 12)
        assert (jan["jours_suivis"], jan["jours_avec_mesure"], jan["observance"]) == (372, 372, 1.0)
        assert (jan["alertes"], jan["alertes_rouges"], jan["alertes_absence"]) == (5, 3, 1)
        assert jan["alertes_par_patient_mois"] == round(5 / 12, 6)
        feb = cell(frame, "2026-02", programme="heart_failure")
        assert (feb["jours_suivis"], feb["jours_avec_mesure"], feb["observance"], feb["alertes"]) == (
            12 * 28 - 10, 0, 0.0, 1)
        year = cell(frame, "2026", programme=TOTAL)
        assert (year["patients"], year["inclusions"], year["mois_suivis"], year["jours_suivis"]) == (12, 12, 36, 1070)
        assert year["observance"] == round(372 / 1070, 6) and year["alertes_par_patient_mois"] == round(6 / 36, 6)


class TestBothEngines:
    def test_duckdb_and_spark_agree_exactly(self, extracted, duckdb_engine, spark_engine):
        for code in ("teleexpertise-reponses", "telesurveillance"):
            pd.testing.assert_frame_equal(run(extracted, code, duckdb_engine), run(extracted, code, spark_engine),
                                          check_exact=True, check_dtype=False)


class TestCatalogue:
    def test_both_indicators_are_listed_with_french_labels(self):
        from maillage.analytics.catalogue import all_indicators

        codes = {i.code: i for i in all_indicators()}
        assert {"teleexpertise-reponses", "telesurveillance"} <= set(codes)
        assert codes["telesurveillance"].label.startswith("Télésurveillance")
        assert codes["teleexpertise-reponses"].dimension_columns == [
            "niveau_periode", "periode", "ligne", "etablissement_demandeur"]


@pytest.fixture
def settings(tmp_path, extracted):  # type: ignore[no-untyped-def]
    from maillage.config import Settings

    return Settings(environment="test", var_dir=tmp_path / "var", log_json=True, secret_key="t" * 40,
                    warehouse_dir=extracted.root)


class TestPages:
    def test_the_analyst_sees_both_indicators_gated_with_chart_and_table(self, app, client):
        import uuid as uuid_module

        from maillage.security.actor import Actor
        from maillage.security.deps import current_actor
        from maillage.security.roles import Role

        analyst = Actor(user_id=uuid_module.uuid4(), username="analyste", display_name="Analyste", role=Role.ANALYST)
        app.dependency_overrides[current_actor] = lambda: analyst
        try:
            catalogue = client.get("/pilotage", headers={"accept": "text/html"})
            assert "/pilotage/indicateurs/teleexpertise-reponses" in catalogue.text
            assert "/pilotage/indicateurs/telesurveillance" in catalogue.text
            te = client.get("/pilotage/indicateurs/teleexpertise-reponses?annee=2026", headers={"accept": "text/html"})
            assert te.status_code == 200, te.text
            assert "Filière de spécialité" in te.text and "Par établissement demandeur" in te.text
            assert "<svg" in te.text and "secret" in te.text
            ts = client.get("/pilotage/indicateurs/telesurveillance?annee=2026", headers={"accept": "text/html"})
            assert ts.status_code == 200, ts.text
            assert "Insuffisance cardiaque chronique" in ts.text and "Observance" in ts.text
            quiet = client.get("/pilotage/indicateurs/telesurveillance?annee=2020", headers={"accept": "text/html"})
            assert quiet.status_code == 200  # a year without activity: empty chart and table, no error
            export = client.get("/pilotage/indicateurs/teleexpertise-reponses/export?format=csv&annee=2026")
            assert export.status_code == 200
            table = pd.read_csv(__import__("io").BytesIO(export.content), sep=";", decimal=",",
                                encoding="utf-8-sig")
            assert "patient_pseudonyme" not in table.columns
            small = table[table.secret == MASKED]
            assert len(small) and small.demandes.isna().all()
        finally:
            app.dependency_overrides.pop(current_actor, None)
