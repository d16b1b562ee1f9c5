"""Pure rules of patient identity: NIR and NIA, the INS, identity status, strict traits. No I/O here.

"DOMAIN" means ``shared/DOMAIN.md``; each rule names its source. Validators return typed results or raise
``ValidationFailed`` with ``details=[{"field": ..., "message": ...}]`` and a French message.
"""

from __future__ import annotations

import datetime as dt
import enum
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from stdnum.fr import nir as stdnum_nir

from maillage.exceptions import InvalidTransition, PermissionDenied, ValidationFailed
from maillage.kit.enums import LabelledEnum


def fail(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[{"field": field_name, "message": message}])


# --- NIR and NIA ------------------------------------------------------------------------------------------

NIR_LENGTH = 15
NIR_SEXES = ("1", "2")
# Births in French North Africa before independence keep the codes they were registered with: 91 Alger, 92 Oran,
# 93 Constantine, 94 Territoires du Sud (Algeria, before 3 July 1962), 95 Morocco and 96 Tunisia (before 1956).
# 91 to 95 are also today's Île-de-France départements (since 1968): the year of birth tells them apart, the number
# does not. Sources: the INSEE codification in force when the person was registered is kept for life (answer of the
# ministre des rapatriés to written question no. 2275, JO Assemblée nationale 30 Aug 1993 p. 2744,
# https://questions.assemblee-nationale.fr/q10/10-2275QE.htm); 91–94 for the Algerian départements (Libération,
# 22 Dec 1997, on the circulaire of 30 Sept 1996 restoring them); 95 Morocco and 96 Tunisia as service-public.fr
# states them [secondary: quoted by planet.fr]. DOMAIN.md §1.1 (CNAM NirValidator) only requires two digits.
NIR_NORTH_AFRICA_BEFORE_INDEPENDENCE: dict[str, str] = {
    "91": "Alger", "92": "Oran", "93": "Constantine", "94": "Territoires du Sud", "95": "Maroc", "96": "Tunisie",
}
# Départements of birth: 01–95 (20 for Corsica before the 1976 split), 2A/2B, 91–96 above, 97 overseas
# départements and collectivities, 98 overseas territories, 99 born outside France (CNAM nir-validation
# NirValidator docstring). The 3-digit commune part is not checked against today's COG: for 91–96 it is the
# commune's number in the codification of the time (never in today's COG, or another commune there), for 99 a
# country, for 97/98 part of a 3-digit territory code.
NIR_DEPARTEMENTS = frozenset({f"{n:02d}" for n in range(1, 97)} | {"2A", "2B", "97", "98", "99"})


class NirSex(enum.StrEnum):
    MALE = "1"
    FEMALE = "2"


@dataclass(frozen=True, slots=True)
class Nir:
    """A checked NIR or NIA: 15 characters, upper-case, no separators."""

    value: str

    @property
    def body(self) -> str:
        return self.value[:13]

    @property
    def key(self) -> str:
        return self.value[13:]

    @property
    def sex(self) -> NirSex:
        return NirSex(self.value[0])

    @property
    def birth_year(self) -> str:
        """The two last digits of the year of birth."""
        return self.value[1:3]

    @property
    def birth_month(self) -> str:
        """``01``–``12``, or ``20``–``99`` when the month of birth is unknown."""
        return self.value[3:5]

    @property
    def birth_month_known(self) -> bool:
        return 1 <= int(self.birth_month) <= 12

    @property
    def departement(self) -> str:
        return self.value[5:7]

    @property
    def birthplace(self) -> str:
        """The 5-character COG code of the place of birth (département + commune, or 99 + country)."""
        return self.value[5:10]

    @property
    def order(self) -> str:
        return self.value[10:13]

    def formatted(self) -> str:
        """``2 95 10 99 126 111 93``: the usual grouping for people to read."""
        return str(stdnum_nir.format(self.value))

    def __str__(self) -> str:
        return self.value


def nir_key(body: str) -> str:
    """The NIR key of a 13-character body: ``97 - (body mod 97)`` on 2 digits, with the Corsican département
    ``2A`` read as ``19`` and ``2B`` as ``18`` (python-stdnum ``stdnum.fr.nir.calc_check_digits``; CNAM
    ``NirKey``; DOMAIN §1.1). Never ``00``: the key runs from 01 to 97."""
    return str(stdnum_nir.calc_check_digits(body.upper()))


