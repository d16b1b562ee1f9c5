"""Pure rules of the directory: identifiers of professionals and establishments, establishment kinds, GHT roles.

No I/O here. Every validator returns the canonical value (or a result carrying warnings) and raises
``ValidationFailed`` with ``details=[{"field": ..., "message": ...}]`` and a French message naming the field
and the reason. The sources of each rule are in the docstrings; "DOMAIN" means ``shared/DOMAIN.md``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stdnum import luhn
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.fr import siren as stdnum_siren
from stdnum.fr import siret as stdnum_siret

from maillage.exceptions import ValidationFailed
from maillage.kit.enums import LabelledEnum


def fail(field_name: str, message: str) -> ValidationFailed:
    """The error every validator raises: one French message, repeated in ``details`` with the field."""
    return ValidationFailed(message, details=[{"field": field_name, "message": message}])


def clean(value: object, separators: str = " .-") -> str:
    """Strip surrounding blanks and the usual separators; upper-case (2A/2B)."""
    text = "" if value is None else str(value)
    for sep in separators:
        text = text.replace(sep, "")
    return text.strip().upper()


def _luhn_expected_last(number: str) -> str:
    return luhn.calc_check_digit(number[:-1])


# --- FINESS ---------------------------------------------------------------------------------------------

CORSICA_PREFIXES = ("2A", "2B")


def validate_finess(value: object, *, field: str = "finess", label: str = "FINESS") -> str:
    """Validate a FINESS number (EJ or ET) and return it upper-cased.

    Rules (DOMAIN §1.4):

    * 9 characters (ANS FINESS data.gouv schema ``schema-structures-v1.json``, pattern ``^[A-Za-z0-9]{9}$``;
      the etalab extract format's XSD narrows it to ``[0-9][0-9A-Z][0-9]{7}``);
    * an all-digit number carries a Luhn key over its 9 digits (verified on 40 real numbers, DOMAIN §1.4);
    * Corsican numbers start with ``2A`` or ``2B``: no published sample shows how their key is computed,
      so they are accepted without a key check (DOMAIN §1.4, "don't reject on checksum for those").
    """
    number = clean(value)
    if not number:
        raise fail(field, f"{label} : valeur absente.")
    if len(number) != 9:
        raise fail(field, f"{label} : 9 caractères attendus, {len(number)} reçus.")
    if number[:2] in CORSICA_PREFIXES and number[2:].isdigit():
        return number
    if not number.isdigit():
        raise fail(field, f"{label} : seuls des chiffres sont permis (sauf 2A ou 2B en tête pour la Corse).")
    if not luhn.is_valid(number):
        expected = _luhn_expected_last(number)
        raise fail(field, f"{label} : la clé de contrôle {number[-1]} ne correspond pas (attendue {expected}).")
    return number


# --- RPPS, ADELI, IdNat_PS -----------------------------------------------------------------------------


class ProfessionalIdType(LabelledEnum):
    """Type of a professional's identifier, coded as in ANS TRE_G08-TypeIdentifiantPersonne (DOMAIN §1.3).

    The code is also the prefix of the national identifier IdNat_PS and the value of the extract column
    "Type d'identifiant PP".
    """

    ADELI = "0", "ADELI"
    RPPS = "8", "RPPS"


@dataclass(frozen=True)
class ProfessionalId:
    """A checked RPPS or ADELI number, with the warnings the soft checks raised (French, for people)."""

    type: ProfessionalIdType
    value: str
    warnings: tuple[str, ...] = field(default=())

    @property
    def national_id(self) -> str:
        return idnat_ps(self.type, self.value)


def validate_rpps(value: object, *, field: str = "rpps") -> ProfessionalId:
    """Validate an RPPS number: 11 digits, hard rule; a failed Luhn key is only a warning.

    * 11 digits: FR Core ``FRCorePractitionerProfile`` "Numéro RPPS (11 chiffres)" (DOMAIN §1.3) [verified];
    * the 11th digit is *reportedly* a Luhn key, but no official text says so (DOMAIN §1.3 [uncertain]):
      the recommendation there is "soft check only (warn, don't reject)"; the authority is the Annuaire Santé.
    """
    number = clean(value, " ")
    if not number:
        raise fail(field, "RPPS : valeur absente.")
    if not number.isdigit():
        raise fail(field, "RPPS : seuls des chiffres sont permis.")
    if len(number) != 11:
        raise fail(field, f"RPPS : 11 chiffres attendus, {len(number)} reçus.")
    warnings: tuple[str, ...] = ()
    if not luhn.is_valid(number):
        warnings = (
            f"RPPS : la clé de Luhn {number[-1]} ne correspond pas (attendue {_luhn_expected_last(number)}) ; "
            "numéro conservé, à vérifier dans l'Annuaire Santé.",
        )
    return ProfessionalId(ProfessionalIdType.RPPS, number, warnings)


def validate_adeli(value: object, *, field: str = "adeli") -> ProfessionalId:
    """Validate an ADELI number: 9 digits, hard rule; a failed Luhn key is only a warning.

    * 9 digits (DOMAIN §1.3); observed structure département (2) + profession (2) + order (4) + key (1);
    * the 21 real ADELI numbers of the public ``PS_LibreAcces_Personne_activite`` sample all pass Luhn over the
      9 digits, but no official text states the key (DOMAIN §1.3, "verified empirically"): like the RPPS key,
      a mismatch is reported as a warning rather than a rejection.
    """
    number = clean(value, " ")
    if not number:
        raise fail(field, "ADELI : valeur absente.")
    if not number.isdigit():
        raise fail(field, "ADELI : seuls des chiffres sont permis.")
    if len(number) != 9:
        raise fail(field, f"ADELI : 9 chiffres attendus, {len(number)} reçus.")
    warnings: tuple[str, ...] = ()
    if not luhn.is_valid(number):
        warnings = (
            f"ADELI : la clé de Luhn {number[-1]} ne correspond pas (attendue {_luhn_expected_last(number)}) ; "
            "numéro conservé, à vérifier dans l'Annuaire Santé.",
        )
    return ProfessionalId(ProfessionalIdType.ADELI, number, warnings)


def validate_professional_id(id_type: object, value: object, *, field: str = "identifiant") -> ProfessionalId:
    """Validate an identifier given with its TRE_G08 type code ("0" ADELI, "8" RPPS)."""
    code = clean(id_type, " ")
    if code == ProfessionalIdType.RPPS.value:
        return validate_rpps(value, field=field)
    if code == ProfessionalIdType.ADELI.value:
        return validate_adeli(value, field=field)
    raise fail(field, f"Type d'identifiant : « {code} » inconnu (0 pour ADELI, 8 pour RPPS).")


def idnat_ps(id_type: ProfessionalIdType, value: str) -> str:
    """The national PS identifier: ``8`` + RPPS or ``0`` + ADELI (DOMAIN §1.3, FR Core, TRE_G08).

    FR Core warns that IdNat_PS "ne doit être ni construit ni interprété": the authoritative value comes from
    the Annuaire Santé, Pro Santé Connect or the CPx card. This derivation is used to check the coherence of
    the directory extract (whose "Identification nationale PP" column holds exactly this) and for demo data.
    """
    return f"{id_type.value}{value}"


def check_national_id(professional_id: ProfessionalId, national_id: object, *, field: str) -> str:
    """Check that a given IdNat_PS is the one the identifier implies; return it."""
    given = clean(national_id, " ")
    expected = professional_id.national_id
    if given != expected:
        raise fail(
            field,
            f"Identification nationale : « {given} » ne correspond pas à l'identifiant {professional_id.type.label} "
            f"(attendu {expected}).",
        )
    return given


# --- SIREN, SIRET ---------------------------------------------------------------------------------------


def _stdnum_check(module, value: object, field: str, label: str, length: int) -> str:
    number = clean(value)
    if not number:
        raise fail(field, f"{label} : valeur absente.")
    try:
        return str(module.validate(number))
    except InvalidLength:
        raise fail(field, f"{label} : {length} chiffres attendus, {len(number)} reçus.") from None
    except InvalidFormat:
        raise fail(field, f"{label} : seuls des chiffres sont permis.") from None
    except InvalidChecksum:
        raise fail(field, f"{label} : la clé de contrôle ne correspond pas.") from None
    except ValidationError:
        raise fail(field, f"{label} : numéro invalide.") from None


def validate_siren(value: object, *, field: str = "siren") -> str:
    """SIREN: 9 digits with a Luhn key (python-stdnum ``stdnum.fr.siren``; DOMAIN §1.4)."""
    return _stdnum_check(stdnum_siren, value, field, "SIREN", 9)


def validate_siret(value: object, *, field: str = "siret") -> str:
    """SIRET: 14 digits = SIREN + NIC, Luhn over 14 digits, except La Poste's establishments whose digits must
    sum to a multiple of 5 (python-stdnum ``stdnum.fr.siret``; DOMAIN §1.4)."""
    return _stdnum_check(stdnum_siret, value, field, "SIRET", 14)


# --- Establishment kinds and GHT roles ------------------------------------------------------------------


class EstablishmentKind(LabelledEnum):
    """The kinds of places a GHT territory is made of in Maillage."""

    HOSPITAL = "hospital", "Établissement de santé"
    EHPAD = "ehpad", "EHPAD"
    USMP = "usmp", "Unité sanitaire en milieu pénitentiaire (USMP)"
    CITY_PRACTICE = "city_practice", "Cabinet ou maison de santé de ville"
    HEALTH_CENTRE = "health_centre", "Centre de santé"
    PHARMACY = "pharmacy", "Pharmacie d'officine"


# FINESS "categetab" codes mapped to a kind. Codes 101, 355, 500 and 620 appear with these labels in real
# lines of the etalab extract quoted in public code (e.g. "355;Centre Hospitalier (C.H.)",
# "620;Pharmacie d'Officine"); 106, 292, 365, 128, 129, 124 and 603 come from a published copy of the DREES
# category nomenclature [secondary]. An USMP has no FINESS category of its own: it is a unit of the hospital
# it is attached to, so no code maps to it.
FINESS_CATEGORY_KINDS: dict[str, EstablishmentKind] = {
    "101": EstablishmentKind.HOSPITAL,  # Centre Hospitalier Régional (C.H.R.), the CHU
    "106": EstablishmentKind.HOSPITAL,  # Centre hospitalier, ex hôpital local
    "355": EstablishmentKind.HOSPITAL,  # Centre Hospitalier (C.H.)
    "292": EstablishmentKind.HOSPITAL,  # Centre Hospitalier Spécialisé lutte Maladies Mentales
    "365": EstablishmentKind.HOSPITAL,  # Etablissement de Soins Pluridisciplinaire
    "128": EstablishmentKind.HOSPITAL,  # Etablissement de Soins Chirurgicaux
    "129": EstablishmentKind.HOSPITAL,  # Etablissement de Soins Médicaux
    "500": EstablishmentKind.EHPAD,  # Etablissement d'hébergement pour personnes âgées dépendantes
    "124": EstablishmentKind.HEALTH_CENTRE,  # Centre de Santé
    "603": EstablishmentKind.CITY_PRACTICE,  # Maison de santé (L.6223-3)
    "620": EstablishmentKind.PHARMACY,  # Pharmacie d'Officine
}

# FINESS "codesph" value of a public health establishment ("1;Etablissement public de santé" in the extract).
FINESS_SPH_PUBLIC_HEALTH_ESTABLISHMENT = "1"


def kind_for_finess_category(category_code: str) -> EstablishmentKind | None:
    """The kind of an establishment from its FINESS category code, or None when Maillage has no kind for it."""
    return FINESS_CATEGORY_KINDS.get(category_code.strip())



def check_choice(value: str, allowed: Sequence[str], field_name: str, label: str) -> str:
    """``value`` when it is one of ``allowed``; otherwise the French error naming the field and the values permitted."""
    if value not in allowed:
        message = f"{label} : « {value} » n'est pas une valeur permise ({', '.join(allowed)})."
        raise ValidationFailed(message, details=[{"field": field_name, "message": message}])
    return value


def check_kind(kind: str) -> EstablishmentKind:
    """The establishment kind named by ``kind`` (a value of ``EstablishmentKind``), or a French error."""
    check_choice(kind, [k.value for k in EstablishmentKind], "kind", "Type d'établissement")
    return EstablishmentKind(kind)


class GhtRole(LabelledEnum):
    """Place of an establishment in a GHT (CSP L6132-1 and L6132-3, DOMAIN §8)."""

    SUPPORT = "support", "Établissement support"
    MEMBER = "member", "Établissement partie"
    PARTNER = "partner", "Partenaire"


def allowed_ght_roles(kind: EstablishmentKind, *, public: bool) -> frozenset[GhtRole]:
    """Roles an establishment may hold in a GHT.

    * The GHT is a convention between **public** health establishments, one of which is designated support
      establishment and manages the shared information system, the territorial DIM and purchasing for all
      (CSP L6132-1, L6132-3; DOMAIN §8): support and member are public hospitals.
    * Public medico-social establishments (a public EHPAD) may also be party to the convention (CSP L6132-1).
    * Everything else (private establishments, city practices, health centres, pharmacies, and USMP, which are
      units of their attaching hospital) works with the GHT as a partner.
    """
    if kind is EstablishmentKind.HOSPITAL and public:
        return frozenset({GhtRole.SUPPORT, GhtRole.MEMBER, GhtRole.PARTNER})
    if kind is EstablishmentKind.EHPAD and public:
        return frozenset({GhtRole.MEMBER, GhtRole.PARTNER})
    return frozenset({GhtRole.PARTNER})


def check_ght_role(kind: EstablishmentKind, role: GhtRole, *, public: bool, field: str = "role") -> GhtRole:
    """Raise ``ValidationFailed`` when an establishment of this kind may not hold this role."""
    if role not in allowed_ght_roles(kind, public=public):
        status = "public" if public else "privé"
        raise fail(field, f"Rôle GHT : « {role.label} » n'est pas permis pour {kind.label} ({status}).")
    return role


@dataclass(frozen=True)
class GhtParticipant:
    finess: str
    kind: EstablishmentKind
    public: bool
    role: GhtRole


def validate_ght(participants: Sequence[GhtParticipant] | Iterable[GhtParticipant]) -> list[GhtParticipant]:
    """Check a GHT's composition: exactly one support establishment, every role allowed, no FINESS twice.

    Source: CSP L6132-1 and L6132-3 (one support establishment designated by the convention; DOMAIN §8).
    """
    items = list(participants)
    details: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, participant in enumerate(items):
        number = clean(participant.finess)
        if number in seen:
            details.append(
                {"field": f"participants[{index}].finess", "message": f"FINESS : {number} figure deux fois."}
            )
        seen.add(number)
        try:
            check_ght_role(participant.kind, participant.role, public=participant.public, field="")
        except ValidationFailed as exc:
            details.append({"field": f"participants[{index}].role", "message": exc.message})
    supports = sum(1 for p in items if p.role is GhtRole.SUPPORT)
    if supports != 1:
        details.append(
            {"field": "participants", "message": f"GHT : un seul établissement support attendu, {supports} trouvé(s)."}
        )
    if details:
        raise ValidationFailed(details[0]["message"], details=details)
    return items


# --- Small shared formats --------------------------------------------------------------------------------

INSEE_COMMUNE_RE = re.compile(r"^(?:\d{2}|2A|2B)\d{3}$")
POSTCODE_RE = re.compile(r"^\d{5}$")


def validate_insee_commune_code(value: object, *, field: str = "code_commune") -> str:
    """A COG commune code: 5 characters, département (2 digits, 2A or 2B) + 3 digits (INSEE COG)."""
    code = clean(value, " ")
    if not INSEE_COMMUNE_RE.match(code):
        raise fail(field, f"Code commune : « {code} » n'est pas un code INSEE à 5 caractères.")
    return code


def validate_postcode(value: object, *, field: str = "code_postal") -> str:
    code = clean(value, " ")
    if not POSTCODE_RE.match(code):
        raise fail(field, f"Code postal : « {code} » n'a pas 5 chiffres.")
    return code
