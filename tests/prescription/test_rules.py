"""Pure prescription rules (maillage.prescription.rules), without a database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from maillage.prescription import rules
from maillage.prescription.rules import LineDraft, LineKind, NonSubstitution, Outcome, Period, Status
from tests.fixtures.prescription import dermoval, doxycycline_dci, levothyrox

ALLOWED = {
    (Status.DRAFT, Status.SIGNED), (Status.DRAFT, Status.CANCELLED),
    (Status.SIGNED, Status.PARTIALLY_DISPENSED), (Status.SIGNED, Status.DISPENSED), (Status.SIGNED, Status.CANCELLED),
    (Status.SIGNED, Status.EXPIRED), (Status.PARTIALLY_DISPENSED, Status.PARTIALLY_DISPENSED),
    (Status.PARTIALLY_DISPENSED, Status.DISPENSED), (Status.PARTIALLY_DISPENSED, Status.EXPIRED),
}


class TestTransitions:
    @pytest.mark.parametrize(("current", "target"), [(a, b) for a in Status for b in Status])
    def test_every_transition_is_allowed_exactly_when_listed(self, current, target):
        """draft → signed → partially dispensed → dispensed / cancelled (before any dispensation) / expired."""
        assert rules.can_transition(current, target) == ((current, target) in ALLOWED)

    def test_a_partly_dispensed_prescription_can_no_longer_be_cancelled(self):
        assert not rules.can_transition(Status.PARTIALLY_DISPENSED, Status.CANCELLED)


class TestNumber:
    def test_a_new_number_has_sixteen_digits_and_a_valid_luhn_key(self):
        for _ in range(200):
            number = rules.new_number()
            assert len(number) == 16 and number[0] != "0"
            assert rules.normalise_number(number) == number

    def test_a_typed_number_may_have_spaces_and_dashes(self):
        number = rules.new_number()
        assert rules.normalise_number(rules.display_number(number)) == number
        assert rules.normalise_number("-".join(rules.display_number(number).split())) == number

    def test_one_wrong_digit_is_caught_by_the_key(self):
        number = rules.new_number()
        wrong = number[:5] + str((int(number[5]) + 1) % 10) + number[6:]
        assert rules.normalise_number(wrong) is None

    @pytest.mark.parametrize("typed", ["", "1234", "12345678901234567", "abcdabcdabcdabcd"])
    def test_anything_but_sixteen_digits_is_refused(self, typed):
        assert rules.normalise_number(typed) is None

    def test_the_qr_payload_gives_back_the_number(self):
        number = rules.new_number()
        assert rules.normalise_number(rules.qr_payload(number, "ABCDEFGH")) == number

    def test_the_display_groups_by_four(self):
        assert rules.display_number("1234567890123452") == "1234 5678 9012 3452"


class TestNonSubstitution:
    @pytest.mark.parametrize(("reason", "mention"), [
        (NonSubstitution.MTE, "Non substituable (MTE)"), (NonSubstitution.EFG, "Non substituable (EFG)"),
        (NonSubstitution.CIF, "Non substituable (CIF)")])
    def test_the_mention_names_one_of_the_three_legal_reasons(self, reason, mention):
        """Arrêté du 12 novembre 2019: MTE, EFG or CIF, written before the drug's name."""
        assert rules.non_substitution_mention(reason) == mention

    def test_a_prescription_by_substance_cannot_be_non_substitutable(self):
        assert "DCI" in " ".join(rules.line_problems(doxycycline_dci(non_substitution_reason=NonSubstitution.MTE)))


class TestLineProblems:
    def test_a_complete_line_has_none(self):
        assert rules.line_problems(dermoval()) == []
        assert rules.line_problems(doxycycline_dci()) == []

    @pytest.mark.parametrize(("changes", "fragment"), [
        ({"cis": None}, "base des médicaments"), ({"dose": Decimal(0)}, "dose"), ({"dose_unit": "seau"}, "unité"),
        ({"times": 0}, "prises"), ({"duration": 0}, "durée"), ({"quantity": 0}, "quantité"),
        ({"renewals": 12}, "renouvellements"),
        ({"duration": 6, "duration_unit": Period.MONTH, "renewals": 2}, "douze mois")])
    def test_each_missing_or_wrong_field_is_named_in_french(self, changes, fragment):
        assert fragment in " ".join(rules.line_problems(dermoval(**changes)))

    def test_a_substance_line_needs_its_substance(self):
        assert "substance" in " ".join(rules.line_problems(doxycycline_dci(label=" ")))


