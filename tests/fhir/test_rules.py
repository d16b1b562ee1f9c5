"""Pure rules of the FHIR door: search values (date prefixes and implicit ranges, tokens, references, _count, _sort),
cursors, OperationOutcome. Sources in ``maillage.fhir.rules``'s docstring (the SMART scopes it re-exports are tested
in tests/security/test_smart.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from maillage.fhir import rules
from maillage.fhir.rules import DateBound, SearchProblem, Sort

UTC = dt.UTC


class TestDateRange:
    @pytest.mark.parametrize(("text", "start", "end"), [
        ("2026", dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-12", dt.datetime(2026, 12, 1, tzinfo=UTC), dt.datetime(2027, 1, 1, tzinfo=UTC)),
        ("2026-02-28", dt.datetime(2026, 2, 28, tzinfo=UTC), dt.datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-02-28T10:15", dt.datetime(2026, 2, 28, 10, 15, tzinfo=UTC),
         dt.datetime(2026, 2, 28, 10, 16, tzinfo=UTC)),
        ("2026-02-28T10:15:30Z", dt.datetime(2026, 2, 28, 10, 15, 30, tzinfo=UTC),
         dt.datetime(2026, 2, 28, 10, 15, 31, tzinfo=UTC)),
        ("2026-02-28T10:15:30.5+01:00", dt.datetime(2026, 2, 28, 9, 15, 30, 500000, tzinfo=UTC),
         dt.datetime(2026, 2, 28, 9, 15, 30, 600000, tzinfo=UTC)),
    ])
    def test_a_date_implies_the_range_of_its_precision(self, text, start, end):
        assert rules.date_range(text) == (start, end)

    @pytest.mark.parametrize("text", ["26-01-01", "2026-13", "2026-02-30", "2026-01-01T25:00", "hier", ""])
    def test_an_unreadable_or_impossible_date_is_a_search_problem(self, text):
        with pytest.raises(SearchProblem):
            rules.date_range(text)


class TestParseDate:
    DAY = (dt.datetime(2026, 11, 2, tzinfo=UTC), dt.datetime(2026, 11, 3, tzinfo=UTC))

    @pytest.mark.parametrize(("value", "bounds"), [
        ("2026-11-02", [DateBound(">=", DAY[0]), DateBound("<", DAY[1])]),
        ("eq2026-11-02", [DateBound(">=", DAY[0]), DateBound("<", DAY[1])]),
        ("ge2026-11-02", [DateBound(">=", DAY[0])]),
        ("gt2026-11-02", [DateBound(">=", DAY[1])]),
        ("le2026-11-02", [DateBound("<", DAY[1])]),
        ("lt2026-11-02", [DateBound("<", DAY[0])]),
    ])
    def test_each_prefix_bounds_the_instant_against_the_range(self, value, bounds):
        assert rules.parse_date(value) == bounds

    @pytest.mark.parametrize("prefix", ["ne", "sa", "eb", "ap"])
    def test_the_other_r4_prefixes_are_refused_by_name(self, prefix):
        with pytest.raises(SearchProblem, match=prefix):
            rules.parse_date(f"{prefix}2026-11-02")


class TestTokensAndReferences:
    def test_token_forms(self):
        assert rules.parse_token("http://loinc.org|29463-7") == rules.Token("http://loinc.org", "29463-7")
        assert rules.parse_token("|29463-7") == rules.Token("", "29463-7")
        assert rules.parse_token("29463-7") == rules.Token(None, "29463-7")
        assert rules.parse_token("http://loinc.org|") == rules.Token("http://loinc.org", None)
        with pytest.raises(SearchProblem):
            rules.parse_token("|")

    def test_reference_forms(self):
        assert rules.parse_reference("Patient/abc", "Patient") == "abc"
        assert rules.parse_reference("abc", "Patient") == "abc"
        assert rules.parse_reference("http://127.0.0.1/fhir/Patient/abc", "Patient") == "abc"
        with pytest.raises(SearchProblem):
            rules.parse_reference("Group/abc", "Patient")


class TestCountAndSort:
    def test_count_defaults_caps_and_refuses_nonsense(self):
        assert rules.parse_count(None) == rules.DEFAULT_COUNT
        assert rules.parse_count("50") == 50
        assert rules.parse_count("100000") == rules.MAX_COUNT
        for bad in ("0", "-1", "dix", "1.5"):
            with pytest.raises(SearchProblem):
                rules.parse_count(bad)

    def test_sort_on_a_declared_date_only(self):
        default = Sort("date", True)
        assert rules.parse_sort(None, ("date",), default) == default
        assert rules.parse_sort("date", ("date",), default) == Sort("date", False)
        assert rules.parse_sort("-date", ("date",), default) == Sort("date", True)
        for bad in ("code", "date,-_lastUpdated"):
            with pytest.raises(SearchProblem):
                rules.parse_sort(bad, ("date",), default)


class TestCursor:
    def test_a_cursor_round_trips_and_is_opaque(self):
        position = {"s": "-date", "k": "2026-11-02T08:00:00+00:00", "i": "42"}
        cursor = rules.encode_cursor(position)
        assert "2026" not in cursor and "=" not in cursor
        assert rules.decode_cursor(cursor) == position

    @pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", "WzFd", "a" * 500])
    def test_a_forged_cursor_is_a_search_problem(self, cursor):
        with pytest.raises(SearchProblem, match="Curseur"):
            rules.decode_cursor(cursor)


class TestOperationOutcome:
    @pytest.mark.parametrize(("status", "code"), [
        (400, "invalid"), (401, "login"), (403, "forbidden"), (404, "not-found"), (409, "conflict"),
        (412, "conflict"), (422, "processing"), (500, "exception"),
    ])
    def test_the_issue_code_follows_the_status(self, status, code):
        outcome = rules.operation_outcome(status, "Problème.")
        assert outcome["issue"][0]["code"] == code
        assert outcome["issue"][0]["severity"] == ("fatal" if status >= 500 else "error")

    def test_field_details_become_one_issue_each(self):
        outcome = rules.operation_outcome(422, "Invalide.", details=[{"field": "a", "message": "x"},
                                                                     {"field": "b", "message": "y"}])
        assert [i["expression"] for i in outcome["issue"]] == [["a"], ["b"]]
