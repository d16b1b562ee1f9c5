"""Patient identity rules (patient/rules.py): NIR, NIA, INS, identity status, strict traits, synthetic identities.

Sources cited as "DOMAIN" are sections of shared/DOMAIN.md.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from maillage.exceptions import InvalidTransition, PermissionDenied, ValidationFailed
from maillage.patient import rules
from maillage.patient.rules import IdentityAttribute, IdentityStatus, InsOid, Sex


def with_key(body: str) -> str:
    """Independent arithmetic of the NIR key, for building test values: 97 - (body mod 97), 2A→19, 2B→18."""
    digits = body[:5] + body[5:7].replace("2A", "19").replace("2B", "18") + body[7:]
    return body + f"{97 - int(digits) % 97:02d}"


# Table of valid NIR: (value, why it is valid). Keys 01 and 97 are the two ends of the key range.
VALID_NIR = [
    ("295109912611193", "python-stdnum doctest value (born abroad, dept 99)"),
    ("253072A07300443", "Corsica 2A, key computed with 19 (python-stdnum doctest; DOMAIN §1.1)"),
    ("253072B07300470", "Corsica 2B, key computed with 18 (python-stdnum doctest; DOMAIN §1.1)"),
    ("185067511200101", "key 01: body mod 97 = 96"),
    ("185067511200297", "key 97: body mod 97 = 0"),
    ("192102A00401201", "key 01 with département 2A"),
    ("202012B03308897", "key 97 with département 2B"),
    (with_key("1853099350123"), "month 30: month unknown, 20-99 allowed (CNAM NirValidator; DOMAIN §1.1)"),
    (with_key("2449920001017"), "month 99 and département 20 (Corsica before 1976)"),
    (with_key("1601297411002"), "overseas département 97 (CNAM NirValidator docstring)"),
    (with_key("1601298815002"), "overseas territory 98"),
]

# Table of invalid NIR: (value, expected message fragment). Every value has a correct key unless the key is
# what is wrong, so each rule is tested alone.
INVALID_NIR = [
    ("295109912611199", "la clé de contrôle 99 ne correspond pas (attendue 93)"),
    ("185067511200102", "la clé de contrôle 02 ne correspond pas (attendue 01)"),
    ("185067511200296", "la clé de contrôle 96 ne correspond pas (attendue 97)"),
    ("253072A07300470", "la clé de contrôle 70 ne correspond pas (attendue 43)"),
    ("253072B07300443", "la clé de contrôle 43 ne correspond pas (attendue 70)"),
    ("185067511200100", "la clé de contrôle 00 ne correspond pas (attendue 01)"),
    (with_key("3850675112001"), "le premier chiffre (sexe) doit être 1 ou 2, reçu 3"),
    (with_key("7850675112001"), "le premier chiffre (sexe) doit être 1 ou 2, reçu 7"),
    (with_key("1851375112001"), "le mois de naissance 13 n'existe pas"),
    (with_key("1851975112001"), "le mois de naissance 19 n'existe pas"),
    (with_key("1850075112001"), "le mois de naissance 00 n'existe pas"),
    (with_key("1850600112001"), "le département de naissance 00 n'existe pas"),
    ("253072C07300443", "seuls des chiffres sont permis, sauf 2A ou 2B"),
    ("2530720730044", "15 caractères attendus (13 + clé de 2 chiffres), 13 reçus"),
    ("1850675112001011", "15 caractères attendus (13 + clé de 2 chiffres), 16 reçus"),
    ("", "valeur absente"),
]


# Births in French North Africa before independence (issue 15, finding 10): (body without key, where). Sources in
# ``rules.NIR_NORTH_AFRICA_BEFORE_INDEPENDENCE``: INSEE keeps the codification in force at registration (JO AN
# 30 Aug 1993, question 2275); 91–94 Algerian départements; 95 Morocco, 96 Tunisia (service-public.fr).
NORTH_AFRICA_NIR = [
    ("1380391352017", "91", "Alger, 1938"),
    ("2451192063104", "92", "Oran, 1945"),
    ("1500393039088", "93", "Constantine, 1950"),
    ("2420494004002", "94", "Territoires du Sud, 1942"),
    ("1470695120033", "95", "Maroc, 1947"),
    ("2480196123045", "96", "Tunisie, 1948"),
    ("1529996000001", "96", "Tunisie, month unknown, commune part 000"),
]


class TestNirKey:
    def test_the_key_is_97_minus_the_body_modulo_97(self):
        """key = 97 - (body mod 97) (python-stdnum calc_check_digits; CNAM NirKey; DOMAIN §1.1)."""
        assert rules.nir_key("2951099126111") == "93"

    @pytest.mark.parametrize(("body", "key"), [("1850675112001", "01"), ("1850675112002", "97")])
    def test_the_two_ends_of_the_key_range(self, body, key):
        """Key runs 01..97, never 00 (DOMAIN §1.1)."""
        assert int(body) % 97 == (96 if key == "01" else 0)
        assert rules.nir_key(body) == key

    @pytest.mark.parametrize(("body", "key"), [("253072A073004", "43"), ("253072B073004", "70")])
    def test_corsica_is_read_as_19_and_18(self, body, key):
        """2A → 19, 2B → 18 before computing (python-stdnum, CNAM; DOMAIN §1.1: keys 43 and 70 checked)."""
        assert rules.nir_key(body) == key


class TestValidateNir:
    @pytest.mark.parametrize(("value", "why"), VALID_NIR, ids=[v for v, _ in VALID_NIR])
    def test_a_valid_nir_is_accepted(self, value, why):
        """NIR structure, sex 1/2, month 01-12 or 20-99, département 01-95/2A/2B/97/98/99, key
        (python-stdnum nir.py; CNAM NirValidator; DOMAIN §1.1)."""
        assert rules.validate_nir(value).value == value

    @pytest.mark.parametrize(("value", "fragment"), INVALID_NIR, ids=[v or "empty" for v, _ in INVALID_NIR])
    def test_an_invalid_nir_is_rejected_with_a_french_reason_naming_the_field(self, value, fragment):
        """Same sources; French error naming the field and why (issue 4)."""
        with pytest.raises(ValidationFailed) as info:
            rules.validate_nir(value)
        assert info.value.message.startswith("NIR : ")
        assert fragment in info.value.message
        assert info.value.details == [{"field": "nir", "message": info.value.message}]

    @pytest.mark.parametrize(("body", "code", "where"), NORTH_AFRICA_NIR, ids=[w for _, _, w in NORTH_AFRICA_NIR])
    def test_a_birth_in_north_africa_before_independence_is_accepted(self, body, code, where):
        """Départements 91–94 (Algeria before 1962), 95 (Morocco) and 96 (Tunisia) before 1956: the code of the
        time is kept for life (JO AN 30 Aug 1993, question 2275; service-public.fr); any 3-digit commune part."""
        nir = rules.validate_nir(with_key(body))
        assert nir.departement == code and rules.NIR_NORTH_AFRICA_BEFORE_INDEPENDENCE[code] in where

    def test_the_message_for_an_unknown_departement_lists_96(self):
        with pytest.raises(ValidationFailed) as info:
            rules.validate_nir(with_key("1850600112001"))
        assert "(01 à 96, 2A, 2B, 97, 98 ou 99 pour une naissance hors de France)" in info.value.message

    def test_a_nia_of_a_birth_in_tunisia_is_accepted_too(self):
        assert rules.validate_nia(with_key("2480196123045")).departement == "96"

    def test_spaces_and_lower_case_are_accepted(self):
        """The printed grouping and 2a/2b are read (python-stdnum compact())."""
        assert rules.validate_nir("2 53 07 2a 073 004 43").value == "253072A07300443"

    def test_the_field_name_can_be_given(self):
        """The error names the caller's field."""
        with pytest.raises(ValidationFailed) as info:
            rules.validate_nir("295109912611199", field="matricule")
        assert info.value.details[0]["field"] == "matricule"

    def test_the_parts_of_a_nir_are_exposed(self):
        """sex (1) + year (2) + month (2) + place (5) + order (3) + key (2) (python-stdnum; DOMAIN §1.1)."""
        nir = rules.validate_nir("253072A07300443")
        assert (nir.sex, nir.birth_year, nir.birth_month, nir.birthplace, nir.order, nir.key) == (
            rules.NirSex.FEMALE, "53", "07", "2A073", "004", "43",
        )  # fmt: skip
        assert nir.formatted() == "2 53 07 2A 073 004 43"

    def test_an_unknown_month_is_flagged(self):
        """20-99 = month unknown (CNAM NirValidator; DOMAIN §1.1)."""
        assert rules.validate_nir(with_key("1853099350123")).birth_month_known is False


