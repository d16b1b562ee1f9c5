"""Pure rules of messaging, without a database: kinds of thread, what subjects, bodies and reasons must be, the
correction window (a house rule of Maillage: 15 minutes), unread counts and the keyed subject terms."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from maillage.exceptions import Conflict, PermissionDenied, ValidationFailed
from maillage.messaging import rules
from maillage.messaging.rules import Change, ThreadKind

AUTHOR, OTHER = uuid.uuid4(), uuid.uuid4()
SENT = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
KEY = b"k" * 32


class TestThreadKind:
    @pytest.mark.parametrize(("people", "teams", "kind"), [
        (1, 0, ThreadKind.DIRECT), (2, 0, ThreadKind.GROUP), (5, 0, ThreadKind.GROUP), (0, 1, ThreadKind.TEAM),
        (1, 1, ThreadKind.TEAM), (3, 2, ThreadKind.TEAM)])
    def test_the_kind_follows_the_recipients(self, people, teams, kind):
        assert rules.thread_kind(people, teams) is kind


class TestParticipants:
    def test_no_recipient_is_refused(self):
        with pytest.raises(ValidationFailed, match="au moins un destinataire"):
            rules.check_participants(0, 0)

    def test_up_to_the_limit_author_included_is_accepted_and_one_more_refused(self):
        rules.check_participants(rules.MAX_PARTICIPANTS - 2, 1)
        with pytest.raises(ValidationFailed, match="au plus 20"):
            rules.check_participants(rules.MAX_PARTICIPANTS - 1, 1)


class TestTexts:
    def test_a_subject_is_collapsed_required_and_bounded(self):
        assert rules.clean_subject("  Lésion   du dos ") == "Lésion du dos"
        with pytest.raises(ValidationFailed, match="obligatoire"):
            rules.clean_subject("   ")
        rules.clean_subject("x" * rules.MAX_SUBJECT_CHARS)
        with pytest.raises(ValidationFailed, match="200 caractères"):
            rules.clean_subject("x" * (rules.MAX_SUBJECT_CHARS + 1))

    def test_a_body_is_required_and_bounded(self):
        assert rules.clean_body("\n Bonjour \n") == "Bonjour"
        with pytest.raises(ValidationFailed, match="vide"):
            rules.clean_body(" ")
        with pytest.raises(ValidationFailed, match="20 000"):
            rules.clean_body("x" * (rules.MAX_BODY_CHARS + 1))

    def test_a_reason_says_why_in_enough_words(self):
        assert rules.clean_reason(" Avis  sur la lésion ") == "Avis sur la lésion"
        with pytest.raises(ValidationFailed, match="au moins 10"):
            rules.clean_reason("avis")
        with pytest.raises(ValidationFailed, match="2 000"):
            rules.clean_reason("x" * (rules.MAX_REASON_CHARS + 1))


class TestCorrectionWindow:
    """Every allowed and forbidden change: the author within 15 minutes; not someone else, not after, not once
    withdrawn (a house rule: a correction must not rewrite what others already acted on)."""

    @pytest.mark.parametrize("change", list(Change))
    def test_the_author_may_change_within_the_window_up_to_its_last_second(self, change):
        for delay in (dt.timedelta(0), rules.CORRECTION_WINDOW):
            rules.check_change(change, author_id=AUTHOR, actor_id=AUTHOR, sent_at=SENT, withdrawn_at=None,
                               at=SENT + delay)
            assert rules.may_change(author_id=AUTHOR, actor_id=AUTHOR, sent_at=SENT, withdrawn_at=None,
                                    at=SENT + delay)

    @pytest.mark.parametrize("change", list(Change))
    def test_after_the_window_the_change_is_refused(self, change):
        at = SENT + rules.CORRECTION_WINDOW + dt.timedelta(seconds=1)
        with pytest.raises(Conflict, match="15 minutes"):
            rules.check_change(change, author_id=AUTHOR, actor_id=AUTHOR, sent_at=SENT, withdrawn_at=None, at=at)
        assert not rules.may_change(author_id=AUTHOR, actor_id=AUTHOR, sent_at=SENT, withdrawn_at=None, at=at)

    @pytest.mark.parametrize("change", list(Change))
    def test_someone_else_may_never_change_it(self, change):
        with pytest.raises(PermissionDenied):
            rules.check_change(change, author_id=AUTHOR, actor_id=OTHER, sent_at=SENT, withdrawn_at=None, at=SENT)
        assert not rules.may_change(author_id=AUTHOR, actor_id=OTHER, sent_at=SENT, withdrawn_at=None, at=SENT)

    @pytest.mark.parametrize("change", list(Change))
    def test_a_withdrawn_message_may_not_be_changed_again(self, change):
        with pytest.raises(Conflict, match="retiré"):
            rules.check_change(change, author_id=AUTHOR, actor_id=AUTHOR, sent_at=SENT, withdrawn_at=SENT, at=SENT)
        assert not rules.may_change(author_id=AUTHOR, actor_id=AUTHOR, sent_at=SENT, withdrawn_at=SENT, at=SENT)


class TestUnread:
    @pytest.mark.parametrize(("last", "read", "unread"), [(0, None, 0), (3, None, 3), (3, 1, 2), (3, 3, 0),
                                                          (3, 5, 0)])
    def test_unread_is_what_follows_the_read_mark(self, last, read, unread):
        assert rules.unread(last, read) == unread

    def test_an_added_participants_access_lasts_thirty_days(self):
        assert rules.participant_access_ends(SENT) == SENT + dt.timedelta(days=30)


class TestSubjectTerms:
    def test_words_ignore_case_accents_short_words_and_repeats(self):
        assert rules.words("Lésion du DOS : lésion évolutive") == ["lesion", "dos", "evolutive"]

    def test_terms_are_keyed_hashes_framed_for_whole_word_matches(self):
        stored = rules.subject_terms(KEY, "Lésion du dos")
        assert stored.startswith(" ") and stored.endswith(" ")
        assert "lesion" not in stored
        assert all(f" {t} " in stored for t in rules.query_terms(KEY, "LESION dos"))
        assert rules.subject_terms(b"x" * 32, "Lésion du dos") != stored

    def test_a_subject_without_indexable_word_stores_nothing(self):
        assert rules.subject_terms(KEY, "Re : à") == ""
