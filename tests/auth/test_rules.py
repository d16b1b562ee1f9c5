"""Pure rules of authentication."""

from __future__ import annotations

import pytest

from maillage.auth.rules import lockout_minutes, password_problems, username_problems


class TestPasswordProblems:
    """ANSSI, Recommandations relatives à l'authentification multifacteur et aux mots de passe (2021):
    with a second factor, 12+ characters from a wide alphabet, or a long passphrase."""

    @pytest.mark.parametrize(
        "password",
        ["Correct-Horse-9x", "Un chat dort au soleil", "vingt-huit lettres minuscules", "Tr0ub4dor&3xyz"],
    )
    def test_acceptable_passwords_pass(self, password):
        assert password_problems(password, "dr.martin") == []

    @pytest.mark.parametrize(
        ("password", "fragment"),
        [
            ("Court-9a", "au moins 12"),
            ("toutenminuscule", "trois types"),
            ("dr.martin-Secret-2026", "identifiant"),
            ("azertyuiop123", "trop courant"),
            ("x" * 300, "dépasser 256"),
        ],
    )
    def test_weak_passwords_are_refused_with_a_french_reason(self, password, fragment):
        problems = password_problems(password, "dr.martin")
        assert any(fragment in p for p in problems), problems


class TestLockoutMinutes:
    @pytest.mark.parametrize(("lockouts", "expected"), [(0, 15), (1, 30), (2, 60), (6, 960), (7, 1440), (20, 1440)])
    def test_each_new_lockout_doubles_up_to_a_day(self, lockouts, expected):
        assert lockout_minutes(lockouts, 15, 1440) == expected


class TestUsernameProblems:
    @pytest.mark.parametrize("name", ["dr.martin", "ide_leroy-2", "a.b@chu-limoges.fr"])
    def test_plain_usernames_pass(self, name):
        assert username_problems(name) == []

    @pytest.mark.parametrize("name", ["ab", "héloïse", "a b", "x" * 65, "<script>"])
    def test_odd_usernames_are_refused(self, name):
        assert username_problems(name)
