"""Use cases of secure messaging against a real migrated database: threads to a team mailbox about a patient, the
relationships a thread opens and closes, read receipts and unread counts, corrections and withdrawals with their
history, attachments checked and sealed, filing into the patient's documents, search, and the attacks (knowing a
thread's, a message's or an attachment's id opens nothing)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text

from maillage.authz import service as authz
from maillage.document import service as documents
from maillage.document.rules import FileRefused
from maillage.exceptions import Conflict, NotFound, PermissionDenied, ValidationFailed
from maillage.messaging import rules, service
from maillage.messaging.rules import TeamKind
from maillage.models.audit import AuditEntry
from maillage.models.authz import CareRelationship
from maillage.models.messaging import Message, MessageThread
from maillage.security.purposes import Purpose
from tests.fixtures.factories import make_user
from tests.fixtures.messaging import msg_world, team_thread
from tests.fixtures.teleexpertise import photo


class TestCreateThread:
    def test_a_team_thread_about_a_patient_reaches_every_member_of_the_line(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        assert thread.kind == "team" and thread.last_seq == 1
        for member in (m.dermatologist, m.colleague):
            view = service.open_thread(db, m.a(db, member), thread.id)
            assert [v.message.body for v in view.messages] == ["Lésion pigmentée du dos, évolutive : avis ?"]
            assert view.through_team == "Dermatologie"

    def test_the_line_members_get_a_time_limited_relationship_for_the_thread_audited_with_the_reason(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        db.commit()  # audit entries are written at commit
        rels = list(db.scalars(select(CareRelationship).where(CareRelationship.source_id == str(thread.id))))
        assert {r.user_id for r in rels} == {m.dermatologist.id, m.colleague.id, m.backup.id}
        assert all(r.kind == "participant" and r.ends_at is not None for r in rels)
        assert all(r.ends_at - r.starts_at == rules.PARTICIPANT_ACCESS for r in rels)
        grants = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "grant",
                                                          AuditEntry.object_id == str(thread.id))))
        assert len(grants) == 3 and all(g.actor_id == str(m.gp.id) for g in grants)
        assert all(g.reason == "Avis dermatologique demandé sur une lésion du dos" for g in grants)

    def test_a_patient_thread_needs_a_reason(self, db):
        m = msg_world(db)
        with pytest.raises(ValidationFailed) as refused:
            service.create_thread(db, m.a(db, m.gp), service.NewThread(
                subject="Avis", body="Bonjour", teams=((TeamKind.LINE, m.line_id),), patient_id=m.patient_id))
        assert refused.value.details[0]["field"] == "reason"

    def test_an_author_who_does_not_follow_the_patient_gets_404_and_nothing_is_written(self, db):
        m = msg_world(db)
        before = db.scalar(select(text("count(*)")).select_from(MessageThread))
        with pytest.raises(NotFound):
            service.create_thread(db, m.a(db, m.outsider), service.NewThread(
                subject="Avis", body="Bonjour", people=(m.gp.id,), patient_id=m.patient_id,
                reason="Je voudrais voir ce patient"))
        db.rollback()
        assert db.scalar(select(text("count(*)")).select_from(MessageThread)) == before

    def test_without_a_recipient_the_thread_is_refused_in_french(self, db):
        m = msg_world(db)
        with pytest.raises(ValidationFailed, match="au moins un destinataire"):
            service.create_thread(db, m.a(db, m.gp), service.NewThread(subject="Avis", body="Bonjour"))

    def test_a_subject_and_a_body_are_sealed_at_rest(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        raw_subject = db.execute(text("select subject from message_thread where id = :i"),
                                 {"i": thread.id if db.bind.dialect.name == "postgresql" else thread.id.hex}).scalar()
        raw_body = db.execute(text("select body from message where thread_id = :i"),
                              {"i": thread.id if db.bind.dialect.name == "postgresql" else thread.id.hex}).scalar()
        assert raw_subject.startswith("vault1:") and "pigment" not in raw_subject
        assert raw_body.startswith("vault1:") and "dos" not in raw_body


class TestAccess:
    def test_knowing_a_thread_id_opens_nothing_for_a_non_participant(self, db):
        """The attack: a physician of another line, with no relationship to the patient, tries the thread's id (the
        refusal's audit entry, written after the request's rollback, is checked over HTTP in test_endpoints)."""
        m = msg_world(db)
        thread = team_thread(db, m)
        with pytest.raises(NotFound):
            service.open_thread(db, m.a(db, m.outsider), thread.id)
        assert service.inbox(db, m.a(db, m.outsider), search=service.Search(subject="lesion")) == []

    def test_a_missing_thread_and_someone_elses_thread_get_the_same_answer(self, db):
        m = msg_world(db)
        team_thread(db, m)
        with pytest.raises(NotFound) as missing:
            service.open_thread(db, m.a(db, m.outsider), "00000000-0000-0000-0000-000000000000")
        assert missing.value.status_code == 404

    def test_a_non_participant_can_neither_post_nor_read_an_attachment_nor_file_it(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        message = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        att = service.add_attachment(db, m.a(db, m.gp), message.id, filename="lesion.png", data=photo(),
                                     declared_type="image/png")
        outsider = m.a(db, m.outsider)
        for attempt in (lambda: service.post_message(db, outsider, thread.id, "Bonjour"),
                        lambda: service.read_attachment(db, outsider, att.id),
                        lambda: service.file_attachment(db, outsider, att.id),
                        lambda: service.edit_message(db, outsider, message.id, "Autre texte")):
            with pytest.raises(NotFound):
                attempt()

    def test_a_role_without_clinical_access_gets_403(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        billing = make_user(db, "billing_officer")
        from maillage.auth import service as auth

        with pytest.raises(PermissionDenied):
            service.open_thread(db, auth.actor_for(db, billing), thread.id)

    def test_every_read_of_a_patient_thread_is_audited(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        service.open_thread(db, m.a(db, m.dermatologist), thread.id)
        service.open_thread(db, m.a(db, m.dermatologist), thread.id)
        db.commit()
        reads = list(db.scalars(select(AuditEntry).where(AuditEntry.action == "read",
                                                         AuditEntry.object_id == str(thread.id))))
        assert len(reads) == 2 and all(r.patient_id == str(m.patient_id) for r in reads)
        assert all(r.purpose == Purpose.COORDINATION.value for r in reads)

    def test_removing_a_participant_ends_the_relationship_it_opened(self, db):
        m = msg_world(db)
        thread = service.create_thread(db, m.a(db, m.gp), service.NewThread(
            subject="Suivi", body="Bonjour", people=(m.outsider.id,), patient_id=m.patient_id,
            reason="Avis cardiologique pour la suite du traitement"))
        outsider = m.a(db, m.outsider)
        assert authz.has_access(db, outsider, m.patient_id)
        service.open_thread(db, outsider, thread.id)
        me = next(p for p in service.open_thread(db, m.a(db, m.gp), thread.id).participants
                  if p.participant.user_id == m.outsider.id)
        service.remove_participant(db, m.a(db, m.gp), thread.id, me.participant.id)
        assert not authz.has_access(db, outsider, m.patient_id)
        with pytest.raises(NotFound):
            service.open_thread(db, outsider, thread.id)

    def test_only_who_added_a_participant_or_the_participant_may_remove_them(self, db):
        m = msg_world(db)
        thread = service.create_thread(db, m.a(db, m.gp), service.NewThread(
            subject="Réunion", body="Bonjour", people=(m.outsider.id, m.colleague.id)))
        view = service.open_thread(db, m.a(db, m.colleague), thread.id)
        outsider_row = next(p for p in view.participants if p.participant.user_id == m.outsider.id)
        with pytest.raises(PermissionDenied):
            service.remove_participant(db, m.a(db, m.colleague), thread.id, outsider_row.participant.id)

    def test_adding_a_participant_to_a_patient_thread_grants_access_audited_with_who_and_why(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        service.add_participant(db, m.a(db, m.dermatologist), thread.id, user_id=m.outsider.id,
                                reason="Avis cardiologique avant exérèse")
        assert authz.has_access(db, m.a(db, m.outsider), m.patient_id)
        db.commit()
        grant = db.scalars(select(AuditEntry).where(AuditEntry.action == "grant",
                                                    AuditEntry.actor_id == str(m.dermatologist.id))).one()
        assert grant.reason == "Avis cardiologique avant exérèse"
        assert service.open_thread(db, m.a(db, m.outsider), thread.id).thread.id == thread.id


class TestReadingAndReceipts:
    def test_unread_counts_follow_reading_and_the_author_sees_the_receipt(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        derm = m.a(db, m.dermatologist)
        assert service.unread_count(db, derm) == 1
        assert service.unread_count(db, m.a(db, m.gp)) == 0
        assert [r.unread for r in service.inbox(db, derm)] == [1]
        view = service.open_thread(db, derm, thread.id)
        assert view.unread_before == 1
        assert service.unread_count(db, derm) == 0
        gp_view = service.open_thread(db, m.a(db, m.gp), thread.id)
        assert gp_view.messages[0].read_by == [m.dermatologist.display_name]
        service.post_message(db, derm, thread.id, "Pouvez-vous joindre une photo en lumière rasante ?")
        assert service.unread_count(db, m.a(db, m.gp)) == 1
        assert service.unread_count(db, m.a(db, m.colleague)) == 2


class TestCorrections:
    def test_an_edit_within_the_window_keeps_the_earlier_text_in_the_history(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        msg = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        service.edit_message(db, m.a(db, m.gp), msg.id, "Lésion pigmentée du dos, évolutive depuis 2 mois : avis ?")
        view = service.open_thread(db, m.a(db, m.dermatologist), thread.id).messages[0]
        assert view.message.edited_at is not None
        assert [r.body for r in view.revisions] == ["Lésion pigmentée du dos, évolutive : avis ?"]

    def test_a_withdrawal_keeps_the_text_in_the_history_and_forbids_further_changes(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        msg = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        service.withdraw_message(db, m.a(db, m.gp), msg.id)
        assert msg.withdrawn_at is not None and msg.body == "Message retiré par son auteur."
        with pytest.raises(Conflict):
            service.edit_message(db, m.a(db, m.gp), msg.id, "Nouveau texte")

    def test_someone_elses_message_may_not_be_changed(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        msg = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        with pytest.raises(PermissionDenied):
            service.withdraw_message(db, m.a(db, m.dermatologist), msg.id)

    def test_after_the_window_a_correction_is_refused(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        msg = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        msg.created_at = msg.created_at - rules.CORRECTION_WINDOW - dt.timedelta(seconds=1)
        db.flush()
        with pytest.raises(Conflict, match="15 minutes"):
            service.edit_message(db, m.a(db, m.gp), msg.id, "Texte corrigé trop tard")


class TestAttachments:
    def test_a_photo_is_stored_sealed_and_read_back_by_a_member_of_the_line(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        msg = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        att = service.add_attachment(db, m.a(db, m.gp), msg.id, filename="lesion.png", data=photo(),
                                     declared_type="image/png")
        got, data = service.read_attachment(db, m.a(db, m.dermatologist), att.id)
        assert got.media_type == "image/png" and data[:8] == b"\x89PNG\r\n\x1a\n"

    def test_a_file_whose_content_is_not_what_its_name_says_is_refused_and_leaves_nothing(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        msg = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        with pytest.raises(FileRefused):
            service.add_attachment(db, m.a(db, m.gp), msg.id, filename="lesion.png", data=b"MZ\x90\x00" * 100,
                                   declared_type="image/png")
        assert service.open_thread(db, m.a(db, m.gp), thread.id).messages[0].attachments == []

    def test_filing_puts_the_photo_in_the_patients_documents_once(self, db):
        m = msg_world(db)
        thread = team_thread(db, m)
        msg = db.scalars(select(Message).where(Message.thread_id == thread.id)).one()
        att = service.add_attachment(db, m.a(db, m.gp), msg.id, filename="lesion.png", data=photo(),
                                     declared_type="image/png")
        derm = m.a(db, m.dermatologist)
        document = service.file_attachment(db, derm, att.id)
        assert document.patient_id == m.patient_id and document.owner_type == "patient"
        assert att.filed_document_id == document.id
        _, data = documents.read(db, derm, document.id, Purpose.CARE)
        assert data[:4] == b"\x89PNG"
        with pytest.raises(Conflict):
            service.file_attachment(db, derm, att.id)
        with pytest.raises(NotFound):
            documents.read(db, m.a(db, m.outsider), document.id, Purpose.CARE)
        db.commit()
        filed = db.scalars(select(AuditEntry).where(AuditEntry.action == "filed",
                                                    AuditEntry.object_type == "message_attachment")).one()
        assert filed.actor_id == str(m.dermatologist.id)


class TestSearch:
    def test_search_by_subject_word_patient_participant_and_date(self, db):
        m = msg_world(db)
        first = team_thread(db, m, subject="Lésion pigmentée évolutive")
        second = service.create_thread(db, m.a(db, m.gp), service.NewThread(
            subject="Organisation de la réunion", body="Jeudi ?", people=(m.colleague.id,)))
        gp = m.a(db, m.gp)

        def ids(**kw):
            return [r.thread.id for r in service.inbox(db, gp, search=service.Search(**kw))]

        assert ids(subject="lesion") == [first.id]          # accents and case ignored
        assert ids(subject="REUNION organisation") == [second.id]
        assert ids(subject="pigm") == []                     # whole words only
        assert ids(patient_id=m.patient_id) == [first.id]
        assert ids(participant="dermato") == [first.id]
        assert set(ids(participant=m.colleague.display_name[:8])) == {first.id, second.id} or \
            ids(participant=m.colleague.display_name) == [second.id]
        today = dt.date.today()
        assert set(ids(since=today - dt.timedelta(days=1), until=today + dt.timedelta(days=1))) == {first.id,
                                                                                                    second.id}
        assert ids(since=today + dt.timedelta(days=2)) == []

    def test_a_search_word_too_short_is_refused_in_french(self, db):
        m = msg_world(db)
        with pytest.raises(ValidationFailed, match="au moins 3 lettres"):
            service.inbox(db, m.a(db, m.gp), search=service.Search(subject="de"))

    def test_the_stored_terms_do_not_hold_the_words(self, db):
        m = msg_world(db)
        thread = team_thread(db, m, subject="Mélanome suspecté")
        assert "melanome" not in thread.subject_terms and "Mélanome" not in thread.subject_terms
        assert len(thread.subject_terms.split()) == 2
