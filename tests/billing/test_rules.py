"""The billing rules against their text (DOMAIN.md §2): the dated tariffs, the act decisions, the statuses, the
teleconsultation share and the statement's sums."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from maillage.billing import rules
from maillage.billing.rules import ActFacts, EntryStatus, Reason
from maillage.directory.tariffs import TARIFFS, find_tariff, tariff_for
from maillage.exceptions import ValidationFailed

D = dt.date


class TestTariffs:
    @pytest.mark.parametrize(("code", "day", "amount"), [
        # §2.3: TE2 20 € under avenant 9 (from 1 Apr 2022), 23 € from 1 Jan 2026 (convention médicale 2024).
        ("TE2", D(2025, 12, 31), "20.00"),
        ("TE2", D(2026, 1, 1), "23.00"),
        ("TE2", D(2022, 4, 1), "20.00"),
        # §2.3: RQD 10 €, unchanged in 2026.
        ("RQD", D(2025, 12, 31), "10.00"),
        ("RQD", D(2026, 1, 1), "10.00"),
        # §2.1: TCG 25 € since avenant 6, unchanged by the 2024 convention.
        ("TCG", D(2026, 1, 1), "25.00"),
        # §2.2: the nurse's accompaniment, 10 / 12 / 15 €.
        ("TLS", D(2026, 1, 1), "10.00"),
        ("TLL", D(2026, 1, 1), "12.00"),
        ("TLD", D(2026, 1, 1), "15.00"),
        # §2.4: operator forfaits 11 € (level 1), 28 € (level 2), enhanced 56 € and 70 €, from April 2024.
        ("TVA", D(2024, 4, 30), "11.00"),
        ("TVB", D(2024, 4, 30), "28.00"),
        ("TVB2", D(2026, 12, 31), "56.00"),
        ("TVB25", D(2026, 12, 31), "70.00"),
    ])
    def test_each_code_is_priced_at_the_act_s_date(self, code, day, amount):
        assert tariff_for(code, day).amount == Decimal(amount)

    @pytest.mark.parametrize(("code", "day"), [
        ("TE2", D(2022, 3, 31)),  # before the single level of avenant 9
        ("TVB", D(2024, 3, 31)),  # §2.4: the transitional rates before April 2024 were not retrieved
        ("TVB", D(2023, 7, 31)),  # a month of 2023 is never priced at today's rate
        ("TCS", D(2026, 1, 1)),  # §2.1: marked uncertain, left out
    ])
    def test_no_tariff_outside_the_dated_rows(self, code, day):
        assert find_tariff(code, day) is None
        with pytest.raises(ValidationFailed):
            tariff_for(code, day)

    def test_every_row_has_a_source_and_a_label_and_periods_of_a_code_do_not_overlap(self):
        for t in TARIFFS:
            assert t.source and t.label
            others = [o for o in TARIFFS if o.code == t.code and o is not t]
            for o in others:
                assert (t.valid_to is not None and t.valid_to < o.valid_from) or \
                    (o.valid_to is not None and o.valid_to < t.valid_from)


class TestDecide:
    @pytest.mark.parametrize(("facts", "status", "reason", "amount"), [
        # §2.3: TE2 on 31 Dec 2025 at 20 €, on 1 Jan 2026 at 23 €.
        (ActFacts("TE2", D(2025, 12, 31), "physician"), EntryStatus.TO_BILL, None, "20.00"),
        (ActFacts("TE2", D(2026, 1, 1), "physician"), EntryStatus.TO_BILL, None, "23.00"),
        (ActFacts("RQD", D(2026, 1, 1), "nurse"), EntryStatus.TO_BILL, None, "10.00"),
        # §2.3: hospitals bill tele-expertise for their external activity only.
        (ActFacts("TE2", D(2026, 1, 5), "physician", inpatient=True), EntryStatus.NOT_BILLABLE, Reason.INPATIENT,
         "23.00"),
        (ActFacts("RQD", D(2026, 1, 5), "physician", inpatient=True), EntryStatus.NOT_BILLABLE, Reason.INPATIENT,
         "10.00"),
        # §2.3: who may answer (médecins, sages-femmes) and who may request.
        (ActFacts("TE2", D(2026, 1, 5), "nurse"), EntryStatus.NOT_BILLABLE, Reason.PROFESSION, "23.00"),
        (ActFacts("RQD", D(2026, 1, 5), "pharmacist"), EntryStatus.NOT_BILLABLE, Reason.PROFESSION, "10.00"),
        (ActFacts("TE2", D(2026, 1, 5), "midwife"), EntryStatus.TO_BILL, None, "23.00"),
        # §2.3: the yearly cap (default 4 per patient per requis per calendar year).
        (ActFacts("TE2", D(2026, 6, 5), "physician", prior_billable_same_year=3), EntryStatus.TO_BILL, None,
         "23.00"),
        (ActFacts("TE2", D(2026, 6, 5), "physician", prior_billable_same_year=4), EntryStatus.NOT_BILLABLE,
         Reason.TE_CAP, "23.00"),
        # The RQD is not capped by the requis's cap.
        (ActFacts("RQD", D(2026, 6, 5), "physician", prior_billable_same_year=9), EntryStatus.TO_BILL, None,
         "10.00"),
        # §2.4: one forfait per patient and month, with data transmitted that month.
        (ActFacts("TVB", D(2026, 3, 31), monitored_days=20), EntryStatus.TO_BILL, None, "28.00"),
        (ActFacts("TVB", D(2026, 3, 31), monitored_days=20, forfait_already_this_month=True),
         EntryStatus.NOT_BILLABLE, Reason.FORFAIT_MONTH, "28.00"),
        (ActFacts("TVA", D(2026, 3, 31), monitored_days=0), EntryStatus.NOT_BILLABLE, Reason.FORFAIT_DATA, "11.00"),
        # §2.4: a forfait of an inpatient month stays a forfait (the rule of external activity is for acts).
        (ActFacts("TVB", D(2026, 3, 31), monitored_days=3, inpatient=True), EntryStatus.TO_BILL, None, "28.00"),
        # §2.2: the nurse's accompaniment only with a teleconsultation that took place.
        (ActFacts("TLD", D(2026, 2, 2), "nurse", teleconsultation_done=True), EntryStatus.TO_BILL, None, "15.00"),
        (ActFacts("TLD", D(2026, 2, 2), "nurse", teleconsultation_done=False), EntryStatus.NOT_BILLABLE,
         Reason.NO_TELECONSULTATION, "15.00"),
        (ActFacts("TCG", D(2026, 2, 2), "physician"), EntryStatus.TO_BILL, None, "25.00"),
        # No tariff at the act's date: not billable, never priced at another date's rate.
        (ActFacts("TVB", D(2023, 9, 30), monitored_days=30), EntryStatus.NOT_BILLABLE, Reason.NO_TARIFF, "0.00"),
    ])
    def test_each_act_is_priced_and_decided_by_its_rule(self, facts, status, reason, amount):
        decision = rules.decide(facts)
        assert (decision.status, decision.reason, decision.amount) == (status, reason, Decimal(amount))

    def test_the_cap_is_configurable(self):
        facts = ActFacts("TE2", D(2026, 6, 5), "physician", prior_billable_same_year=2)
        assert rules.decide(facts, te_cap=2).reason is Reason.TE_CAP
        assert rules.decide(facts, te_cap=3).status is EntryStatus.TO_BILL

    def test_the_act_that_reaches_the_cap_is_flagged(self):
        last = rules.decide(ActFacts("TE2", D(2026, 6, 5), "physician", prior_billable_same_year=3))
        before = rules.decide(ActFacts("TE2", D(2026, 6, 5), "physician", prior_billable_same_year=2))
        assert rules.CAP_REACHED in last.flags and rules.CAP_REACHED not in before.flags


class TestTransitions:
    @pytest.mark.parametrize(("current", "target", "allowed"), [
        (s, t, t in rules.TRANSITIONS[s]) for s in EntryStatus for t in (EntryStatus.BILLED, EntryStatus.REJECTED)
    ])
    def test_every_move_of_the_officer(self, current, target, allowed):
        if allowed:
            rules.check_transition(current.value, target, Reason.DUPLICATE.value)
        else:
            with pytest.raises(ValidationFailed):
                rules.check_transition(current.value, target, Reason.DUPLICATE.value)

    @pytest.mark.parametrize("reason", ["", "te_cap", "motif libre", None])
    def test_a_rejection_takes_a_reason_of_the_officer_s_list(self, reason):
        with pytest.raises(ValidationFailed, match="motif"):
            rules.check_transition("to_bill", EntryStatus.REJECTED, reason)

    def test_a_corrected_entry_cannot_be_corrected_again(self):
        with pytest.raises(ValidationFailed):
            rules.check_correctable("corrected")
        rules.check_correctable("to_bill")
        rules.check_correctable("rejected")

    def test_a_billed_entry_is_rejected_before_its_correction_not_claimed_twice(self):
        with pytest.raises(ValidationFailed, match="rejeté"):
            rules.check_correctable("billed")

    def test_an_entry_the_rules_refused_does_not_become_billable_by_a_correction(self):
        with pytest.raises(ValidationFailed, match="pas facturable"):
            rules.check_correctable("not_billable")

    @pytest.mark.parametrize(("original", "corrected", "allowed"), [
        ("TE2", "RQD", True), ("TCG", "TC", True), ("TLS", "TLD", True), ("TVB", "TVA", True),
        ("TE2", "TVB", False), ("RQD", "TC", False), ("TVA", "TE2", False)])
    def test_a_code_is_corrected_within_its_family(self, original, corrected, allowed):
        if allowed:
            rules.check_same_family(original, corrected)
        else:
            with pytest.raises(ValidationFailed, match="même famille"):
                rules.check_same_family(original, corrected)


class TestTeleconsultationShare:
    """Convention médicale 2024 (DOMAIN.md §2.1): ≤ 20 % of the yearly activity, 40 % for psychiatrists; the
    médecin traitant's teleconsultations with his own patients excluded."""

    @pytest.mark.parametrize(("tc", "own", "activity", "specialty", "exceeded"), [
        (200, 0, 1000, "SM54", False),  # exactly 20 %
        (201, 0, 1000, "SM54", True),
        (300, 120, 1000, None, False),  # 180 counted once the own patients are excluded
        (400, 0, 1000, "SM42", False),  # psychiatry: 40 %
        (401, 0, 1000, "SM42", True),
        (401, 0, 1000, "SM43", True),
        (0, 0, 0, None, False),
    ])
    def test_the_share_and_its_limit(self, tc, own, activity, specialty, exceeded):
        check = rules.teleconsultation_share(teleconsultations=tc, own_patients=own, activity=activity,
                                             specialty_code=specialty)
        assert check.exceeded is exceeded

    def test_incoherent_counts_are_refused(self):
        with pytest.raises(ValidationFailed):
            rules.teleconsultation_share(teleconsultations=10, own_patients=11, activity=100, specialty_code=None)


class TestStatement:
    def test_lines_are_ordered_and_totals_per_status(self):
        st = rules.summarise(D(2026, 1, 15), [("TE2", "billed", 2, Decimal("46.00")),
                                               ("RQD", "to_bill", 3, Decimal("30.00")),
                                               ("TE2", "to_bill", 1, Decimal("23.00"))], caps_reached=1)
        assert [(line.code, line.status) for line in st.lines] == [
            ("RQD", EntryStatus.TO_BILL), ("TE2", EntryStatus.TO_BILL), ("TE2", EntryStatus.BILLED)]
        assert st.total(EntryStatus.TO_BILL) == Decimal("53.00") and st.count(EntryStatus.TO_BILL) == 4
        assert st.month == D(2026, 1, 1) and st.caps_reached == 1

    @pytest.mark.parametrize("value", ["2026-13", "janvier", "2026"])
    def test_a_bad_month_is_refused_in_french(self, value):
        with pytest.raises(ValidationFailed, match="Mois"):
            rules.parse_month(value, D(2026, 1, 1))
