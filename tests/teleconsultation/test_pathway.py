"""The billing context of a teleconsultation against its source (DOMAIN.md §2.1): TCG or TC by fee sector, the
care-pathway flags (never blocking), the yearly share and its cap, and the follow-up rule."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from maillage.directory.tariffs import tariff_for
from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.teleconsultation import pathway, rules
from maillage.teleconsultation.pathway import Flag, ShareLevel
from maillage.teleconsultation.rules import FollowUp, Status


class TestActCode:
    """DOMAIN.md §2.1: TCG for sector 1, OPTAM or the tariff opposable; TC for doctors with fee overruns."""

    @pytest.mark.parametrize(
        ("sector", "code"), [("sector_1", "TCG"), ("optam", "TCG"), (None, "TCG"), ("sector_2", "TC")]
    )
    def test_the_code_follows_the_fee_sector(self, sector, code):
        assert pathway.act_code(sector) == code

    def test_an_unknown_sector_is_refused(self):
        with pytest.raises(ValidationFailed):
            pathway.act_code("sector_3")

    def test_tc_and_tcg_are_priced_from_the_dated_table_since_avenant_6(self):
        """Avenant 6: reimbursed since 15 September 2018; TCG 25 € (unchanged by the 2024 convention)."""
        assert tariff_for("TCG", dt.date(2026, 12, 7)).amount == Decimal("25.00")
        assert tariff_for("TC", dt.date(2026, 12, 7)).amount == Decimal("25.00")
        assert "NGAP" in tariff_for("TC", dt.date(2026, 12, 7)).source, "the TC amount is marked to check"
        with pytest.raises(ValidationFailed):
            tariff_for("TC", dt.date(2018, 9, 14))


ADULT = dt.date(1970, 5, 1)
ON = dt.date(2026, 12, 7)


def flags(**kw):
    base = {
        "specialty_code": "SM15",
        "birth_date": ADULT,
        "on": ON,
        "detainee": False,
        "ehpad_resident": False,
        "has_attending": True,
    }
    return pathway.pathway_flags(**{**base, **kw})


class TestPathwayFlags:
    """DOMAIN.md §2.1: exceptions to the care pathway."""

    def test_an_adult_with_a_gp_seen_by_a_dermatologist_is_in_the_pathway(self):
        assert flags() == []

    @pytest.mark.parametrize("code", ["SM20", "SM38", "SM40", "SM42", "SM43"])
    def test_specialities_in_direct_access_are_flagged(self, code):
        assert flags(specialty_code=code) == [Flag.DIRECT_ACCESS]

    def test_under_16_the_day_before_the_birthday_and_not_on_it(self):
        assert flags(birth_date=dt.date(2010, 12, 8)) == [Flag.UNDER_16]
        assert flags(birth_date=dt.date(2010, 12, 7)) == []

    def test_detainee_ehpad_and_no_attending_are_flagged_in_order(self):
        assert flags(detainee=True, ehpad_resident=True, has_attending=False) == [
            Flag.DETAINEE,
            Flag.EHPAD_RESIDENT,
            Flag.NO_ATTENDING,
        ]

    def test_every_flag_has_a_french_label(self):
        assert all("parcours" in f.label for f in Flag)


class TestYearlyShare:
    """Convention 2024-2029 (DOMAIN.md §2.1): at most 20 % per calendar year, 40 % for psychiatrists; the médecin
    traitant's teleconsultations with their own patients excluded."""

    def share(self, **kw):
        base = {
            "year": 2026,
            "platform_counted": 0,
            "platform_excluded": 0,
            "declared_in_person": None,
            "specialty_code": "SM15",
        }
        return pathway.yearly_share(**{**base, **kw})

    def test_without_the_declared_activity_the_share_is_unknown(self):
        s = self.share(platform_counted=10)
        assert s.level is ShareLevel.UNKNOWN and s.ratio is None and s.percent == "—"

    def test_below_near_and_over_the_20_percent_cap(self):
        assert self.share(platform_counted=15, declared_in_person=85).level is ShareLevel.BELOW
        assert self.share(platform_counted=16, declared_in_person=84).level is ShareLevel.NEAR
        assert self.share(platform_counted=20, declared_in_person=80).level is ShareLevel.NEAR
        assert self.share(platform_counted=21, declared_in_person=79).level is ShareLevel.OVER

    def test_a_psychiatrist_has_a_40_percent_cap(self):
        s = self.share(platform_counted=30, declared_in_person=70, specialty_code="SM42")
        assert s.cap == Decimal("0.40") and s.level is ShareLevel.BELOW and s.cap_percent == "40 %"
        assert self.share(platform_counted=41, declared_in_person=59, specialty_code="SM42").level is ShareLevel.OVER

    def test_own_patients_as_gp_are_activity_but_not_counted(self):
        s = self.share(platform_counted=10, platform_excluded=50, declared_in_person=40)
        assert s.counted == 10 and s.ratio == Decimal("0.1") and s.percent == "10.0 %"

    def test_teleconsultations_made_elsewhere_count(self):
        s = self.share(platform_counted=10, declared_in_person=70, declared_other_teleconsultations=20)
        assert s.counted == 30 and s.level is ShareLevel.OVER

    def test_negative_counts_are_refused(self):
        with pytest.raises(ValidationFailed):
            self.share(platform_counted=1, declared_in_person=-1)


class TestFollowUp:
    def test_a_follow_up_is_ordered_once_the_consultation_is_done(self):
        rules.check_follow_up(Status.DONE, already=None)

    @pytest.mark.parametrize("status", [s for s in Status if s is not Status.DONE])
    def test_not_before_nor_on_a_closed_appointment(self, status):
        with pytest.raises(InvalidTransition):
            rules.check_follow_up(status, already=None)

    def test_not_twice(self):
        with pytest.raises(InvalidTransition, match="déjà"):
            rules.check_follow_up(Status.DONE, already="in_person")

    def test_an_unknown_kind_is_refused_in_french(self):
        assert rules.follow_up_kind("teleexpertise") is FollowUp.TELEEXPERTISE
        with pytest.raises(ValidationFailed, match="suite"):
            rules.follow_up_kind("surgery")
