"""One ``add_months``: the day is kept and clamped to the end of the target month."""

from __future__ import annotations

import datetime as dt

import pytest

from maillage.kit.months import add_months, month_end, month_start

D = dt.date


class TestAddMonths:
    @pytest.mark.parametrize(("day", "months", "expected"), [
        (D(2025, 3, 15), 1, D(2025, 4, 15)),
        (D(2025, 11, 1), 3, D(2026, 2, 1)),
        (D(2025, 12, 31), 0, D(2025, 12, 31)),
        (D(2025, 12, 1), 1, D(2026, 1, 1)),
        (D(2025, 6, 30), 12, D(2026, 6, 30)),
        (D(2025, 1, 1), 120, D(2035, 1, 1)),
    ])
    def test_the_day_is_kept_when_the_target_month_has_it(self, day, months, expected):
        assert add_months(day, months) == expected

    @pytest.mark.parametrize(("day", "months", "expected"), [
        (D(2025, 1, 31), 1, D(2025, 2, 28)),
        (D(2024, 1, 31), 1, D(2024, 2, 29)),   # leap year
        (D(2024, 2, 29), 12, D(2025, 2, 28)),  # from a 29 February to a common year
        (D(2024, 2, 29), 48, D(2028, 2, 29)),  # to the next leap year
        (D(2100, 1, 31), 1, D(2100, 2, 28)),   # a century that is not a leap year
        (D(2000, 1, 31), 1, D(2000, 2, 29)),   # one that is
        (D(2025, 8, 31), 1, D(2025, 9, 30)),
    ])
    def test_a_day_the_target_month_lacks_becomes_its_last_day(self, day, months, expected):
        assert add_months(day, months) == expected

    @pytest.mark.parametrize(("day", "months", "expected"), [
        (D(2026, 1, 15), -1, D(2025, 12, 15)),
        (D(2026, 2, 1), -3, D(2025, 11, 1)),
        (D(2025, 3, 31), -1, D(2025, 2, 28)),
        (D(2024, 3, 31), -1, D(2024, 2, 29)),
        (D(2025, 1, 10), -25, D(2022, 12, 10)),
    ])
    def test_negative_months_go_back(self, day, months, expected):
        assert add_months(day, months) == expected

    def test_a_month_start_stays_a_month_start(self):
        """The analytics flux months pass first days only and count on getting first days back."""
        day = D(2020, 1, 1)
        for months in range(-30, 30):
            assert add_months(day, months).day == 1

    def test_a_prescription_of_twelve_months_ends_the_day_before_its_anniversary(self):
        assert add_months(D(2025, 3, 10), 12) - dt.timedelta(days=1) == D(2026, 3, 9)


class TestMonthBounds:
    @pytest.mark.parametrize(("day", "start", "end"), [
        (D(2025, 2, 14), D(2025, 2, 1), D(2025, 2, 28)),
        (D(2024, 2, 1), D(2024, 2, 1), D(2024, 2, 29)),
        (D(2025, 12, 31), D(2025, 12, 1), D(2025, 12, 31)),
        (D(2025, 4, 30), D(2025, 4, 1), D(2025, 4, 30)),
    ])
    def test_first_and_last_day_of_the_month(self, day, start, end):
        assert month_start(day) == start and month_end(day) == end
