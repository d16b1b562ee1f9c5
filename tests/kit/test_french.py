"""French wording: plurals (0 and 1 singular), agreement with a known sex, durations, and their Jinja filters."""

from __future__ import annotations

import pytest

from maillage.kit import french
from maillage.kit.templating import templates


class TestPlural:
    """French rule (Académie française; CLDR plural category "one" for fr: 0 ≤ n < 2): 0 and 1 are singular."""

    @pytest.mark.parametrize("n", [0, 1, 1.5, -1])
    def test_zero_one_and_below_two_take_the_singular(self, n):
        assert french.plural(n, "photographie") == "photographie"

    @pytest.mark.parametrize("n", [2, 3, 1000, -2])
    def test_two_and_more_take_the_plural(self, n):
        assert french.plural(n, "photographie") == "photographies"

    def test_an_irregular_plural_is_given(self):
        assert french.plural(2, "clé de données", "clés de données") == "clés de données"
        assert french.plural(1, "clé de données", "clés de données") == "clé de données"


class TestCount:
    def test_the_number_comes_with_the_agreeing_words(self):
        assert french.count(0, "alerte ouverte", "alertes ouvertes") == "0 alerte ouverte"
        assert french.count(1, "jointe") == "1 jointe"
        assert french.count(2, "alerte ouverte", "alertes ouvertes") == "2 alertes ouvertes"

    def test_thousands_are_separated_by_a_narrow_no_break_space(self):
        assert french.count(12345, "trace") == "12\u202f345 traces"


class TestAgree:
    def test_a_known_sex_gives_the_agreeing_form(self):
        assert french.agree("M", "né", "née") == "né"
        assert french.agree("F", "né", "née") == "née"
        assert french.agree("female", "né", "née") == "née"

    def test_an_unknown_sex_gives_the_inclusive_form(self):
        assert french.agree(None, "né", "née") == "né·e"
        assert french.agree("U", "né", "née") == "né·e"
        assert french.agree(None, "né", "née", "né ou née") == "né ou née"

    def test_words_that_do_not_share_a_stem_are_both_written(self):
        assert french.agree(None, "le patient", "la patiente", None) == "le patient / la patiente"


class TestDuration:
    @pytest.mark.parametrize(("hours", "text"), [
        (0.0, "moins d'une heure"), (0.9, "moins d'une heure"), (1.0, "1 h"), (1.5, "1 h 30"), (2.05, "2 h 03"),
        (23.99, "23 h 59"), (47.5, "47 h 30"), (48.0, "2 j"), (50.0, "2 j 2 h"), (75.6, "3 j 4 h"),
    ])
    def test_hours_read_as_people_say_them(self, hours, text):
        assert french.duration_hours(hours) == text

    @pytest.mark.parametrize("hours", [None, -1.0, float("nan")])
    def test_a_missing_or_impossible_duration_is_a_dash(self, hours):
        assert french.duration_hours(hours) == "—"

    def test_seconds_are_converted(self):
        assert french.duration_seconds(5400) == "1 h 30"
        assert french.duration_seconds(None) == "—"


class TestJinjaFilters:
    def test_the_filters_are_registered_on_the_shared_environment(self):
        env = templates().env
        rendered = env.from_string(
            "{{ 1 | counted('photographie') }} ; {{ 0 | counted('jointe') }} ; {{ 3 | plural('alerte') }} ; "
            "{{ 'F' | agree('né', 'née') }} ; {{ 0.0 | duration }} ; {{ 1.5 | duration }}").render()
        assert rendered == "1 photographie ; 0 jointe ; alertes ; née ; moins d&#39;une heure ; 1 h 30"
