"""Identifiers of professionals and establishments, establishment kinds and GHT roles (directory/rules.py).

Sources cited as "DOMAIN" are sections of shared/DOMAIN.md.
"""

from __future__ import annotations

import pytest

from maillage.directory import rules
from maillage.directory.rules import EstablishmentKind, GhtParticipant, GhtRole, ProfessionalIdType
from maillage.exceptions import ValidationFailed

# Real FINESS numbers as published in the etalab FINESS extract (lines quoted in public code found with the
# search tool; DOMAIN §1.4 verified 40 such numbers):
REAL_FINESS = {
    "750712184": "Assistance Publique - Hôpitaux de Paris, the CHU of Paris (EJ)",
    "750100125": "GHU AP-HP Sorbonne Université, site Pitié-Salpêtrière (ET)",
    "970400024": "CHU de La Réunion, site Félix Guyon, Saint-Denis (ET)",
    "970408589": "CHU de La Réunion (EJ)",
    "010000024": "CH de Fleyriat, Bourg-en-Bresse (ET)",
    "010780054": "CH de Bourg-en-Bresse (EJ)",
    "690035159": "EJ of a medical laboratory, Lyon (DOMAIN §1.4 list)",
    "750056335": "EJ of a readaptation clinic (DOMAIN §1.4 list)",
}


def one_digit_mutations(number: str) -> list[str]:
    return [
        number[:i] + digit + number[i + 1 :]
        for i, current in enumerate(number)
        for digit in "0123456789"
        if digit != current
    ]


def raises_with(field: str, fragment: str):
    class _Check:
        def __enter__(self):
            self.ctx = pytest.raises(ValidationFailed)
            self.info = self.ctx.__enter__()
            return self.info

        def __exit__(self, *exc):
            handled = self.ctx.__exit__(*exc)
            error = self.info.value
            assert fragment in error.message, error.message
            assert error.details == [{"field": field, "message": error.message}]
            return handled

    return _Check()


class TestValidateFiness:
    @pytest.mark.parametrize("number", sorted(REAL_FINESS))
    def test_a_real_published_finess_number_is_accepted(self, number):
        """Luhn key on all-digit FINESS, verified on real numbers (DOMAIN §1.4)."""
        assert rules.validate_finess(number) == number

    @pytest.mark.parametrize("number", sorted(REAL_FINESS))
    def test_every_one_digit_mutation_of_a_real_number_is_rejected(self, number):
        """The Luhn key catches every single-digit error (DOMAIN §1.4: Luhn over the 9 digits)."""
        mutations = one_digit_mutations(number)
        assert len(mutations) == 81
        for mutated in mutations:
            with pytest.raises(ValidationFailed, match="clé de contrôle"):
                rules.validate_finess(mutated)

    def test_the_error_names_the_field_the_key_found_and_the_key_expected(self):
        """French error naming the field and why (house rule); key per Luhn (DOMAIN §1.4)."""
        with raises_with("nofinesset", "FINESS : la clé de contrôle 5 ne correspond pas (attendue 4)."):
            rules.validate_finess("010000025", field="nofinesset")

    @pytest.mark.parametrize("number", ["2A0000013", "2B0000011", "2a0000019"])
    def test_a_corsican_number_is_accepted_without_a_key_check(self, number):
        """2A/2B FINESS: key rule unknown, do not reject on checksum (DOMAIN §1.4)."""
        assert rules.validate_finess(number) == number.upper()

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ("01000002", "9 caractères attendus, 8 reçus"),
            ("0100000244", "9 caractères attendus, 10 reçus"),
            ("", "valeur absente"),
            ("01000002X", "seuls des chiffres"),
            ("2C0000013", "seuls des chiffres"),
            ("2A000001B", "seuls des chiffres"),
        ],
    )
    def test_a_malformed_number_is_rejected_with_the_reason(self, value, fragment):
        """9 characters, digits or the Corsican 2A/2B prefix (ANS FINESS schema pattern; DOMAIN §1.4)."""
        with raises_with("finess", fragment):
            rules.validate_finess(value)

    def test_separators_and_blanks_are_ignored(self):
        """Compact form before checking (same convention as python-stdnum's compact())."""
        assert rules.validate_finess(" 750 712 184 ") == "750712184"


