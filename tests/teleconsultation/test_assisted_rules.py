"""Pure rules of assisted consultations and places: the accompaniment codes and their tariffs (DOMAIN.md §2.2: TLS
10 €, TLL 12 €, TLD 15 €, NGAP art. 14.9.5, since January 2020), when a place is open and free, what is wrong with
a place's range, and the nurse's window (the one a patient's link would have)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from maillage.directory.tariffs import tariff_for
from maillage.exceptions import ValidationFailed
from maillage.teleconsultation.rules import (
    PARIS,
    Assistance,
    Kind,
    LinkRefusal,
    Range,
    Status,
    assisted_refusal,
    place_free,
    place_open,
    place_range_problems,
)

MONDAY = dt.date(2026, 3, 2)


def at(hour: int, minute: int = 0, day: dt.date = MONDAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), PARIS).astimezone(dt.UTC)


WEEKLY_MORNING = Range(Kind.WEEKLY, 9 * 60, 12 * 60, weekday=0)


class TestAssistanceCodes:
    @pytest.mark.parametrize(("code", "amount"), [("TLS", "10.00"), ("TLL", "12.00"), ("TLD", "15.00")])
    def test_each_code_is_priced_from_the_dated_table(self, code, amount):
        """DOMAIN.md §2.2 (laboiteaidel.fr: "depuis janvier 2020"; décision UNCAM du 18 juillet 2019)."""
        tariff = tariff_for(code, dt.date(2026, 3, 2))
        assert tariff.amount == Decimal(amount) and "14.9.5" in tariff.source

    @pytest.mark.parametrize("code", ["TLS", "TLL", "TLD"])
    def test_no_tariff_before_january_2020(self, code):
        assert tariff_for(code, dt.date(2020, 1, 1)).amount > 0
        with pytest.raises(ValidationFailed, match="Aucun tarif"):
            tariff_for(code, dt.date(2019, 12, 31))

    def test_the_three_codes_and_their_french_labels(self):
        assert Assistance.labels() == {
            "TLS": "Pendant un soin infirmier déjà prévu",
            "TLL": "Dans un lieu dédié à la téléconsultation",
            "TLD": "Visite à domicile organisée pour la téléconsultation"}


class TestPlaceOpen:
    def test_a_slot_inside_a_weekly_range_of_its_day(self):
        assert place_open([WEEKLY_MORNING], at(10), at(10, 20))
        assert place_open([WEEKLY_MORNING], at(9), at(12))

    def test_a_slot_crossing_the_ranges_end_or_on_another_day(self):
        assert not place_open([WEEKLY_MORNING], at(11, 50), at(12, 10))
        assert not place_open([WEEKLY_MORNING], at(10, day=MONDAY + dt.timedelta(days=1)),
                              at(10, 20, day=MONDAY + dt.timedelta(days=1)))

    def test_an_addition_opens_its_day_only(self):
        extra = Range(Kind.EXTRA, 14 * 60, 16 * 60, day=MONDAY)
        assert place_open([extra], at(14), at(14, 30))
        assert not place_open([extra], at(14, day=MONDAY + dt.timedelta(days=7)),
                              at(14, 30, day=MONDAY + dt.timedelta(days=7)))

    def test_a_closure_that_meets_the_slot_closes_the_place(self):
        closure = Range(Kind.ABSENCE, 10 * 60, 10 * 60 + 30, day=MONDAY)
        assert not place_open([WEEKLY_MORNING, closure], at(10, 20), at(10, 40))
        assert place_open([WEEKLY_MORNING, closure], at(10, 30), at(10, 50)), "touching ends do not meet"

    def test_no_range_no_opening_and_a_slot_ending_at_midnight(self):
        assert not place_open([], at(10), at(10, 20))
        late = Range(Kind.WEEKLY, 23 * 60, 1440, weekday=0)
        assert place_open([late], at(23, 40), at(0, day=MONDAY + dt.timedelta(days=1)))


class TestPlaceFree:
    def test_a_held_slot_that_meets_the_interval_takes_the_place(self):
        held = [(at(10), at(10, 20))]
        assert not place_free(at(10, 10), at(10, 30), held)
        assert not place_free(at(9, 50), at(10, 10), held)
        assert place_free(at(10, 20), at(10, 40), held) and place_free(at(9, 40), at(10), held)
        assert place_free(at(10), at(10, 20), [])


class TestPlaceRangeProblems:
    def test_a_good_weekly_range_and_closure(self):
        assert place_range_problems(WEEKLY_MORNING) == []
        assert place_range_problems(Range(Kind.ABSENCE, 0, 1440, day=MONDAY)) == []

    def test_each_problem_by_field(self):
        assert [p["field"] for p in place_range_problems(Range(Kind.WEEKLY, 600, 500, weekday=0))] == ["end"]
        assert [p["field"] for p in place_range_problems(Range(Kind.WEEKLY, 500, 600, weekday=None))] == ["weekday"]
        assert [p["field"] for p in place_range_problems(Range(Kind.EXTRA, 500, 600))] == ["day"]


class TestNurseWindow:
    @pytest.mark.parametrize(("minutes", "status", "expected"), [
        (-16, Status.BOOKED, LinkRefusal.TOO_EARLY),
        (-15, Status.BOOKED, None),
        (0, Status.WAITING, None),
        (10, Status.IN_CONSULTATION, None),
        (50, Status.IN_CONSULTATION, None),
        (51, Status.IN_CONSULTATION, LinkRefusal.EXPIRED),
        (0, Status.CANCELLED, LinkRefusal.CLOSED),
        (0, Status.NO_SHOW, LinkRefusal.CLOSED),
        (0, Status.RESCHEDULED, LinkRefusal.CLOSED),
    ])
    def test_from_15_minutes_before_to_30_after_the_slot_while_it_holds(self, minutes, status, expected):
        start = at(10)
        assert assisted_refusal(at=start + dt.timedelta(minutes=minutes), starts_at=start,
                                ends_at=start + dt.timedelta(minutes=20), status=status) is expected
