"""Operational extract: registry of extractors, HMAC pseudonyms with a rotatable key, objections excluded."""

from __future__ import annotations

import hashlib
import hmac
import stat

import pyarrow as pa
import pytest

from maillage.analytics import catalogue, extract
from maillage.analytics.warehouse import Warehouse
from maillage.exceptions import ValidationFailed
from tests.analytics.conftest import fake_extractor, fake_telemedicine_acts


@pytest.fixture
def keyring(tmp_path) -> extract.KeyRing:
    return extract.KeyRing(tmp_path / "cles" / "pseudonymes.keys")


@pytest.fixture
def fake(territory) -> extract.Extractor:
    return fake_extractor(territory, name="fake-test")


def run(warehouse: Warehouse, keyring: extract.KeyRing, territory, objections=frozenset(), only=("fake-test",),
        extractors=(), sources=()):
    """Extract with the catalogue's extractors plus ``extractors``, and the objection ``sources`` given."""
    context = extract.ExtractionContext(session=None, objections=frozenset(objections), communes=territory)
    return extract.run_extraction(context, warehouse, keyring, extractors=[*catalogue.EXTRACTORS, *extractors],
                                  objection_sources=list(sources), only=list(only))


class TestPseudonym:
    def test_is_hmac_sha256_of_the_operational_id_with_the_key(self):
        key = b"k" * 32
        assert extract.pseudonym(key, "P0001") == hmac.new(key, b"P0001", hashlib.sha256).hexdigest()

    def test_differs_with_another_key(self):
        assert extract.pseudonym(b"a" * 32, "P1") != extract.pseudonym(b"b" * 32, "P1")


class TestKeyRing:
    def test_the_first_key_is_created_readable_by_its_owner_only(self, keyring):
        key = keyring.current()
        assert key.version == 1 and len(key.secret) == 32
        assert stat.S_IMODE(keyring.path.stat().st_mode) == 0o600
        assert keyring.current() == key

    def test_rotation_adds_a_version_and_makes_it_current(self, keyring):
        first = keyring.current()
        second = keyring.rotate()
        assert (second.version, keyring.current()) == (2, second)
        assert second.secret != first.secret and keyring.versions() == [1, 2]

    def test_the_key_may_not_live_inside_the_warehouse(self, fresh_warehouse):
        with pytest.raises(ValidationFailed, match="entrepôt"):
            extract.checked_keyring(fresh_warehouse.root / "cle.keys", fresh_warehouse)


class TestRunExtraction:
    def test_writes_pseudonymised_rows_without_the_raw_id(self, fresh_warehouse, keyring, fake, territory):
        report = run(fresh_warehouse, keyring, territory, extractors=[fake])
        table = fresh_warehouse.read_table(extract.OP_TELEMEDICINE_TABLE)
        assert report.tables == {extract.OP_TELEMEDICINE_TABLE: table.num_rows}
        assert "patient_id" not in table.column_names
        expected = extract.pseudonym(keyring.current().secret, "P0002")
        assert expected in set(table.column(extract.PSEUDONYM_COLUMN).to_pylist())
        assert not any(p.startswith("P0") for p in table.column(extract.PSEUDONYM_COLUMN).to_pylist())

    def test_patients_who_objected_are_excluded(self, fresh_warehouse, keyring, fake, territory):
        raw = fake_telemedicine_acts(territory)
        objected = raw.column("patient_id")[0].as_py()
        report = run(fresh_warehouse, keyring, territory, objections={objected}, extractors=[fake])
        table = fresh_warehouse.read_table(extract.OP_TELEMEDICINE_TABLE)
        gone = extract.pseudonym(keyring.current().secret, objected)
        assert gone not in set(table.column(extract.PSEUDONYM_COLUMN).to_pylist())
        assert report.excluded_rows[extract.OP_TELEMEDICINE_TABLE] == raw.column("patient_id").to_pylist().count(
            objected) > 0

    def test_the_objection_sources_given_are_applied(self, fresh_warehouse, keyring, fake,
                                                                      territory):
        run(fresh_warehouse, keyring, territory, extractors=[fake], sources=[lambda session: ["P0003"]])
        pseudonyms = set(fresh_warehouse.read_table(extract.OP_TELEMEDICINE_TABLE).column(
            extract.PSEUDONYM_COLUMN).to_pylist())
        assert extract.pseudonym(keyring.current().secret, "P0003") not in pseudonyms

    def test_after_a_rotation_nobody_keeps_their_pseudonym(self, fresh_warehouse, keyring, fake, territory):
        run(fresh_warehouse, keyring, territory, extractors=[fake])
        before = set(fresh_warehouse.read_table(extract.OP_TELEMEDICINE_TABLE).column(
            extract.PSEUDONYM_COLUMN).to_pylist())
        keyring.rotate()
        report = run(fresh_warehouse, keyring, territory, extractors=[fake])
        after = set(fresh_warehouse.read_table(extract.OP_TELEMEDICINE_TABLE).column(
            extract.PSEUDONYM_COLUMN).to_pylist())
        assert report.key_version == 2 and not before & after
        assert fresh_warehouse.manifest()["pseudonym_key_version"] == 2

    def test_the_communes_extractor_copies_the_territory(self, fresh_warehouse, keyring, territory):
        report = run(fresh_warehouse, keyring, territory, only=("communes",))
        assert report.tables == {"COMMUNES": len(territory)}

    def test_an_unknown_extractor_is_refused(self, fresh_warehouse, keyring, territory):
        with pytest.raises(ValidationFailed, match="inconnu"):
            run(fresh_warehouse, keyring, territory, only=("nope",))

    def test_an_extractor_whose_source_does_not_exist_yet_is_skipped(self, fresh_warehouse, keyring, territory):
        def missing(context):
            raise LookupError("module de téléexpertise absent")

        absent = extract.Extractor("absent", "OP_ABSENT", pa.schema([("x", pa.int64())]), missing)
        report = run(fresh_warehouse, keyring, territory, only=("absent",), extractors=[absent])
        assert report.skipped == {"absent": "module de téléexpertise absent"} and not report.tables

    def test_two_extractors_with_the_same_name_are_refused(self, fresh_warehouse, keyring, fake, territory):
        with pytest.raises(ValueError, match="unique"):
            run(fresh_warehouse, keyring, territory, extractors=[fake, fake_extractor(territory, name="fake-test")])