class TestValidateNia:
    @pytest.mark.parametrize("value", [with_key("1853099350456"), with_key("2900199134021"), "185067511200297"])
    def test_a_nia_built_like_a_nir_is_accepted(self, value):
        """The NIA "est constitué comme un NIR" (circulaire DSS/SD4C 2012-213); format [uncertain] in DOMAIN §1.1,
        so the NIR rules apply."""
        assert rules.validate_nia(value).value == value

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [("295109912611199", "la clé de contrôle 99 ne correspond pas (attendue 93)"),
         (with_key("5850699350001"), "le premier chiffre (sexe) doit être 1 ou 2, reçu 5")],
    )  # fmt: skip
    def test_an_invalid_nia_is_rejected_as_a_nia(self, value, fragment):
        """Same source; the message names the NIA."""
        with pytest.raises(ValidationFailed) as info:
            rules.validate_nia(value)
        assert info.value.message == f"NIA : {fragment}."
        assert info.value.details[0]["field"] == "nia"


class TestMakeIns:
    @pytest.mark.parametrize(
        ("oid", "use"),
        [(InsOid.NIR, "official"), (InsOid.NIA, "temp"), (InsOid.TEST, "official"), (InsOid.DEMO, "official")],
    )
    def test_each_authority_gives_its_fhir_use_and_system(self, oid, use):
        """OIDs 1.2.250.1.213.1.4.8/9/10/11 and identifier.use (FR Core FRCorePatientINSProfile; DOMAIN §1.2)."""
        ins = rules.make_ins("185067511200297", oid.value)
        assert ins.fhir_use == use
        assert ins.system == f"urn:oid:{oid.value}"

    def test_the_oids_are_the_fr_core_ones(self):
        """DOMAIN §1.2 table (FR Core), not the mislabelled values found in public code."""
        assert [o.value for o in InsOid] == [
            "1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11",
        ]  # fmt: skip

    def test_an_urn_prefixed_oid_is_read(self):
        """FHIR writes the system as urn:oid:…"""
        assert rules.make_ins("185067511200297", "urn:oid:1.2.250.1.213.1.4.8").oid is InsOid.NIR

    def test_an_ins_c_is_refused(self):
        """Do not create new INS-C identifiers (DOMAIN §1.2)."""
        with pytest.raises(ValidationFailed, match="INS-C"):
            rules.make_ins("185067511200297", "1.2.250.1.213.1.4.2")

    def test_an_unknown_oid_is_refused(self):
        """Only the four FR Core authorities (DOMAIN §1.2)."""
        with pytest.raises(ValidationFailed) as info:
            rules.make_ins("185067511200297", "1.2.250.1.213.1.4.5")
        assert info.value.details[0]["field"] == "ins.oid"

    def test_an_ins_nia_matricule_is_checked_as_a_nia(self):
        """INS-NIA matricule = the person's NIA (DOMAIN §1.2)."""
        with pytest.raises(ValidationFailed, match=r"^NIA : ") as info:
            rules.make_ins("295109912611199", InsOid.NIA)
        assert info.value.details[0]["field"] == "ins.matricule"