class TestValidateRpps:
    @pytest.mark.parametrize("number", ["10005173140", "99700218896"])
    def test_a_real_rpps_with_a_good_luhn_key_has_no_warning(self, number):
        """11 digits (FR Core); the two real RPPS of DOMAIN §1.3 pass Luhn."""
        result = rules.validate_rpps(number)
        assert result == rules.ProfessionalId(ProfessionalIdType.RPPS, number, ())

    def test_a_failed_luhn_key_is_a_warning_not_a_rejection(self):
        """RPPS key: soft check only, warn, don't reject (DOMAIN §1.3 [uncertain])."""
        result = rules.validate_rpps("10005173141")
        assert result.value == "10005173141"
        assert len(result.warnings) == 1
        assert "clé de Luhn 1 ne correspond pas (attendue 0)" in result.warnings[0]

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ("1000517314", "11 chiffres attendus, 10 reçus"),
            ("100051731400", "11 chiffres attendus, 12 reçus"),
            ("1000517314A", "seuls des chiffres"),
            ("", "valeur absente"),
        ],
    )
    def test_a_number_that_is_not_eleven_digits_is_rejected(self, value, fragment):
        """RPPS: 11 digits, a hard rule (FR Core "Numéro RPPS (11 chiffres)", DOMAIN §1.3)."""
        with raises_with("rpps", fragment):
            rules.validate_rpps(value)


class TestValidateAdeli:
    @pytest.mark.parametrize("number", ["012600631", "019200575", "010001949"])
    def test_a_real_adeli_number_is_accepted_without_warning(self, number):
        """9 digits; real numbers of the public extract pass Luhn (DOMAIN §1.3)."""
        assert rules.validate_adeli(number) == rules.ProfessionalId(ProfessionalIdType.ADELI, number, ())

    def test_a_failed_luhn_key_is_a_warning(self):
        """The ADELI key is only empirical (DOMAIN §1.3, no official text): warn, keep the number."""
        result = rules.validate_adeli("012600632")
        assert result.value == "012600632"
        assert "ADELI : la clé de Luhn 2 ne correspond pas (attendue 1)" in result.warnings[0]

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [("01260063", "9 chiffres attendus, 8 reçus"), ("0126006310", "9 chiffres attendus, 10 reçus"),
         ("2A2600631", "seuls des chiffres")],
    )  # fmt: skip
    def test_a_number_that_is_not_nine_digits_is_rejected(self, value, fragment):
        """ADELI: 9 digits (DOMAIN §1.3)."""
        with raises_with("adeli", fragment):
            rules.validate_adeli(value)


class TestValidateProfessionalId:
    def test_type_8_is_checked_as_an_rpps(self):
        """TRE_G08: 8 = RPPS (DOMAIN §1.3)."""
        assert rules.validate_professional_id("8", "10005173140").type is ProfessionalIdType.RPPS

    def test_type_0_is_checked_as_an_adeli(self):
        """TRE_G08: 0 = N° ADELI (DOMAIN §1.3)."""
        assert rules.validate_professional_id("0", "012600631").type is ProfessionalIdType.ADELI

    def test_an_unknown_type_is_rejected(self):
        """Only ADELI (0) and RPPS (8) identify a person in the extract (DOMAIN §1.3)."""
        with raises_with("identifiant", "« 3 » inconnu"):
            rules.validate_professional_id("3", "010000024")


class TestIdnatPs:
    def test_the_national_id_of_an_rpps_is_8_followed_by_the_rpps(self):
        """IdNat_PS = 8 + RPPS (FR Core; DOMAIN §1.3)."""
        assert rules.idnat_ps(ProfessionalIdType.RPPS, "10005173140") == "810005173140"

    def test_the_national_id_of_an_adeli_is_0_followed_by_the_adeli(self):
        """IdNat_PS = 0 + ADELI; the extract shows 0010001949 for ADELI 010001949 (DOMAIN §1.3)."""
        assert rules.idnat_ps(ProfessionalIdType.ADELI, "010001949") == "0010001949"

    def test_the_professional_id_carries_its_national_id(self):
        """Same rule through the result object."""
        assert rules.validate_adeli("010001949").national_id == "0010001949"


