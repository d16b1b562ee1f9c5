"""The patient banner's facts (maillage.web.patient_banner) and the age and agreement they rest on
(maillage.patient.views): French agreement from the known sex, the age in months then years, the INS masked unless the
identity is qualified, and no identifier of the record."""

from __future__ import annotations

import datetime as dt

import pytest

from maillage.kit.clock import PARIS, frozen
from maillage.models.patient import Patient
from maillage.patient.views import MASKED_MATRICULE, PatientView, age_label
from maillage.web.patient_banner import banner


def record(sex: str = "F", status: str = "PROV", matricule: str | None = None) -> Patient:
    return Patient(birth_name="Durand", given_names="Jeanne Marie", birth_date=dt.date(1950, 3, 12), sex=sex,
                   birthplace="87085", identity_status=status, ins_matricule=matricule,
                   ins_oid="1.2.250.1.213.1.4.8" if matricule else None)


class TestAgeLabel:
    @pytest.mark.parametrize(("birth", "today", "expected"), [
        (dt.date(2026, 11, 20), dt.date(2026, 12, 7), "0 mois"),
        (dt.date(2025, 12, 7), dt.date(2026, 12, 7), "12 mois"),
        (dt.date(2024, 12, 8), dt.date(2026, 12, 7), "23 mois"),
        (dt.date(2024, 12, 7), dt.date(2026, 12, 7), "2 ans"),
        (dt.date(1950, 12, 8), dt.date(2026, 12, 7), "75 ans"),
        (dt.date(1950, 12, 7), dt.date(2026, 12, 7), "76 ans"),
    ])
    def test_the_age_counts_whole_months_under_two_years_then_whole_years(self, birth, today, expected):
        assert age_label(birth, today) == expected


class TestBanner:
    def test_a_woman_is_nee_with_her_age_sex_and_provisional_identity(self):
        with frozen(dt.datetime(2026, 12, 7, 9, 0, tzinfo=PARIS)):
            facts = banner(PatientView(record()))
        assert facts is not None
        assert (facts.name, facts.born, facts.age, facts.sex) == ("DURAND Jeanne", "Née le 12/03/1950", "76 ans",
                                                                  "Féminin")
        assert facts.ins is None and facts.identity_status == "Identité provisoire" and facts.attending is None

    def test_a_man_is_ne(self):
        facts = banner(PatientView(record(sex="M")))
        assert facts is not None and facts.born == "Né le 12/03/1950" and facts.sex == "Masculin"

    def test_the_ins_is_shown_only_for_a_qualified_identity(self):
        qualified = banner(PatientView(record(status="QUAL", matricule="295109912611193")))
        provisional = banner(PatientView(record(status="VALI", matricule="295109912611193")))
        assert qualified is not None and qualified.ins == "2 95 10 99 126 111 93"
        assert provisional is not None and provisional.ins == MASKED_MATRICULE

    def test_no_view_no_banner(self):
        assert banner(None) is None