def _validate_nir_like(value: object, field: str, label: str) -> Nir:
    text = "" if value is None else str(value)
    number = str(stdnum_nir.compact(text))
    if not number:
        raise fail(field, f"{label} : valeur absente.")
    if len(number) != NIR_LENGTH:
        raise fail(field, f"{label} : 15 caractères attendus (13 + clé de 2 chiffres), {len(number)} reçus.")
    if not (number[:5].isdigit() and number[7:].isdigit() and (number[5:7].isdigit() or number[5:7] in ("2A", "2B"))):
        raise fail(field, f"{label} : seuls des chiffres sont permis, sauf 2A ou 2B pour le département de naissance.")
    if number[0] not in NIR_SEXES:
        raise fail(field, f"{label} : le premier chiffre (sexe) doit être 1 ou 2, reçu {number[0]}.")
    month = int(number[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 99):
        raise fail(
            field,
            f"{label} : le mois de naissance {number[3:5]} n'existe pas (01 à 12, ou 20 à 99 pour un mois inconnu).",
        )
    if number[5:7] not in NIR_DEPARTEMENTS:
        raise fail(
            field,
            f"{label} : le département de naissance {number[5:7]} n'existe pas "
            "(01 à 96, 2A, 2B, 97, 98 ou 99 pour une naissance hors de France).",
        )
    expected = nir_key(number[:13])
    if number[13:] != expected:
        raise fail(field, f"{label} : la clé de contrôle {number[13:]} ne correspond pas (attendue {expected}).")
    return Nir(number)


def validate_nir(value: object, *, field: str = "nir") -> Nir:
    """Validate a NIR (numéro d'inscription au répertoire), key included.

    * 15 characters = sex (1) + year (2) + month (2) + place of birth (5: département + commune) + order (3)
      + key (2) (python-stdnum ``nir.py``; DOMAIN §1.1);
    * sex ``1`` or ``2`` and month ``01``–``12`` or ``20``–``99`` (month unknown, e.g. people born abroad), the
      finer checks of CNAM's ``NirValidator`` (DOMAIN §1.1; python-stdnum does not make them);
    * département of birth 01–95, 2A, 2B, 97, 98 or 99 (CNAM ``NirValidator`` docstring), and 91–96 for
      births in Algeria before 1962 and in Morocco or Tunisia before 1956, elderly patients who kept the code
      of their registration (``NIR_NORTH_AFRICA_BEFORE_INDEPENDENCE``: sources there); the commune part of
      those codes is any 3 digits, as it is for every département (it is not today's COG);
    * key = 97 − (body mod 97) with 2A → 19 and 2B → 18 (``nir_key``).
    """
    return _validate_nir_like(value, field, "NIR")


def validate_nia(value: object, *, field: str = "nia") -> Nir:
    """Validate a NIA (numéro identifiant d'attente), given to a person born abroad while their civil status is
    being certified, and which becomes their NIR once certified.

    The NIA "est constitué comme un NIR" (circulaire DSS/SD4C n° 2012-213 of 1 June 2012, as quoted by
    net-entreprises) and DOMAIN §1.1 marks its exact format as uncertain: it is checked with the NIR's rules,
    key included. What tells a NIA from a NIR in an INS is the OID (``1.2.250.1.213.1.4.9``), not the number.
    """
    return _validate_nir_like(value, field, "NIA")


# --- INS -------------------------------------------------------------------------------------------------


class InsOid(LabelledEnum):
    """Assigning authorities of the INS matricule (FR Core ``FRCorePatientINSProfile``; DOMAIN §1.2)."""

    NIR = "1.2.250.1.213.1.4.8", "INS-NIR"
    NIA = "1.2.250.1.213.1.4.9", "INS-NIA"
    TEST = "1.2.250.1.213.1.4.10", "INS-NIR de test"
    DEMO = "1.2.250.1.213.1.4.11", "INS-NIR de démonstration"

    @property
    def fhir_use(self) -> str:
        """FHIR ``identifier.use``: ``temp`` for an INS-NIA, ``official`` otherwise (FR Core)."""
        return "temp" if self is InsOid.NIA else "official"

    @property
    def system(self) -> str:
        return f"urn:oid:{self.value}"


# The legacy calculated INS (INS-C): never created again (DOMAIN §1.2).
INS_C_OID = "1.2.250.1.213.1.4.2"


@dataclass(frozen=True, slots=True)
class Ins:
    """The INS identifier: the matricule (the person's own NIR or NIA) and its assigning authority."""

    matricule: Nir
    oid: InsOid

    @property
    def system(self) -> str:
        return self.oid.system

    @property
    def fhir_use(self) -> str:
        return self.oid.fhir_use


def make_ins(matricule: object, oid: object, *, field: str = "ins") -> Ins:
    """Build an INS from a matricule and an OID, checking the matricule with the rules its OID implies.

    INS-NIR, test and demo matricules are NIRs; an INS-NIA matricule is a NIA (DOMAIN §1.2). The INS-C OID is
    refused: "Do not create new INS-C identifiers" (DOMAIN §1.2).
    """
    oid_text = str(oid).strip().removeprefix("urn:oid:")
    if oid_text == INS_C_OID:
        raise fail(
            f"{field}.oid", "INS : l'INS-C (INS calculé) n'est plus utilisé ; seul l'INS-NIR ou l'INS-NIA est admis."
        )
    try:
        authority = InsOid(oid_text)
    except ValueError:
        raise fail(
            f"{field}.oid", f"INS : l'OID « {oid_text} » n'est pas une autorité d'affectation de l'INS."
        ) from None
    if authority is InsOid.NIA:
        number = validate_nia(matricule, field=f"{field}.matricule")
    else:
        number = validate_nir(matricule, field=f"{field}.matricule")
    return Ins(number, authority)


# --- Identity status -------------------------------------------------------------------------------------


class IdentityStatus(LabelledEnum):
    """Reliability of a patient's identity (FR Core CodeSystem ``fr-core-cs-fiabilite-identite``; RNIV).

    The status follows from two facts: the INS was retrieved or verified with the INSi teleservice, and the
    identity was checked against a high-trust identity document. Qualified = both (DOMAIN §1.2).
    """

    PROV = "PROV", "Identité provisoire"
    RECUP = "RECUP", "Identité récupérée"
    VALI = "VALI", "Identité validée"
    QUAL = "QUAL", "Identité qualifiée"

    @property
    def insi_checked(self) -> bool:
        return self in (IdentityStatus.RECUP, IdentityStatus.QUAL)

    @property
    def document_checked(self) -> bool:
        return self in (IdentityStatus.VALI, IdentityStatus.QUAL)


class IdentityAttribute(enum.StrEnum):
    """Attributes an identity may carry besides its status (FR Core ``fr-core-cs-fiabilite-identite``)."""

    DOUT = "DOUT"
    FICT = "FICT"
    HOMD = "HOMD"
    DOUB = "DOUB"
    COLP = "COLP"


def status_for(*, insi_checked: bool, document_checked: bool) -> IdentityStatus:
    """The status two facts give: INSi retrieval/verification and a high-trust document check (DOMAIN §1.2)."""
    if insi_checked and document_checked:
        return IdentityStatus.QUAL
    if insi_checked:
        return IdentityStatus.RECUP
    if document_checked:
        return IdentityStatus.VALI
    return IdentityStatus.PROV


# Each step gains exactly one fact (an INSi call, a document check) or loses facts (an INS found invalid, a
# document put in doubt). Passing straight from PROV to QUAL would hide which check happened: the two checks are
# recorded one after the other. Swapping one fact for the other (RECUP <-> VALI) is not a single event.
ALLOWED_STATUS_TRANSITIONS: frozenset[tuple[IdentityStatus, IdentityStatus]] = frozenset(
    {
        (IdentityStatus.PROV, IdentityStatus.RECUP),
        (IdentityStatus.PROV, IdentityStatus.VALI),
        (IdentityStatus.RECUP, IdentityStatus.QUAL),
        (IdentityStatus.VALI, IdentityStatus.QUAL),
        (IdentityStatus.RECUP, IdentityStatus.PROV),
        (IdentityStatus.VALI, IdentityStatus.PROV),
        (IdentityStatus.QUAL, IdentityStatus.RECUP),
        (IdentityStatus.QUAL, IdentityStatus.VALI),
        (IdentityStatus.QUAL, IdentityStatus.PROV),
    }
)


def can_transition(current: IdentityStatus, target: IdentityStatus) -> bool:
    return (current, target) in ALLOWED_STATUS_TRANSITIONS


def check_transition(
    current: IdentityStatus, target: IdentityStatus, attributes: Iterable[IdentityAttribute] = ()
) -> IdentityStatus:
    """Raise ``InvalidTransition`` unless the status may move from ``current`` to ``target``.

    A doubtful (DOUT) or fictitious (FICT) identity cannot leave the provisional status: RNIV, an identity
    carrying either attribute keeps the status "identité provisoire" [secondary; RNIV via regional
    identito-vigilance pages]; its matricule can then never be shared.
    """
    if not can_transition(current, target):
        raise InvalidTransition(f"Statut d'identité : passage de « {current.label} » à « {target.label} » non permis.")
    blocking = {IdentityAttribute.DOUT, IdentityAttribute.FICT} & set(attributes)
    if blocking and target is not IdentityStatus.PROV:
        names = ", ".join(sorted(a.value for a in blocking))
        raise InvalidTransition(
            f"Statut d'identité : une identité douteuse ou fictive ({names}) reste « {IdentityStatus.PROV.label} »."
        )
    return target


def can_share_matricule(status: IdentityStatus) -> bool:
    """The INS matricule may be shared with other actors only when the identity is qualified (DOMAIN §1.2:
    identito-na.fr; FR Core: "le matricule INS ne peut être véhiculé que dans le cas d'une identité qualifiée")."""
    return status is IdentityStatus.QUAL


def shareable_ins(status: IdentityStatus, ins: Ins) -> Ins:
    """The INS to put in an outgoing exchange; ``PermissionDenied`` unless the identity is qualified."""
    if not can_share_matricule(status):
        raise PermissionDenied(
            f"Le matricule INS ne peut être transmis que pour une identité qualifiée (statut : {status.label})."
        )
    return ins


# --- Strict traits ---------------------------------------------------------------------------------------


class Sex(enum.StrEnum):
    """Sex as an INS trait, as INSi returns it (M/F)."""

    MALE = "M"
    FEMALE = "F"

    @property
    def nir_digit(self) -> str:
        return "1" if self is Sex.MALE else "2"


STRICT_TRAITS = ("birth_name", "given_names", "birth_date", "sex", "birthplace")
TRAIT_LABELS = {
    "birth_name": "Nom de naissance",
    "given_names": "Prénom(s) de naissance",
    "birth_date": "Date de naissance",
    "sex": "Sexe",
    "birthplace": "Code INSEE du lieu de naissance",
}
BIRTHPLACE_RE = re.compile(r"^(?:\d{2}|2A|2B)\d{3}$")
_LIGATURES = str.maketrans({"Œ": "OE", "œ": "oe", "Æ": "AE", "æ": "ae", "ß": "ss"})


def normalise_name(value: str) -> str:
    """The comparison form of a name: upper-case, no diacritics, ligatures spelt out, hyphens and apostrophes
    read as spaces, single spaces. Used for duplicate detection, never to overwrite the traits as received
    (the INS traits are stored as INSi returns them)."""
    text = unicodedata.normalize("NFKD", value.translate(_LIGATURES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    text = re.sub(r"[^A-Z0-9]+", " ", text)
    return " ".join(text.split())


NAME_SEPARATORS = frozenset(" -'\u2019")  # space, hyphen, apostrophe (typed straight or typographic)


def name_problem(value: str) -> str | None:
    """Why a person's name (birth name, a given name, used name, used given name) is refused, or None.

    Allowed: letters of the Latin alphabet, accented or not (é, è, ç, ï, œ, æ, ß...), and as separators the
    space, the hyphen and the apostrophe; at least one letter. Anything else (digits, ``<``, ``>``, ``&``,
    quotes, control characters, other scripts) is refused rather than cleaned: the name must be typed as on
    the identity document, and markup has no place in an identity.

    Source: the strict traits are those the INSi teleservice returns (DOMAIN §1.2; référentiel INS and its
    implementation guide, approved by the arrêté of 8 June 2021): names in capital letters without diacritics,
    words separated by a space, a hyphen or an apostrophe. The RNIV lets the record keep the accents of the
    identity document, which normalisation (``normalise_name``) reads as the INS letters. The exact character
    table of the ANS guide is not in this project's research notes [to check against the guide's annex].
    """
    if not any(ch.isalpha() for ch in value):
        return "au moins une lettre est attendue."
    for ch in value:
        if ch in NAME_SEPARATORS:
            continue
        if ch.isalpha() and "LATIN" in unicodedata.name(ch, ""):
            continue
        shown = ch if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
        return f"le caractère « {shown} » n'est pas permis (lettres, espace, trait d'union, apostrophe)."
    return None


def check_name(value: str, field_name: str, label: str) -> str:
    """The name with its spaces tidied, or ``ValidationFailed`` naming the field (``name_problem``)."""
    problem = name_problem(value)
    if problem is not None:
        raise fail(field_name, f"{label} : {problem}")
    return " ".join(value.split())


@dataclass(frozen=True, slots=True)
class StrictTraits:
    """The five strict traits of an identity (DOMAIN §1.2): birth name, birth given names (the list, first one
    first), date of birth, sex, INSEE code of the place of birth (COG; 99 + country for a birth abroad)."""

    birth_name: str
    given_names: tuple[str, ...]
    birth_date: dt.date
    sex: Sex
    birthplace: str

    @property
    def first_given_name(self) -> str:
        return self.given_names[0]


def make_traits(
    *,
    birth_name: str,
    given_names: str | Sequence[str],
    birth_date: dt.date,
    sex: str | Sex,
    birthplace: str,
    today: dt.date | None = None,
) -> StrictTraits:
    """Check and build the strict traits; every problem is reported at once (one detail per trait)."""
    details: list[dict[str, str]] = []

    def problem(trait: str, message: str) -> None:
        details.append({"field": trait, "message": f"{TRAIT_LABELS[trait]} : {message}"})

    name = " ".join(birth_name.split())
    if not normalise_name(name):
        problem("birth_name", "valeur absente.")
    elif (wrong := name_problem(name)) is not None:
        problem("birth_name", wrong)
    names = tuple(
        " ".join(n.split()) for n in (given_names.split(" ") if isinstance(given_names, str) else given_names)
    )
    names = tuple(n for n in names if n)
    if not names or not normalise_name(names[0]):
        problem("given_names", "au moins un prénom est attendu.")
    elif (wrong := next((w for n in names if (w := name_problem(n)) is not None), None)) is not None:
        problem("given_names", wrong)
    if today is not None and birth_date > today:
        problem("birth_date", f"{birth_date.isoformat()} est dans le futur.")
    try:
        sex_value = Sex(str(sex).strip().upper())
    except ValueError:
        problem("sex", f"« {sex} » n'est pas M ou F.")
        sex_value = Sex.MALE
    place = birthplace.strip().upper()
    if not BIRTHPLACE_RE.match(place) or place[:2] not in NIR_DEPARTEMENTS:
        problem("birthplace", f"« {birthplace} » n'est pas un code INSEE de lieu de naissance à 5 caractères.")
    if details:
        raise ValidationFailed(details[0]["message"], details=details)
    return StrictTraits(name, names, birth_date, sex_value, place)


def duplicate_key(traits: StrictTraits) -> tuple[str, str, str, str, str]:
    """The key two records of one person share: normalised birth name and first given name, date of birth,
    sex, place of birth. Equal keys = potential duplicate to review (identito-vigilance)."""
    return (
        normalise_name(traits.birth_name),
        normalise_name(traits.first_given_name),
        traits.birth_date.isoformat(),
        traits.sex.value,
        traits.birthplace,
    )


def differing_traits(a: StrictTraits, b: StrictTraits) -> frozenset[str]:
    """Which of the five strict traits differ after normalisation (the given names compare as a whole list)."""
    differences = set()
    if normalise_name(a.birth_name) != normalise_name(b.birth_name):
        differences.add("birth_name")
    if [normalise_name(n) for n in a.given_names] != [normalise_name(n) for n in b.given_names]:
        differences.add("given_names")
    if a.birth_date != b.birth_date:
        differences.add("birth_date")
    if a.sex is not b.sex:
        differences.add("sex")
    if a.birthplace != b.birthplace:
        differences.add("birthplace")
    return frozenset(differences)


def matricule_trait_mismatches(matricule: Nir, traits: StrictTraits) -> list[str]:
    """French remarks where the matricule contradicts the traits: sex digit, year, month (when known), and the
    place of birth (the matricule's département + commune). Remarks for a person to check, not a rejection:
    a matricule keeps the place coded at registration, and a NIA's traits may be corrected at certification."""
    remarks = []
    if matricule.sex.value != traits.sex.nir_digit:
        remarks.append(f"Sexe : le matricule indique {matricule.sex.value}, les traits {traits.sex.value}.")
    if matricule.birth_year != f"{traits.birth_date.year % 100:02d}":
        remarks.append(
            f"Année de naissance : le matricule indique {matricule.birth_year}, les traits {traits.birth_date.year}."
        )
    if matricule.birth_month_known and int(matricule.birth_month) != traits.birth_date.month:
        remarks.append(
            f"Mois de naissance : le matricule indique {matricule.birth_month}, "
            f"les traits {traits.birth_date.month:02d}."
        )
    if matricule.birthplace != traits.birthplace:
        remarks.append(
            f"Lieu de naissance : le matricule indique {matricule.birthplace}, les traits {traits.birthplace}."
        )
    return remarks


# --- Synthetic identities for demonstration and tests -----------------------------------------------------

# Real COG codes of places of birth: Paris, Lyon and Marseille births are coded by arrondissement.
DEFAULT_BIRTHPLACES: tuple[str, ...] = (
    "75112", "75115", "69383", "13205", "31555", "33063", "44109", "59350", "67482", "35238",
    "2A004", "2B033", "97411", "97209", "01053", "99350", "99352", "99134", "99109", "99127",
)  # fmt: skip
_SURNAMES = (
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY", "MOREAU",
    "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX", "VINCENT", "FOURNIER",
    "MOREL", "GIRARD", "ANDRÉ", "LEFÈVRE", "MERCIER", "DUPONT", "LAMBERT", "BONNET", "FRANÇOIS", "MARTINEZ",
)  # fmt: skip
_GIVEN_NAMES = {
    Sex.MALE: ("Jean", "Pierre", "Michel", "André", "Louis", "Lucas", "Hugo", "Gabriel", "Noé", "Jérôme",
               "François", "Éric", "Marc", "Paul", "Léo"),
    Sex.FEMALE: ("Marie", "Jeanne", "Françoise", "Monique", "Catherine", "Nathalie", "Isabelle", "Léa", "Chloé",
                 "Emma", "Inès", "Hélène", "Anne", "Zoé", "Élise"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SyntheticIdentity:
    """A made-up person for demonstration or tests: a valid matricule flagged by the TEST or DEMO authority,
    and strict traits coherent with it."""

    ins: Ins
    traits: StrictTraits


def synthetic_nir(rng: random.Random, *, sex: Sex, birth_date: dt.date, birthplace: str) -> Nir:
    """A NIR that passes every check of ``validate_nir`` and agrees with the given traits; the order number is
    drawn from ``rng``."""
    body = f"{sex.nir_digit}{birth_date.year % 100:02d}{birth_date.month:02d}{birthplace}{rng.randint(1, 999):03d}"
    return Nir(body + nir_key(body))


def synthetic_identities(
    seed: int | str,
    count: int,
    *,
    oid: InsOid = InsOid.DEMO,
    birthplaces: Sequence[str] = DEFAULT_BIRTHPLACES,
    born_between: tuple[dt.date, dt.date] = (dt.date(1930, 1, 1), dt.date(2020, 12, 31)),
) -> list[SyntheticIdentity]:
    """``count`` synthetic identities, the same ones for the same seed and arguments.

    Only the TEST (``…4.10``) and DEMO (``…4.11``) authorities may be used: these OIDs exist so that fictitious
    patients are never taken for real ones (FR Core ``FRCorePatientINSProfile``; DOMAIN §1.2). The numbers are
    well-formed NIRs, so a coincidence with a real person's NIR cannot be ruled out: the OID is what marks them,
    and it must travel with them. Matricules are unique within one call.
    """
    if oid not in (InsOid.TEST, InsOid.DEMO):
        raise fail("oid", "Identités synthétiques : seules les autorités de test ou de démonstration sont permises.")
    if count < 0:
        raise fail("count", "Identités synthétiques : le nombre demandé doit être positif.")
    if not birthplaces:
        raise fail("birthplaces", "Identités synthétiques : au moins un lieu de naissance est attendu.")
    start, end = born_between
    span = (end - start).days
    if span < 0:
        raise fail("born_between", "Identités synthétiques : la période de naissance est inversée.")
    rng = random.Random(f"maillage-synthetic-identity:{seed}")
    identities: list[SyntheticIdentity] = []
    seen: set[str] = set()
    while len(identities) < count:
        sex = rng.choice((Sex.MALE, Sex.FEMALE))
        birth_date = start + dt.timedelta(days=rng.randint(0, span))
        place = rng.choice(tuple(birthplaces)).upper()
        given = [rng.choice(_GIVEN_NAMES[sex])]
        if rng.random() < 0.5:
            given.append(rng.choice(_GIVEN_NAMES[sex]))
        traits = make_traits(
            birth_name=rng.choice(_SURNAMES),
            given_names=given,
            birth_date=birth_date,
            sex=sex,
            birthplace=place,
        )
        matricule = synthetic_nir(rng, sex=sex, birth_date=birth_date, birthplace=place)
        if matricule.value in seen:
            continue
        seen.add(matricule.value)
        identities.append(SyntheticIdentity(make_ins(matricule.value, oid), traits))
    return identities
