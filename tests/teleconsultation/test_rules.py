"""The appointment's state machine (every allowed and forbidden transition), availability and slots, the link's
window: pure functions."""

from __future__ import annotations

import datetime as dt

import pytest

from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.teleconsultation import rules
from maillage.teleconsultation.rules import Action, Kind, LinkRefusal, Range, Status

ALLOWED = {
    (Status.BOOKED, Action.ARRIVE): Status.WAITING,
    (Status.BOOKED, Action.CANCEL): Status.CANCELLED,
    (Status.BOOKED, Action.RESCHEDULE): Status.RESCHEDULED,
    (Status.BOOKED, Action.NO_SHOW): Status.NO_SHOW,
    (Status.WAITING, Action.ARRIVE): Status.WAITING,
    (Status.WAITING, Action.ADMIT): Status.IN_CONSULTATION,
    (Status.WAITING, Action.CANCEL): Status.CANCELLED,
    (Status.WAITING, Action.RESCHEDULE): Status.RESCHEDULED,
    (Status.IN_CONSULTATION, Action.END): Status.DONE,
}


class TestStateMachine:
    @pytest.mark.parametrize(("current", "action"), list(ALLOWED))
    def test_each_allowed_transition_reaches_its_status(self, current, action):
        assert rules.next_status(current, action) is ALLOWED[(current, action)]

    @pytest.mark.parametrize(("current", "action"),
                             [(s, a) for s in Status for a in Action if (s, a) not in ALLOWED])
    def test_every_other_transition_is_refused_in_french(self, current, action):
        with pytest.raises(InvalidTransition) as refused:
            rules.next_status(current, action)
        assert refused.value.message.startswith(f"Impossible de {action.label}")
        assert current.label in refused.value.message

    def test_terminal_statuses_allow_nothing(self):
        for status in rules.TERMINAL:
            assert not [a for a in Action if (status, a) in rules.TRANSITIONS]

    def test_no_show_only_once_the_slot_has_started(self):
        start = dt.datetime(2026, 12, 7, 9, tzinfo=dt.UTC)
        with pytest.raises(InvalidTransition):
            rules.check_no_show(start, start - dt.timedelta(seconds=1))
        rules.check_no_show(start, start)

    def test_a_reason_is_required_to_cancel(self):
        with pytest.raises(ValidationFailed):
            rules.reason_text("  ok ", Action.CANCEL)
        assert rules.reason_text("  Patient  hospitalisé ", Action.CANCEL) == "Patient hospitalisé"


START = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
END = START + dt.timedelta(minutes=20)


class TestLinkWindow:
    def refusal(self, at, status=Status.BOOKED, opened=False, revoked=False):
        return rules.link_refusal(at=at, starts_at=START, ends_at=END, status=status, opened=opened, revoked=revoked)

    def test_opens_from_15_minutes_before_to_30_minutes_after_the_end(self):
        assert self.refusal(START - dt.timedelta(minutes=15)) is None
        assert self.refusal(END + dt.timedelta(minutes=30)) is None
        assert self.refusal(START - dt.timedelta(minutes=15, seconds=1)) is LinkRefusal.TOO_EARLY
        assert self.refusal(END + dt.timedelta(minutes=30, seconds=1)) is LinkRefusal.EXPIRED

    def test_opens_once(self):
        assert self.refusal(START, opened=True) is LinkRefusal.USED

    def test_revoked_or_closed_appointment(self):
        assert self.refusal(START, revoked=True) is LinkRefusal.UNKNOWN
        for status in (Status.CANCELLED, Status.RESCHEDULED, Status.NO_SHOW):
            assert self.refusal(START, status=status) is LinkRefusal.CLOSED


MONDAY = dt.date(2026, 12, 7)  # a Monday, Paris winter time (UTC+1)


def weekly(start, end, slot=20, weekday=0, line="L1"):
    return Range(Kind.WEEKLY, rules.minutes_of(start), rules.minutes_of(end), weekday=weekday, slot_minutes=slot,
                 line=line)


