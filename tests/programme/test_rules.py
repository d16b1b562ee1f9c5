"""Pure rules of the programme: euros typed → integer cents (never a float), budget coherence, targets reached."""

from __future__ import annotations

from decimal import Decimal

import pytest

from maillage.exceptions import ValidationFailed
from maillage.programme import rules


class TestParseEuros:
    @pytest.mark.parametrize(("typed", "cents"), [
        ("12 500", 1_250_000), ("12 500,50", 1_250_050), ("1250.5", 125_050), ("0,07", 7), ("", 0),
        ("12\u202f500\u00a0€", 1_250_000), ("0.1", 10),
    ])
    def test_an_amount_typed_in_euros_becomes_exact_integer_cents(self, typed, cents):
        value = rules.parse_euros(typed, "Prévu")
        assert value == cents and isinstance(value, int)

    @pytest.mark.parametrize("typed", ["12,505", "-5", "douze", "1e5", "1 000 000 000 000 000"])
    def test_anything_else_is_refused_in_french(self, typed):
        with pytest.raises(ValidationFailed, match="Prévu"):
            rules.parse_euros(typed, "Prévu")


class TestFormatEuros:
    def test_cents_are_written_the_french_way(self):
        assert rules.format_euros(1_250_050) == "12\u202f500,50\u00a0€"
        assert rules.format_euros(7) == "0,07\u00a0€"


class TestBudget:
    def test_what_is_paid_was_committed_first(self):
        rules.check_budget(100, 80, 80)
        with pytest.raises(ValidationFailed, match="payé"):
            rules.check_budget(100, 50, 60)


class TestProgress:
    def test_the_share_of_the_target_reached_is_exact(self):
        p = rules.Progress(target=Decimal("120"), value=Decimal("90"))
        assert p.ratio == Decimal("0.750") and p.percent == 75 and p.reached is False

    def test_a_missing_value_says_nothing_of_the_target(self):
        p = rules.Progress(target=Decimal("120"), value=None, why_missing="secret")
        assert p.ratio is None and p.percent is None and p.reached is None

    def test_a_zero_target_has_no_ratio(self):
        assert rules.Progress(target=Decimal("0"), value=Decimal("3")).ratio is None


class TestYears:
    def test_only_the_five_years_of_the_plan_are_accepted(self):
        assert rules.parse_year("2026") == 2026
        for bad in ("2025", "2031", "deux"):
            with pytest.raises(ValidationFailed):
                rules.parse_year(bad)


def test_the_seed_s_four_axes_are_the_starting_list():
    """Seed, question 5: « moderniser les systèmes d'information, dématérialiser les actes administratifs, améliorer
    le suivi des patients par les objets connectés, doter les équipes des nouveaux équipements médicaux »."""
    titles = [t for t, _ in rules.SEED_AXES]
    assert len(titles) == 4
    for word in ("systèmes d'information", "actes administratifs", "objets connectés", "équipements médicaux"):
        assert any(word in t for t in titles), word