ALL_PAIRS = list(itertools.product(IdentityStatus, IdentityStatus))
ALLOWED = {
    ("PROV", "RECUP"), ("PROV", "VALI"), ("RECUP", "QUAL"), ("VALI", "QUAL"),
    ("RECUP", "PROV"), ("VALI", "PROV"), ("QUAL", "RECUP"), ("QUAL", "VALI"), ("QUAL", "PROV"),
}  # fmt: skip


class TestCheckTransition:
    @pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
    def test_every_pair_of_statuses_is_allowed_or_refused_as_the_table_says(self, current, target):
        """Status = INSi check × high-trust document check (FR Core fiabilite-identite; RNIV; DOMAIN §1.2):
        a step gains one check or loses checks; PROV→QUAL skips a recorded step; RECUP↔VALI swaps checks;
        staying put is not a transition."""
        if (current.value, target.value) in ALLOWED:
            assert rules.check_transition(current, target) is target
        else:
            with pytest.raises(InvalidTransition, match="non permis"):
                rules.check_transition(current, target)

    @pytest.mark.parametrize("attribute", [IdentityAttribute.DOUT, IdentityAttribute.FICT])
    def test_a_doubtful_or_fictitious_identity_cannot_be_raised(self, attribute):
        """RNIV: a doubtful or fictitious identity stays provisional [secondary]."""
        with pytest.raises(InvalidTransition, match="douteuse ou fictive"):
            rules.check_transition(IdentityStatus.PROV, IdentityStatus.VALI, [attribute])

    def test_a_doubtful_identity_can_be_lowered_to_provisional(self):
        """Same rule: going down to PROV stays possible."""
        assert rules.check_transition(IdentityStatus.QUAL, IdentityStatus.PROV, [IdentityAttribute.DOUT]) is (
            IdentityStatus.PROV
        )

    def test_a_homonym_attribute_does_not_block_qualification(self):
        """HOMD (homonym detected) is an alert, not a doubt on the identity."""
        assert rules.check_transition(IdentityStatus.RECUP, IdentityStatus.QUAL, [IdentityAttribute.HOMD])