class TestSlots:
    def test_a_weekly_range_is_cut_into_slots_in_paris_time(self):
        found = rules.slots([weekly("09:00", "10:00")], MONDAY, 7, after=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
        assert [s.starts_at.astimezone(rules.PARIS).strftime("%H:%M") for s in found] == ["09:00", "09:20", "09:40"]
        assert found[0].starts_at == dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)
        assert all(s.ends_at - s.starts_at == dt.timedelta(minutes=20) for s in found)

    def test_a_trailing_piece_shorter_than_a_slot_is_not_offered(self):
        found = rules.slots([weekly("09:00", "09:50", slot=20)], MONDAY, 1, after=START - dt.timedelta(days=1))
        assert len(found) == 2

    def test_absences_additions_taken_and_past_slots(self):
        ranges = [weekly("09:00", "10:00"),
                  Range(Kind.ABSENCE, rules.minutes_of("09:40"), rules.minutes_of("12:00"), day=MONDAY),
                  Range(Kind.EXTRA, rules.minutes_of("14:00"), rules.minutes_of("14:30"), day=MONDAY,
                        slot_minutes=15, line="L2", place="Salle 3")]
        taken = [dt.datetime(2026, 12, 7, 8, 0, tzinfo=dt.UTC)]
        found = rules.slots(ranges, MONDAY, 1, after=dt.datetime(2026, 12, 7, 6, tzinfo=dt.UTC), taken=taken)
        assert [(s.starts_at.astimezone(rules.PARIS).strftime("%H:%M"), s.line, s.place) for s in found] == [
            ("09:20", "L1", "remote"), ("14:00", "L2", "Salle 3"), ("14:15", "L2", "Salle 3")]
        later = rules.slots(ranges, MONDAY, 1, after=dt.datetime(2026, 12, 7, 13, 5, tzinfo=dt.UTC))
        assert [s.starts_at.astimezone(rules.PARIS).strftime("%H:%M") for s in later] == ["14:15"]

    def test_the_next_week_repeats_and_other_weekdays_are_empty(self):
        found = rules.slots([weekly("09:00", "09:20")], MONDAY, 14, after=START - dt.timedelta(days=1))
        assert [s.starts_at.date() for s in found] == [MONDAY, MONDAY + dt.timedelta(days=7)]

    def test_summer_time_is_followed(self):
        june_monday = dt.date(2027, 6, 7)
        found = rules.slots([weekly("09:00", "09:20")], june_monday, 1, after=START)
        assert found[0].starts_at == dt.datetime(2027, 6, 7, 7, 0, tzinfo=dt.UTC)

    def test_a_range_may_end_at_midnight(self):
        found = rules.slots([weekly("23:30", "24:00", slot=30)], MONDAY, 1, after=START - dt.timedelta(days=1))
        assert found[0].ends_at == dt.datetime(2026, 12, 7, 23, 0, tzinfo=dt.UTC)


class TestRanges:
    def test_problems_field_by_field(self):
        assert rules.range_problems(weekly("09:00", "10:00")) == []
        bad = Range(Kind.WEEKLY, 600, 540, weekday=None, slot_minutes=3, line=None)
        fields = {p["field"] for p in rules.range_problems(bad)}
        assert fields == {"end", "weekday", "slot_minutes", "line_id"}
        assert rules.range_problems(Range(Kind.ABSENCE, 0, 1440, day=MONDAY)) == []
        assert {p["field"] for p in rules.range_problems(Range(Kind.EXTRA, 540, 550, day=MONDAY, slot_minutes=20,
                                                               line="L"))} == {"end"}

    def test_overlaps_between_weekly_ranges_and_additions_of_that_weekday(self):
        existing = [weekly("09:00", "10:00")]
        assert rules.overlaps(weekly("09:40", "11:00"), existing)
        assert not rules.overlaps(weekly("10:00", "11:00"), existing)
        assert not rules.overlaps(weekly("09:00", "10:00", weekday=1), existing)
        extra = Range(Kind.EXTRA, 570, 600, day=MONDAY, slot_minutes=15, line="L1")
        assert rules.overlaps(extra, existing)
        assert not rules.overlaps(Range(Kind.ABSENCE, 0, 1440, day=MONDAY), existing)

    def test_clock_texts(self):
        assert rules.minutes_of("24:00") == 1440
        assert rules.clock_text(545) == "09:05"
        for bad in ("9h", "25:00", "10:75", ""):
            with pytest.raises(ValidationFailed):
                rules.minutes_of(bad)
