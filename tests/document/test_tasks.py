"""The daily retention purge job: deletes what the purge lists, skips held documents, runs twice harmlessly."""

from __future__ import annotations

import datetime as dt

from maillage.document import service, tasks
from maillage.kit.clock import frozen
from maillage.worker import registry
from tests.document.conftest import corpus


def _old(db, care, doc_settings, act_date):
    return service.store_upload(db, care.actor, patient_id=care.patient_id, filename="ancien.pdf",
                                data=corpus("ok_report.pdf"), declared_type="application/pdf", purpose="care",
                                owner_type="patient", owner_id=str(care.patient_id), act_date=act_date,
                                settings=doc_settings)


class TestPurgeExpired:
    def test_the_job_is_registered(self):
        assert registry.get(tasks.PURGE_JOB) is not None

    def test_it_deletes_expired_documents_skips_held_ones_and_is_idempotent(self, db, blobs, care, doc_settings):
        old = _old(db, care, doc_settings, dt.date(1990, 1, 1))
        held = _old(db, care, doc_settings, dt.date(1990, 1, 2))
        service.set_legal_hold(db, care.actor, held.id, True)
        with frozen(dt.datetime(2026, 12, 7, 12, tzinfo=dt.UTC)):
            assert tasks.purge_expired(db) == 1
            assert tasks.purge_expired(db) == 0
        assert old.deleted_at is not None and held.deleted_at is None