class TestStatusFor:
    @pytest.mark.parametrize(
        ("insi", "document", "status"),
        [(False, False, "PROV"), (True, False, "RECUP"), (False, True, "VALI"), (True, True, "QUAL")],
    )
    def test_the_two_checks_give_the_status(self, insi, document, status):
        """Qualified = retrieved/verified through INSi and checked against a high-trust document (DOMAIN §1.2)."""
        result = rules.status_for(insi_checked=insi, document_checked=document)
        assert result.value == status
        assert (result.insi_checked, result.document_checked) == (insi, document)


class TestShareableIns:
    INS = rules.make_ins("185067511200297", InsOid.NIR)

    def test_a_qualified_identity_shares_its_matricule(self):
        """The matricule may be shared only when the status is QUAL (identito-na.fr; FR Core; DOMAIN §1.2)."""
        assert rules.shareable_ins(IdentityStatus.QUAL, self.INS) is self.INS

    @pytest.mark.parametrize("status", [IdentityStatus.PROV, IdentityStatus.RECUP, IdentityStatus.VALI])
    def test_any_other_status_keeps_it(self, status):
        """Same source."""
        assert rules.can_share_matricule(status) is False
        with pytest.raises(PermissionDenied, match="identité qualifiée"):
            rules.shareable_ins(status, self.INS)


class TestNormaliseName:
    @pytest.mark.parametrize(
        ("raw", "normal"),
        [("Lefèvre", "LEFEVRE"), ("  d'Harcourt ", "D HARCOURT"), ("Jean-Édouard", "JEAN EDOUARD"),
         ("Cœur", "COEUR"), ("Lætitia", "LAETITIA"), ("N'GUYEN  Thị", "N GUYEN THI")],
    )  # fmt: skip
    def test_names_compare_without_case_accents_or_punctuation(self, raw, normal):
        """Comparison form for duplicate detection (identito-vigilance); the stored traits are untouched."""
        assert rules.normalise_name(raw) == normal


def traits(**changes):
    values = dict(
        birth_name="Lefèvre", given_names="Hélène Marie", birth_date=dt.date(1953, 7, 12), sex="F", birthplace="2A004"
    )
    values.update(changes)
    return rules.make_traits(**values)