class TestValidity:
    def test_three_months_to_present_a_short_treatment(self):
        """CSP R5132-22: a prescription is first presented within three months."""
        assert rules.valid_until(dt.date(2026, 12, 7), [dermoval()]) == dt.date(2027, 3, 7)

    def test_renewals_extend_it_to_the_treatment_up_to_twelve_months(self):
        """CSP R5132-21: renewals cover at most twelve months of treatment."""
        long = doxycycline_dci(duration=2, duration_unit=Period.MONTH, renewals=2)  # 180 days
        assert rules.valid_until(dt.date(2026, 12, 7), [dermoval(), long]) == dt.date(2027, 6, 5)
        twelve_months = dt.date(2026, 12, 7) + dt.timedelta(days=12 * 30)
        assert rules.valid_until(dt.date(2026, 12, 7), [levothyrox(renewals=11)]) == twelve_months


class TestPosology:
    def test_the_posology_reads_as_a_sentence(self):
        assert rules.posology_text(dermoval()) == \
            "1 application 1 fois par jour pendant 2 semaines, le soir, en couche fine"
        assert rules.posology_text(levothyrox(dose=Decimal("1.5"))) == \
            "1,5 comprimés 1 fois par jour pendant 1 mois"


class TestCanonical:
    def test_the_same_content_gives_the_same_bytes_whatever_the_order(self):
        a = rules.canonical({"b": 1, "a": [Decimal("1.50"), dt.date(2026, 1, 2)], "é": "ü"})
        b = rules.canonical({"é": "ü", "a": [Decimal("1.5"), dt.date(2026, 1, 2)], "b": 1})
        assert a == b == '{"a":["1.5","2026-01-02"],"b":1,"é":"ü"}'.encode()


class TestRefusalReason:
    TODAY = dt.date(2026, 12, 7)

    @pytest.mark.parametrize(("status", "fragment"), [
        (Status.CANCELLED, "annulée"), (Status.DISPENSED, "entièrement délivrée"), (Status.EXPIRED, "expiré"),
        (Status.DRAFT, "pas été signée")])
    def test_each_state_that_forbids_dispensing_says_why_in_french(self, status, fragment):
        assert fragment in rules.refusal_reason(status, dt.date(2027, 1, 1), self.TODAY)

    def test_a_signed_prescription_past_its_last_day_has_expired(self):
        assert rules.refusal_reason(Status.SIGNED, dt.date(2026, 12, 6), self.TODAY) == \
            "Cette ordonnance a expiré le 06/12/2026 : elle ne peut plus être délivrée."

    @pytest.mark.parametrize("status", [Status.SIGNED, Status.PARTIALLY_DISPENSED])
    def test_a_valid_prescription_may_be_dispensed_on_its_last_day(self, status):
        assert rules.refusal_reason(status, self.TODAY, self.TODAY) is None


class TestDispensationProblem:
    def check(self, **changes):
        data = dict(outcome=Outcome.DELIVERED, quantity=1, remaining=1, non_substitutable=False,
                    substitute_in_group=None, reason=None)
        return rules.dispensation_problem(**{**data, **changes})

    def test_a_delivery_within_what_remains_is_allowed(self):
        assert self.check() is None

    def test_a_line_already_delivered_is_refused(self):
        assert self.check(remaining=0) == "Cette ligne a déjà été entièrement délivrée."

    def test_more_than_what_remains_is_refused(self):
        assert "Il ne reste que 1" in self.check(quantity=2)

    def test_a_substitution_needs_the_same_generic_group(self):
        assert "même groupe générique" in self.check(outcome=Outcome.SUBSTITUTED, substitute_in_group=False)
        assert self.check(outcome=Outcome.SUBSTITUTED, substitute_in_group=True) is None

    def test_a_non_substitutable_line_cannot_be_substituted(self):
        assert "non substituable" in self.check(outcome=Outcome.SUBSTITUTED, substitute_in_group=True,
                                               non_substitutable=True)

    def test_a_non_delivery_needs_a_reason_and_no_quantity(self):
        assert self.check(outcome=Outcome.NOT_DELIVERED, quantity=0, reason="Rupture de stock") is None
        assert "raison" in self.check(outcome=Outcome.NOT_DELIVERED, quantity=0, reason=" ")

    def test_the_status_follows_the_lines(self):
        assert rules.status_after_dispensation([(1, 1), (0, 3)]) is Status.PARTIALLY_DISPENSED
        assert rules.status_after_dispensation([(1, 1), (3, 3)]) is Status.DISPENSED


def test_line_draft_is_a_value():
    assert LineDraft(LineKind.SUBSTANCE, "X", Decimal(1), "mg", 1, Period.DAY, 1, Period.DAY, 1) == \
        LineDraft(LineKind.SUBSTANCE, "X", Decimal(1), "mg", 1, Period.DAY, 1, Period.DAY, 1)