class TestCheckNationalId:
    def test_a_coherent_national_id_is_returned(self):
        """The extract's "Identification nationale PP" = type + identifier (DOMAIN §1.3)."""
        pid = rules.validate_rpps("10005173140")
        assert rules.check_national_id(pid, "810005173140", field="x") == "810005173140"

    def test_a_national_id_with_the_wrong_prefix_is_rejected(self):
        """8 + RPPS, not 0 + RPPS (DOMAIN §1.3)."""
        pid = rules.validate_rpps("10005173140")
        with raises_with("Identification nationale PP", "attendu 810005173140"):
            rules.check_national_id(pid, "010005173140", field="Identification nationale PP")


class TestValidateSiren:
    def test_a_valid_siren_is_accepted(self):
        """SIREN: 9 digits, Luhn (python-stdnum stdnum.fr.siren; DOMAIN §1.4). 260100045 = CH de Bourg-en-Bresse."""
        assert rules.validate_siren("260 100 045") == "260100045"

    def test_a_wrong_key_is_rejected(self):
        """Same source."""
        with raises_with("siren", "SIREN : la clé de contrôle ne correspond pas."):
            rules.validate_siren("260100046")


class TestValidateSiret:
    def test_a_valid_siret_is_accepted(self):
        """SIRET: SIREN + NIC, Luhn over 14 digits (python-stdnum stdnum.fr.siret; DOMAIN §1.4)."""
        assert rules.validate_siret("26010004500012") == "26010004500012"

    def test_a_la_poste_siret_follows_its_own_rule(self):
        """La Poste establishments: digits summing to a multiple of 5 (python-stdnum; DOMAIN §1.4)."""
        assert rules.validate_siret("35600000049837") == "35600000049837"

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [("26010004500013", "clé de contrôle"), ("2601000450001", "14 chiffres attendus, 13 reçus")],
    )
    def test_an_invalid_siret_is_rejected(self, value, fragment):
        """Same source."""
        with raises_with("siret", fragment):
            rules.validate_siret(value)


class TestKindForFinessCategory:
    @pytest.mark.parametrize(
        ("code", "kind"),
        [
            ("355", EstablishmentKind.HOSPITAL),
            ("101", EstablishmentKind.HOSPITAL),
            ("500", EstablishmentKind.EHPAD),
            ("620", EstablishmentKind.PHARMACY),
            ("124", EstablishmentKind.HEALTH_CENTRE),
            ("603", EstablishmentKind.CITY_PRACTICE),
        ],
    )
    def test_a_finess_category_maps_to_its_kind(self, code, kind):
        """FINESS categetab codes as labelled in the etalab extract / DREES nomenclature."""
        assert rules.kind_for_finess_category(code) is kind

    def test_a_category_maillage_does_not_use_has_no_kind(self):
        """223 = PMI: not one of the territory's kinds."""
        assert rules.kind_for_finess_category("223") is None

    def test_no_finess_category_is_an_usmp(self):
        """An USMP is a unit of its attaching hospital, with no FINESS category of its own."""
        assert EstablishmentKind.USMP not in rules.FINESS_CATEGORY_KINDS.values()


