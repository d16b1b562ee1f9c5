"""Messaging's part of the demo: threads played through the services, so that every demo role with the messaging
page finds a conversation in it, with read and unread messages, a receipt, a correction and a filed photo."""

from __future__ import annotations

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.accounts import DEMO_ACCOUNTS
from maillage.demo.messaging import THREADS
from maillage.messaging import service as messaging
from maillage.models.auth import UserAccount
from maillage.models.messaging import MessageAttachment, MessageRevision, MessageThread
from maillage.web.nav import items_for


class TestDemoMessaging:
    def test_every_role_with_the_messaging_page_finds_threads_some_unread(self, db):
        demo.build_demo(db, "87", 1)
        assert len(list(db.scalars(select(MessageThread)))) == len(THREADS)
        users = {u.username: u for u in db.scalars(select(UserAccount))}
        with_page = [a.username for a in DEMO_ACCOUNTS
                     if any(i.href == "/messagerie" for i in items_for(a.role.value, True))]
        assert set(with_page) == {"dr.martin", "dr.dupont", "sf.garnier", "ide.leroy", "idec.bernard",
                                  "pharma.petit", "ide.usmp"}
        unread = {}
        for name in with_page:
            actor = auth.actor_for(db, users[name])
            rows = messaging.inbox(db, actor)
            assert rows, name
            unread[name] = messaging.unread_count(db, actor)
        # The GP: one answer of the line and two of the meeting unread, and the coordinating nurse's new thread; the
        # EHPAD nurse: the pharmacist's answer and the whole meeting thread; the coordinating nurse, who coordinates the
        # dermatology line, the line's four messages too; the last writers have read everything.
        assert unread == {"dr.martin": 0, "dr.dupont": 4, "sf.garnier": 0, "ide.leroy": 4, "idec.bernard": 5,
                          "pharma.petit": 0, "ide.usmp": 1}

    def test_the_lesion_thread_has_a_receipt_a_filed_photo_and_the_ehpad_thread_a_correction(self, db):
        demo.build_demo(db, "87", 1)
        users = {u.username: u for u in db.scalars(select(UserAccount))}
        gp = auth.actor_for(db, users["dr.dupont"])
        lesion = next(r for r in messaging.inbox(db, gp) if r.thread.subject.startswith("Lésion"))
        assert lesion.patient is not None
        view = messaging.open_thread(db, gp, lesion.thread.id)
        assert view.messages[0].read_by == [users["dr.martin"].display_name]
        assert db.scalars(select(MessageAttachment)).one().filed_document_id is not None
        assert db.scalars(select(MessageRevision)).one().kind == "edit"

    def test_the_same_seed_gives_the_same_threads(self, db):
        demo.build_demo(db, "87", 1)
        first = sorted((t.subject, t.last_seq, t.kind) for t in db.scalars(select(MessageThread)))
        assert first == sorted((t.subject, len(t.steps) - sum(s.action != "write" for s in t.steps[1:]),
                                "team" if t.line else ("direct" if len(t.people) == 1 else "group"))
                               for t in THREADS)
