"""Pure rules of authentication."""

from __future__ import annotations

import pytest

from maillage.auth.rules import describe_user_agent, lockout_minutes, password_problems, username_problems


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


class TestDescribeUserAgent:
    """The account page names a session's browser as its owner knows it, never by the raw header."""

    @pytest.mark.parametrize(("header", "described"), [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox sous Windows"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
         "Safari/537.36 Edg/131.0.0.0", "Edge sous Windows"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
         "Safari/605.1.15", "Safari sous macOS"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
         "Version/17.5 Mobile/15E148 Safari/604.1", "Safari sur iPhone"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
         "Safari/537.36", "Chrome sur Android"),
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
         "Safari/537.36", "Chrome sous Linux"),
        ("testclient", "Navigateur non reconnu"),
        (None, "—"),
    ])
    def test_a_header_reads_as_browser_and_system(self, header, described):
        assert describe_user_agent(header) == described