class TestAllowedGhtRoles:
    ALL_ROLES = frozenset(GhtRole)

    @pytest.mark.parametrize(
        ("kind", "public", "expected"),
        [
            (EstablishmentKind.HOSPITAL, True, {GhtRole.SUPPORT, GhtRole.MEMBER, GhtRole.PARTNER}),
            (EstablishmentKind.HOSPITAL, False, {GhtRole.PARTNER}),
            (EstablishmentKind.EHPAD, True, {GhtRole.MEMBER, GhtRole.PARTNER}),
            (EstablishmentKind.EHPAD, False, {GhtRole.PARTNER}),
            (EstablishmentKind.USMP, True, {GhtRole.PARTNER}),
            (EstablishmentKind.CITY_PRACTICE, False, {GhtRole.PARTNER}),
            (EstablishmentKind.HEALTH_CENTRE, True, {GhtRole.PARTNER}),
            (EstablishmentKind.PHARMACY, False, {GhtRole.PARTNER}),
        ],
    )
    def test_each_kind_has_its_roles(self, kind, public, expected):
        """CSP L6132-1 and L6132-3 (DOMAIN §8): support and members are public health establishments; public
        medico-social establishments may be party; everyone else is a partner."""
        assert rules.allowed_ght_roles(kind, public=public) == expected

    def test_every_forbidden_role_is_refused_by_check_ght_role(self):
        """Same source: check_ght_role refuses exactly what allowed_ght_roles leaves out."""
        for kind in EstablishmentKind:
            for public in (True, False):
                allowed = rules.allowed_ght_roles(kind, public=public)
                for role in self.ALL_ROLES - allowed:
                    with pytest.raises(ValidationFailed, match="Rôle GHT"):
                        rules.check_ght_role(kind, role, public=public)
                for role in allowed:
                    assert rules.check_ght_role(kind, role, public=public) is role


class TestValidateGht:
    def participants(self, *roles: GhtRole) -> list[GhtParticipant]:
        numbers = ["010000024", "750712184", "970400024", "750100125"]
        return [GhtParticipant(numbers[i], EstablishmentKind.HOSPITAL, True, role) for i, role in enumerate(roles)]

    def test_one_support_and_members_is_a_valid_ght(self):
        """One support establishment designated by the convention (CSP L6132-3; DOMAIN §8)."""
        items = self.participants(GhtRole.SUPPORT, GhtRole.MEMBER, GhtRole.PARTNER)
        assert rules.validate_ght(items) == items

    @pytest.mark.parametrize("roles", [(GhtRole.MEMBER, GhtRole.MEMBER), (GhtRole.SUPPORT, GhtRole.SUPPORT)])
    def test_a_ght_without_exactly_one_support_is_rejected(self, roles):
        """Same source."""
        with pytest.raises(ValidationFailed, match="un seul établissement support attendu"):
            rules.validate_ght(self.participants(*roles))

    def test_an_establishment_listed_twice_is_rejected(self):
        """One place per establishment in a GHT."""
        items = self.participants(GhtRole.SUPPORT, GhtRole.MEMBER)
        items.append(items[1])
        with pytest.raises(ValidationFailed) as info:
            rules.validate_ght(items)
        assert {
            "field": "participants[2].finess",
            "message": "FINESS : 750712184 figure deux fois.",
        } in info.value.details

    def test_a_private_support_is_rejected_with_its_index(self):
        """Support = public health establishment (CSP L6132-1; DOMAIN §8)."""
        items = [GhtParticipant("010000024", EstablishmentKind.HOSPITAL, False, GhtRole.SUPPORT)]
        with pytest.raises(ValidationFailed) as info:
            rules.validate_ght(items)
        assert info.value.details[0]["field"] == "participants[0].role"


class TestValidateInseeCommuneCode:
    @pytest.mark.parametrize("code", ["01053", "2A004", "2B033", "97411"])
    def test_a_cog_commune_code_is_accepted(self, code):
        """COG code: département (2 digits, 2A, 2B) + 3 digits (INSEE)."""
        assert rules.validate_insee_commune_code(code) == code

    @pytest.mark.parametrize("code", ["1053", "2C004", "01A53", ""])
    def test_anything_else_is_rejected(self, code):
        """Same source."""
        with pytest.raises(ValidationFailed, match="Code commune"):
            rules.validate_insee_commune_code(code)


class TestValidatePostcode:
    def test_five_digits_are_accepted(self):
        """French postcodes have 5 digits (La Poste)."""
        assert rules.validate_postcode("01440") == "01440"

    def test_four_digits_are_rejected(self):
        """Same source."""
        with pytest.raises(ValidationFailed, match="Code postal"):
            rules.validate_postcode("1440")
