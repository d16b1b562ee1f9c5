"""Importing and searching the drug database (maillage.prescription.drugs), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from maillage.exceptions import ValidationFailed
from maillage.models.drug import DrugPresentation, DrugRelease, DrugSpeciality
from maillage.prescription import drugs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data" / "bdpm"
TODAY = dt.date(2026, 12, 7)


def count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


class TestImportRelease:
    def test_a_utf8_release_is_imported_whole_and_becomes_current(self, db):
        outcome = drugs.import_release(db, FIXTURES / "utf8")
        assert not outcome.unchanged and outcome.encoding == "utf-8"
        assert (outcome.specialities, outcome.presentations, outcome.generics, outcome.notices) == (14, 16, 8, 3)
        assert count(db, DrugSpeciality) == 14 and count(db, DrugPresentation) == 16
        release = db.scalars(select(DrugRelease).where(DrugRelease.current.is_(True))).one()
        assert release.speciality_count == 14 and release.encoding == "utf-8"

    def test_a_latin1_release_with_bad_lines_under_the_threshold_is_imported_without_them(self, db):
        outcome = drugs.import_release(db, FIXTURES / "latin1", threshold=0.1)
        assert outcome.encoding == "cp1252"
        assert len(outcome.issues) == 3
        assert db.get(DrugSpeciality, "60000097").name == "CURACNÉ 20 mg, capsule molle"
        assert count(db, DrugSpeciality) == 14

    def test_bad_lines_above_the_threshold_import_nothing_and_list_every_line(self, db):
        drugs.import_release(db, FIXTURES / "utf8")
        with pytest.raises(ValidationFailed) as caught:
            drugs.import_release(db, FIXTURES / "latin1", threshold=0.01)
        assert "rien n'a été importé" in caught.value.message
        assert caught.value.details[0] == "CIS_bdpm.txt:2 : code CIS : « 6000015 » n'a pas 8 chiffres"
        assert count(db, DrugRelease) == 1

    def test_reimporting_the_current_release_changes_nothing(self, db):
        first = drugs.import_release(db, FIXTURES / "utf8")
        again = drugs.import_release(db, FIXTURES / "utf8")
        assert again.unchanged and again.release_id == first.release_id
        assert count(db, DrugRelease) == 1

    def test_a_new_release_replaces_the_base_and_keeps_the_old_release_on_record(self, db, tmp_path):
        drugs.import_release(db, FIXTURES / "utf8")
        smaller = tmp_path / "release"
        shutil.copytree(FIXTURES / "utf8", smaller)
        lines = (smaller / "CIS_bdpm.txt").read_text().splitlines()
        (smaller / "CIS_bdpm.txt").write_text("\n".join(lines[:-1]) + "\n")  # the last speciality withdrawn
        for name in ("CIS_CIP_bdpm.txt", "CIS_COMPO_bdpm.txt"):
            kept = [line for line in (smaller / name).read_text().splitlines() if not line.startswith("60000141")]
            (smaller / name).write_text("\n".join(kept) + "\n")
        drugs.import_release(db, smaller)
        assert count(db, DrugSpeciality) == 13 and db.get(DrugSpeciality, "60000141") is None
        assert count(db, DrugRelease) == 2
        assert db.scalar(select(func.count()).where(DrugRelease.current.is_(True))) == 1

    def test_an_interrupted_import_leaves_the_previous_release(self, db, sessions, monkeypatch):
        drugs.import_release(db, FIXTURES / "utf8")
        db.commit()
        second = sessions()

        def interrupted(*_args, **_kwargs):
            raise RuntimeError("interrompu")

        monkeypatch.setattr(drugs.repository, "record_release", interrupted)
        with pytest.raises(RuntimeError):
            drugs.import_release(second, FIXTURES / "latin1", threshold=0.1)
        second.rollback()
        second.close()
        assert count(db, DrugSpeciality) == 14 and count(db, DrugRelease) == 1
        assert db.get(DrugSpeciality, "60000011") is not None

    def test_a_missing_file_is_refused_in_french(self, db, tmp_path):
        with pytest.raises(ValidationFailed, match=r"CIS_bdpm\.txt"):
            drugs.import_release(db, tmp_path)

    def test_a_threshold_outside_zero_to_one_is_refused(self, db):
        with pytest.raises(ValidationFailed, match="seuil"):
            drugs.import_release(db, FIXTURES / "utf8", threshold=5)


class TestSearch:
    @pytest.fixture(autouse=True)
    def _base(self, db):
        drugs.import_release(db, FIXTURES / "utf8")

    def test_a_name_prefix_finds_the_speciality_whatever_the_accents_and_case(self, db):
        hits = drugs.search(db, "curacne", today=TODAY)
        assert [hit.name for hit in hits] == ["CURACNÉ 20 mg, capsule molle"]

    def test_a_substance_finds_every_speciality_holding_it_with_group_and_notices(self, db):
        hits = drugs.search(db, "isotrétinoïne", today=TODAY)
        assert {hit.cis for hit in hits} == {"60000080", "60000097"}
        roaccutane = next(hit for hit in hits if hit.cis == "60000080")
        assert roaccutane.generic_kind == "princeps" and roaccutane.generic_group_id == "1004"
        assert roaccutane.substances == ["ISOTRÉTINOÏNE"]
        assert roaccutane.notices[0].startswith("Isotrétinoïne : rappel")

    def test_marketed_specialities_come_first(self, db):
        hits = drugs.search(db, "e", today=TODAY)
        assert hits == []  # one letter is too short a query
        hits = drugs.search(db, "ÉRYTHRO", today=TODAY)
        assert [hit.marketed for hit in hits] == [False]
        hits = drugs.search(db, "d", today=TODAY) + drugs.search(db, "do", today=TODAY)
        assert all(hit.marketed for hit in hits)

    def test_a_cis_a_cip13_or_a_cip7_finds_its_speciality(self, db):
        assert [hit.cis for hit in drugs.search(db, "60000059")] == ["60000059"]
        assert [hit.cis for hit in drugs.search(db, "3400930001073")] == ["60000011"]
        assert [hit.cis for hit in drugs.search(db, "3000107")] == ["60000011"]

    def test_an_unknown_code_finds_nothing(self, db):
        assert drugs.search(db, "3400939999994") == []

    def test_a_notice_outside_its_dates_is_not_shown(self, db):
        (hit,) = drugs.search(db, "60000080", today=dt.date(2040, 1, 1))
        assert hit.notices == []

    def test_presentations_come_with_the_speciality(self, db):
        (hit,) = drugs.search(db, "60000103")
        assert [p.label for p in hit.presentations] == [
            "plaquette(s) PVC aluminium de 30 comprimé(s)", "plaquette(s) PVC aluminium de 90 comprimé(s)"]

    def test_the_substitutes_are_the_other_members_of_the_generic_group(self, db):
        assert [hit.cis for hit in drugs.substitutes(db, "60000059")] == ["60000066"]
        assert drugs.substitutes(db, "60000073") == []

    def test_a_word_inside_a_substance_name_finds_it(self, db):
        hits = drugs.search(db, "clobé")
        assert {hit.cis for hit in hits} == {"60000059", "60000066"}

    def test_every_word_of_the_query_must_match(self, db):
        assert [hit.cis for hit in drugs.search(db, "doli 1000")] == ["60000011"]
        assert drugs.search(db, "doli 500") == []

    def test_a_substance_is_found_by_its_exact_name_for_a_prescription_by_dci(self, db):
        found = drugs.repository.specialities_by_substance(db, "PROPIONATE DE CLOBETASOL")
        assert [s.name for s in found] == ["CLOBÉTASOL ARROW 0,05 %, crème", "DERMOVAL 0,05 %, crème"]
