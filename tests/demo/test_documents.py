"""Documents' part of the demo: the GP's patients have documents of several types, a corrected version, a document
restricted to the author's team and one entered in error, written through the document service."""

from __future__ import annotations

from sqlalchemy import select

from maillage.auth import service as auth
from maillage.demo import load as demo
from maillage.demo.documents import DOCUMENTS
from maillage.document import service as documents
from maillage.kit.pagination import PageParams
from maillage.models.auth import UserAccount
from maillage.models.document import Document


class TestDemoDocuments:
    def test_the_gp_finds_documents_of_several_types_with_versions_and_an_error(self, db):
        demo.build_demo(db, "87", 1)
        mine = [d for d in db.scalars(select(Document).where(Document.owner_type == "patient",
                                                             Document.source == "upload"))
                if d.display_name.removesuffix(".pdf").removesuffix("-v2") in {x.key for x in DOCUMENTS}]
        assert {d.type_code for d in mine} >= {"18842-5", "57833-6", "11502-2", "11488-4", "34133-9"}
        assert sorted(d.version for d in mine if d.type_code == "18842-5") == [1, 2]
        assert {d.status for d in mine} == {"current", "superseded", "entered_in_error"}
        assert [d.confidentiality for d in mine if d.type_code == "11488-4"] == ["restricted"]
        users = {u.username: u for u in db.scalars(select(UserAccount))}
        gp = auth.actor_for(db, users["dr.dupont"])
        first = next(d for d in mine if d.type_code == "18842-5").patient_id
        rows, _ = documents.list_documents(db, gp, first, purpose="care", page=PageParams(limit=50, offset=0))
        assert len(rows) >= 4

    def test_a_filed_message_photo_and_reports_record_their_source(self, db):
        demo.build_demo(db, "87", 1)
        sources = {d.source for d in db.scalars(select(Document))}
        assert {"upload", "message"} <= sources
