"""Pure rules of tele-expertise, exhaustively."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest

from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.teleexpertise.rules import (
    ADMISSION_TRANSITIONS,
    TERMINAL,
    TRANSITIONS,
    Action,
    AdmissionStatus,
    Orientation,
    Pause,
    Status,
    check_opinion,
    due_at,
    due_at_minutes,
    fhir_status,
    next_admission_status,
    next_status,
    reminder_at,
    rqd_billing,
    tariff_for,
    te2_billing,
)

ALLOWED = {
    (Status.DRAFT, Action.SUBMIT): Status.PUBLISHED,
    (Status.DRAFT, Action.CANCEL): Status.CANCELLED,
    (Status.PUBLISHED, Action.CLAIM): Status.IN_PROGRESS,
    (Status.PUBLISHED, Action.ASSIGN): Status.IN_PROGRESS,
    (Status.PUBLISHED, Action.DECLINE): Status.DECLINED,
    (Status.PUBLISHED, Action.CANCEL): Status.CANCELLED,
    (Status.PUBLISHED, Action.REROUTE): Status.PUBLISHED,
    (Status.IN_PROGRESS, Action.HAND_BACK): Status.PUBLISHED,
    (Status.IN_PROGRESS, Action.TRANSFER): Status.IN_PROGRESS,
    (Status.IN_PROGRESS, Action.ASSIGN): Status.IN_PROGRESS,
    (Status.IN_PROGRESS, Action.ASK): Status.AWAITING_INFORMATION,
    (Status.IN_PROGRESS, Action.ANSWER): Status.COMPLETED,
    (Status.IN_PROGRESS, Action.DECLINE): Status.DECLINED,
    (Status.IN_PROGRESS, Action.CANCEL): Status.CANCELLED,
    (Status.IN_PROGRESS, Action.REROUTE): Status.PUBLISHED,
    (Status.AWAITING_INFORMATION, Action.REPLY): Status.IN_PROGRESS,
    (Status.AWAITING_INFORMATION, Action.CANCEL): Status.CANCELLED,
    (Status.AWAITING_INFORMATION, Action.DECLINE): Status.DECLINED,
}


class TestNextStatus:
    """ANS Confluences: ServiceRequest status + statusReason (published / in progress)."""

    @pytest.mark.parametrize(("current", "action"), sorted(ALLOWED))
    def test_every_allowed_transition(self, current, action):
        assert next_status(current, action) == ALLOWED[(current, action)]

    @pytest.mark.parametrize(
        ("current", "action"), [p for p in itertools.product(Status, Action) if p not in ALLOWED]
    )
    def test_every_forbidden_transition_is_a_409_in_french(self, current, action):
        with pytest.raises(InvalidTransition) as err:
            next_status(current, action)
        assert err.value.status_code == 409 and "Impossible de" in err.value.message

    def test_the_table_is_exactly_the_documented_one(self):
        assert TRANSITIONS == ALLOWED

    def test_terminal_statuses_have_no_way_out(self):
        assert all(s not in TERMINAL for (s, _a) in TRANSITIONS)


class TestFhirStatus:
    @pytest.mark.parametrize(
        ("status", "expected"),
        [(Status.DRAFT, ("draft", None)), (Status.PUBLISHED, ("active", "published")),
         (Status.IN_PROGRESS, ("active", "in-progress")),
         (Status.AWAITING_INFORMATION, ("on-hold", "awaiting-information")),
         (Status.COMPLETED, ("completed", None)), (Status.DECLINED, ("revoked", "declined")),
         (Status.CANCELLED, ("revoked", "cancelled"))],
    )
    def test_each_status_maps_to_a_fhir_r4_request_status(self, status, expected):
        assert fhir_status(status) == expected
        assert expected[0] in {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}


T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class TestDueAt:
    def test_the_committed_delay_runs_from_submission(self):
        assert due_at(T0, 48, [], T0) == T0 + dt.timedelta(hours=48)

    def test_a_closed_pause_pushes_the_due_time_by_its_length(self):
        pause = Pause(T0 + dt.timedelta(hours=2), T0 + dt.timedelta(hours=7))
        assert due_at(T0, 48, [pause], T0 + dt.timedelta(hours=10)) == T0 + dt.timedelta(hours=53)

    def test_an_open_pause_runs_until_now(self):
        pause = Pause(T0 + dt.timedelta(hours=1), None)
        assert due_at(T0, 4, [pause], T0 + dt.timedelta(hours=3)) == T0 + dt.timedelta(hours=6)

    def test_a_non_positive_commitment_is_refused(self):
        with pytest.raises(ValidationFailed):
            due_at(T0, 0, [], T0)

    @pytest.mark.parametrize(("hours", "before"), [(48, 12), (8, 2), (2, 1), (1, 1)])
    def test_the_reminder_comes_when_a_quarter_remains_but_at_least_an_hour_before(self, hours, before):
        due = T0 + dt.timedelta(hours=hours)
        assert reminder_at(due, hours) == due - dt.timedelta(hours=before)


class TestDueAtMinutes:
    def test_a_commitment_in_minutes_runs_from_submission_and_is_pushed_by_pauses(self):
        """Line commitments are stored in minutes (directory); a 30-minute line with a 10-minute pause is due at 40."""
        pause = Pause(T0 + dt.timedelta(minutes=5), T0 + dt.timedelta(minutes=15))
        assert due_at_minutes(T0, 30, [pause], T0 + dt.timedelta(hours=1)) == T0 + dt.timedelta(minutes=40)

    def test_a_non_positive_commitment_in_minutes_is_refused(self):
        with pytest.raises(ValidationFailed):
            due_at_minutes(T0, 0, [], T0)


class TestOpinion:
    def test_a_complete_opinion_has_no_problem(self):
        assert check_opinion("Lésion bénigne, surveillance.", Orientation.ADVICE_ONLY, None, None) == []

    @pytest.mark.parametrize(
        ("text", "orientation", "act", "delay", "field"),
        [("court", Orientation.ADVICE_ONLY, None, None, "answer"),
         ("Avis détaillé ici.", Orientation.ACT_RELEVANT, "", None, "act"),
         ("Avis détaillé ici.", Orientation.ACT_NOT_RELEVANT, None, None, "act"),
         ("Avis détaillé ici.", Orientation.CONSULTATION, None, None, "delay_days"),
         ("Avis détaillé ici.", Orientation.CONSULTATION, None, 400, "delay_days")],
    )
    def test_missing_parts_are_named(self, text, orientation, act, delay, field):
        assert [p["field"] for p in check_opinion(text, orientation, act, delay)] == [field]

    def test_only_hospitalisation_and_transfer_open_an_admission(self):
        assert {o for o in Orientation if o.opens_admission} == {
            Orientation.SCHEDULED_HOSPITALISATION, Orientation.URGENT_TRANSFER}


class TestAdmission:
    @pytest.mark.parametrize(("current", "target"), [(c, t) for c in AdmissionStatus for t in AdmissionStatus])
    def test_every_admission_transition(self, current, target):
        if target in ADMISSION_TRANSITIONS[current]:
            assert next_admission_status(current, target) == target
        else:
            with pytest.raises(InvalidTransition):
                next_admission_status(current, target)


class TestTariffs:
    """DOMAIN.md §2.3: TE2 20 € from 1 Apr 2022 (avenant 9), 23 € from 1 Jan 2026 (convention 2024); RQD 10 €."""

    @pytest.mark.parametrize(
        ("code", "date", "amount"),
        [("TE2", dt.date(2022, 4, 1), "20.00"), ("TE2", dt.date(2025, 12, 31), "20.00"),
         ("TE2", dt.date(2026, 1, 1), "23.00"), ("TE2", dt.date(2026, 11, 28), "23.00"),
         ("RQD", dt.date(2022, 4, 1), "10.00"), ("RQD", dt.date(2026, 11, 28), "10.00")],
    )
    def test_the_tariff_in_force_on_the_act_date(self, code, date, amount):
        assert tariff_for(code, date).amount == Decimal(amount)

    @pytest.mark.parametrize(("code", "date"), [("TE2", dt.date(2022, 3, 31)), ("TE1", dt.date(2026, 1, 1))])
    def test_no_tariff_before_the_single_level_or_for_old_codes(self, code, date):
        with pytest.raises(ValidationFailed):
            tariff_for(code, date)


class TestBilling:
    """DOMAIN.md §2.3: 4 per patient per requis per year (configurable); hospitals bill external activity only."""

    @pytest.mark.parametrize(("prior", "billable"), [(0, True), (3, True), (4, False), (9, False)])
    def test_the_yearly_cap(self, prior, billable):
        assert te2_billing(prior_te2_same_year=prior, patient_inpatient=False,
                           expert_profession="physician").billable is billable

    def test_the_cap_is_configurable(self):
        assert te2_billing(prior_te2_same_year=4, cap=6, patient_inpatient=False,
                           expert_profession="physician").billable

    def test_an_inpatient_act_is_not_billable_as_tele_expertise(self):
        decision = te2_billing(prior_te2_same_year=0, patient_inpatient=True, expert_profession="physician")
        assert not decision.billable and "hospitalisé" in decision.reason
        assert not rqd_billing(patient_inpatient=True, requester_profession="physician").billable

    @pytest.mark.parametrize(("profession", "ok"), [("physician", True), ("midwife", True), ("nurse", True),
                                                      ("physiotherapist", True), ("pharmacist", False)])
    def test_who_may_request(self, profession, ok):
        assert rqd_billing(patient_inpatient=False, requester_profession=profession).billable is ok

    @pytest.mark.parametrize(("profession", "ok"), [("physician", True), ("midwife", True), ("nurse", False)])
    def test_who_may_answer(self, profession, ok):
        assert te2_billing(prior_te2_same_year=0, patient_inpatient=False, expert_profession=profession).billable is ok
