"""One French number formatter: comma for decimals, narrow no-break space between thousands, a dash for none."""

from __future__ import annotations

import decimal
import math

import pytest

from maillage.kit.numbers import fr_euros, fr_number


class TestFrNumber:
    @pytest.mark.parametrize(("value", "decimals", "expected"), [
        (12345.678, 2, "12\u202f345,68"),
        (0.5, 1, "0,5"),
        (1234567, 0, "1\u202f234\u202f567"),
        (-1234.5, 1, "-1\u202f234,5"),
        (3, 2, "3,00"),
    ])
    def test_french_separators(self, value, decimals, expected):
        assert fr_number(value, decimals) == expected

    def test_a_missing_value_is_a_dash(self):
        assert fr_number(None) == "—" and fr_number(math.nan) == "—"


class TestFrEuros:
    def test_an_amount_has_cents_and_the_sign(self):
        assert fr_euros(1234.5) == "1\u202f234,50 €"
        assert fr_euros(decimal.Decimal("28")) == "28,00 €"

    def test_no_amount_is_a_dash(self):
        assert fr_euros(None) == "—"
