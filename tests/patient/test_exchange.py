"""What the MSSanté exchange may know of identities: a received INS matches a qualified identity only (never a name,
never a provisional or validated identity), and the identity officer's candidates are an audited list read."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from maillage.exceptions import PermissionDenied
from maillage.models.audit import AuditEntry
from maillage.patient import exchange
from tests.fixtures.factories import make_user
from tests.fixtures.patients import actor, create, ins_of, physician, qualified


class TestQualifiedRecordForReceivedIns:
    def test_a_qualified_identity_matches_its_ins(self, db):
        view = qualified(db, physician(db), 2)
        ins = ins_of(2)
        assert exchange.qualified_record_for_received_ins(db, ins["ins_matricule"], ins["ins_oid"]) == view.patient.id

    def test_another_oid_does_not_match(self, db):
        qualified(db, physician(db), 2)
        assert exchange.qualified_record_for_received_ins(db, ins_of(2)["ins_matricule"], "1.2.250.1.213.1.4.8") is None

    def test_an_identity_that_is_not_qualified_does_not_match(self, db):
        create(db, physician(db), 3, **ins_of(3), insi_checked=True)  # retrieved (RECUP), document not checked
        ins = ins_of(3)
        assert exchange.qualified_record_for_received_ins(db, ins["ins_matricule"], ins["ins_oid"]) is None

    def test_an_unknown_ins_matches_nothing(self, db):
        ins = ins_of(4)
        assert exchange.qualified_record_for_received_ins(db, ins["ins_matricule"], ins["ins_oid"]) is None


class TestVigilanceCandidates:
    def test_the_officer_finds_records_by_birth_name_and_date_audited(self, db):
        view = create(db, physician(db), 5)
        officer = actor(db, make_user(db, "identity_officer"))
        found = exchange.vigilance_candidates(db, officer, birth_name=view.patient.birth_name,
                                              birth_date=view.patient.birth_date)
        assert [v.patient.id for v in found] == [view.patient.id]
        db.commit()
        entry = db.scalar(select(AuditEntry).where(AuditEntry.actor_id == str(officer.user_id),
                                                   AuditEntry.action == "search"))
        assert entry is not None and entry.purpose == "identity_vigilance"

    def test_a_physician_may_not_search_the_whole_base(self, db):
        with pytest.raises(PermissionDenied):
            exchange.vigilance_candidates(db, actor(db, physician(db)), birth_name="Durand", birth_date=None)