class TestMakeTraits:
    def test_the_five_strict_traits_are_kept_as_given(self):
        """Birth name, birth given names, date of birth, sex, INSEE birthplace (DOMAIN §1.2)."""
        result = traits()
        assert result == rules.StrictTraits("Lefèvre", ("Hélène", "Marie"), dt.date(1953, 7, 12), Sex.FEMALE, "2A004")
        assert result.first_given_name == "Hélène"

    def test_every_bad_trait_is_reported_at_once(self):
        """One detail per trait, French labels."""
        with pytest.raises(ValidationFailed) as info:
            rules.make_traits(
                birth_name=" ", given_names=[], birth_date=dt.date(2030, 1, 1), sex="X", birthplace="2C004",
                today=dt.date(2026, 11, 28),
            )  # fmt: skip
        assert [d["field"] for d in info.value.details] == list(rules.STRICT_TRAITS)
        assert info.value.details[2]["message"] == "Date de naissance : 2030-01-01 est dans le futur."

    def test_a_birth_abroad_is_coded_99_and_a_country(self):
        """99 = born outside France (DOMAIN §1.1); 99350 = Maroc in the COG."""
        assert traits(birthplace="99350").birthplace == "99350"


class TestNameProblem:
    """Names of a person: Latin letters (accented or not), space, hyphen, apostrophe; at least one letter.
    Source: the INS strict traits as INSi returns them (DOMAIN §1.2, référentiel INS and its implementation
    guide, arrêté of 8 June 2021); accents of the identity document kept locally (RNIV)."""

    @pytest.mark.parametrize("name", [
        "MARTIN", "Lefèvre", "LEFÈVRE-DUPRÉ", "N'DIAYE", "N\u2019Diaye", "D'ARTAGNAN", "LE GOFF", "Jean-Pierre",
        "Anaïs", "Çelik", "Œdipe", "Lætitia", "Strauß", "Ğokhan", "van der Berg", "Zoé", "O",
    ])  # fmt: skip
    def test_a_name_as_on_the_identity_document_is_accepted(self, name):
        assert rules.name_problem(name) is None

    @pytest.mark.parametrize(("name", "shown"), [
        ("<script>alert(1)</script>", "<"),
        ("DUPONT<b>", "<"),
        ("Martin&amp;", "&"),
        ('Jean "Jo"', '"'),
        ("R2D2", "2"),
        ("MARTIN.", "."),
        ("Dupont_Durand", "_"),
        ("Marie;DROP", ";"),
        ("Anne\u0000", "U+0000"),
        ("Anne\tMarie", "U+0009"),
        ("Иван", "И"),
        ("玛丽", "玛"),
        ("Zoé\u200b", "U+200B"),
    ])  # fmt: skip
    def test_markup_digits_and_other_characters_are_refused_and_named(self, name, shown):
        assert rules.name_problem(name) == (
            f"le caractère « {shown} » n'est pas permis (lettres, espace, trait d'union, apostrophe).")

    @pytest.mark.parametrize("name", ["", " ", "-", "'", " - ' "])
    def test_a_name_without_a_letter_is_refused(self, name):
        assert rules.name_problem(name) == "au moins une lettre est attendue."

    def test_check_name_tidies_spaces_and_names_the_field_in_french(self):
        assert rules.check_name("  Le   Goff ", "used_name", "Nom utilisé") == "Le Goff"
        with pytest.raises(ValidationFailed) as info:
            rules.check_name("Le <i>Goff</i>", "used_name", "Nom utilisé")
        assert info.value.details == [{"field": "used_name", "message": info.value.message}]
        assert info.value.message.startswith("Nom utilisé : le caractère « < »")

    def test_make_traits_refuses_markup_in_the_birth_name_and_the_given_names(self):
        with pytest.raises(ValidationFailed) as info:
            traits(birth_name="<img src=x onerror=alert(1)>", given_names="Jeanne <b>")
        assert [d["field"] for d in info.value.details] == ["birth_name", "given_names"]
        assert "Nom de naissance : le caractère « < »" in info.value.details[0]["message"]


class TestDuplicateKey:
    def test_two_spellings_of_one_person_share_a_key(self):
        """Normalised birth name and first given name + date + sex + place (identito-vigilance)."""
        a = traits()
        b = traits(birth_name="LEFEVRE", given_names=["HELENE"])
        assert rules.duplicate_key(a) == rules.duplicate_key(b) == ("LEFEVRE", "HELENE", "1953-07-12", "F", "2A004")

    @pytest.mark.parametrize(
        "change",
        [{"birth_name": "Lefèbvre"}, {"given_names": "Marie Hélène"}, {"birth_date": dt.date(1953, 7, 13)},
         {"sex": "M"}, {"birthplace": "2A005"}],
    )  # fmt: skip
    def test_a_different_strict_trait_gives_a_different_key(self, change):
        """Each of the five traits takes part in the key."""
        assert rules.duplicate_key(traits(**change)) != rules.duplicate_key(traits())


