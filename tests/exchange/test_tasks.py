"""The jobs of the MSSanté exchange: registered with the worker, the poll periodic, and both doing nothing while
MSSanté is off."""

from __future__ import annotations

from maillage.exchange import service, tasks
from maillage.integrations.mssante import FakeTransport
from maillage.worker import registry
from tests.exchange.test_service import incoming, settings, xdm_for
from tests.fixtures.patients import ins_of


class TestJobs:
    def test_both_jobs_are_registered_and_the_poll_is_periodic(self):
        assert registry.get(service.DELIVER_JOB) is not None and registry.get(service.POLL_JOB) is not None
        assert service.POLL_JOB in {p.name for p in registry.periodic_specs()}

    def test_while_mssante_is_off_the_poll_reads_nothing(self, db):
        assert tasks.poll_mssante(db) == {"read": 0, "filed": 0, "pending": 0, "refused": 0, "skipped": 0}

    def test_the_poll_job_reads_through_the_installed_transport(self, db, monkeypatch):
        fake = FakeTransport()
        fake.deliver(incoming(1, xdm_for(ins_of(9)["ins_matricule"], ins_of(9)["ins_oid"])))
        monkeypatch.setattr(service, "get_settings", lambda: settings())
        with service.use_transport(fake):
            assert tasks.poll_mssante(db)["pending"] == 1
            assert tasks.poll_mssante(db)["read"] == 0

    def test_delivering_a_send_that_does_not_exist_is_harmless(self, db):
        assert tasks.deliver_mssante(db, "00000000-0000-4000-8000-000000000000") == service.Delivery.MISSING