class TestDifferingTraits:
    def test_only_the_traits_that_differ_are_named(self):
        """Which of the five strict traits differ after normalisation."""
        assert rules.differing_traits(traits(), traits(birth_name="LEFEVRE")) == frozenset()
        assert rules.differing_traits(traits(), traits(given_names="Hélène", sex="M")) == {"given_names", "sex"}


class TestMatriculeTraitMismatches:
    def test_a_coherent_matricule_gives_no_remark(self):
        """Sex digit, year, month and place of the NIR agree with the traits (DOMAIN §1.1 structure)."""
        matricule = rules.validate_nir(with_key("253072A004123"))
        assert rules.matricule_trait_mismatches(matricule, traits()) == []

    def test_each_contradiction_is_named(self):
        """Same structure."""
        matricule = rules.validate_nir(with_key("1540675056001"))
        remarks = rules.matricule_trait_mismatches(matricule, traits())
        assert [r.split(" :")[0] for r in remarks] == [
            "Sexe",
            "Année de naissance",
            "Mois de naissance",
            "Lieu de naissance",
        ]

    def test_an_unknown_month_is_not_a_contradiction(self):
        """Months 20-99 mean the month is unknown (DOMAIN §1.1)."""
        matricule = rules.validate_nir(with_key("2533099350001"))
        assert rules.matricule_trait_mismatches(matricule, traits(birthplace="99350")) == []


class TestSyntheticIdentities:
    def test_the_same_seed_gives_the_same_identities(self):
        """Deterministic from a seed (issue 4)."""
        assert rules.synthetic_identities(7, 20) == rules.synthetic_identities(7, 20)
        assert rules.synthetic_identities(7, 20) != rules.synthetic_identities(8, 20)

    def test_every_matricule_is_valid_unique_and_agrees_with_its_traits(self):
        """Valid NIR (every check of validate_nir), coherent with the strict traits."""
        identities = rules.synthetic_identities("demo", 300)
        assert len({i.ins.matricule.value for i in identities}) == 300
        for identity in identities:
            assert rules.validate_nir(identity.ins.matricule.value) == identity.ins.matricule
            assert rules.matricule_trait_mismatches(identity.ins.matricule, identity.traits) == []

    def test_identities_carry_the_demo_authority_by_default_and_test_on_request(self):
        """Fictitious patients use the TEST (…4.10) or DEMO (…4.11) OID (FR Core; DOMAIN §1.2)."""
        assert {i.ins.oid for i in rules.synthetic_identities(1, 5)} == {InsOid.DEMO}
        assert {i.ins.oid for i in rules.synthetic_identities(1, 5, oid=InsOid.TEST)} == {InsOid.TEST}

    @pytest.mark.parametrize("oid", [InsOid.NIR, InsOid.NIA])
    def test_a_production_authority_is_refused(self, oid):
        """Synthetic identities must never pass for real ones (DOMAIN §1.2)."""
        with pytest.raises(ValidationFailed, match="test ou de démonstration"):
            rules.synthetic_identities(1, 1, oid=oid)

    def test_corsican_and_foreign_birthplaces_give_valid_matricules(self):
        """2A/2B key rule and 99 + country (DOMAIN §1.1)."""
        identities = rules.synthetic_identities(3, 30, birthplaces=["2A004", "2B033", "99350"])
        assert {i.traits.birthplace for i in identities} == {"2A004", "2B033", "99350"}
        assert all(rules.validate_nir(i.ins.matricule.value) for i in identities)

    def test_birth_dates_stay_in_the_requested_period(self):
        """The period bounds both ends."""
        period = (dt.date(2000, 1, 1), dt.date(2000, 12, 31))
        identities = rules.synthetic_identities(5, 50, born_between=period)
        assert all(period[0] <= i.traits.birth_date <= period[1] for i in identities)
