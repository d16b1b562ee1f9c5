"""Vocabulary of the telemedicine offer: ANS specialty codes, professions, urgencies, audiences, requirements.

No I/O here.

**Specialties** are coded with the ANS nomenclature **TRE_R38-SpecialiteOrdinale** (the ordinal specialty of a
professional, the code the Annuaire Santé and the RPPS extract carry in "Code savoir-faire" when the type of
know-how is ``S``). Codes and labels below are those of the medical specialties (``SM``) of the ANS value set
``JDV_J210-SpecialiteOrdinale-ROR`` (OID 1.2.250.1.213.3.4.42, version 20260730120000, package
``ans.fr.terminologies`` 1.12.0), which draws its concepts from the code system
``https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale``. The ANS suffix
" (SM)" of each label is dropped for display. Only the specialties a GHT support hospital offers for
tele-expertise and teleconsultation, and general medicine, are listed; any other TRE_R38 code is accepted from an
import and shown with the label the import carries.

**Professions** are coded with **TRE_G15-ProfessionSante** (ANS value set ``JDV_J106-EnsembleProfession-RASS``,
version 20260330120000): 10 Médecin, 21 Pharmacien, 50 Sage-Femme, 60 Infirmier, ...
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from maillage.kit.enums import LabelledEnum

SPECIALTY_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R38-SpecialiteOrdinale/FHIR/TRE-R38-SpecialiteOrdinale"


@dataclass(frozen=True)
class Specialty:
    code: str
    label: str


# TRE_R38 medical specialties (JDV_J210, version 20260730120000), label without the " (SM)" suffix.
SPECIALTIES: dict[str, Specialty] = {
    s.code: s
    for s in (
        Specialty("SM02", "Anesthésie-réanimation"),
        Specialty("SM04", "Cardiologie et Maladies vasculaires"),
        Specialty("SM08", "Chirurgie orthopédique et Traumatologie"),
        Specialty("SM14", "Chirurgie viscérale et digestive"),
        Specialty("SM15", "Dermatologie et Vénéréologie"),
        Specialty("SM16", "Endocrinologie et Métabolisme"),
        Specialty("SM18", "Gériatrie"),
        Specialty("SM20", "Gynécologie-obstétrique"),
        Specialty("SM21", "Hématologie"),
        Specialty("SM24", "Gastro-entérologie et Hépatologie"),
        Specialty("SM26", "Qualifié en Médecine générale"),
        Specialty("SM27", "Médecine interne"),
        Specialty("SM29", "Médecine physique et de réadaptation"),
        Specialty("SM30", "Néphrologie"),
        Specialty("SM32", "Neurologie"),
        Specialty("SM34", "ORL et Chirurgie cervico-faciale"),
        Specialty("SM36", "Oncologie, option médicale"),
        Specialty("SM38", "Ophtalmologie"),
        Specialty("SM40", "Pédiatrie"),
        Specialty("SM41", "Pneumologie"),
        Specialty("SM42", "Psychiatrie"),
        Specialty("SM43", "Psychiatrie, option enfant et adolescent"),
        Specialty("SM48", "Rhumatologie"),
        Specialty("SM53", "Spécialiste en Médecine générale"),
        Specialty("SM54", "Médecine générale"),
        Specialty("SM57", "Allergologie"),
        Specialty("SM58", "Maladies infectieuses et tropicales"),
        Specialty("SM59", "Médecine d'urgence"),
        Specialty("SM61", "Médecine vasculaire"),
        Specialty("SM62", "Endocrinologie, diabétologie, nutrition"),
        Specialty("SM72", "Médecine interne et immunologie clinique"),
        Specialty("SM73", "Médecine cardiovasculaire"),
        Specialty("SM74", "Radiologie et imagerie médicale"),
    )
}


def specialty_label(code: str | None, fallback: str | None = None) -> str:
    """The French label of a TRE_R38 code; the label an import carried, or the code itself, when unknown."""
    if not code:
        return fallback or "—"
    known = SPECIALTIES.get(code.strip().upper())
    if known is not None:
        return known.label
    return fallback or code


class Profession(enum.StrEnum):
    """TRE_G15-ProfessionSante codes of the professions Maillage meets most (JDV_J106)."""

    PHYSICIAN = "10"
    PHARMACIST = "21"
    DENTIST = "40"
    MIDWIFE = "50"
    NURSE = "60"
    PHYSIOTHERAPIST = "70"
    SPEECH_THERAPIST = "91"
    ORTHOPTIST = "92"
    DIETITIAN = "95"


PROFESSION_LABELS: dict[str, str] = {
    "10": "Médecin", "21": "Pharmacien", "26": "Audioprothésiste", "28": "Opticien-Lunetier",
    "31": "Assistant dentaire", "32": "Physicien médical", "40": "Chirurgien-Dentiste", "50": "Sage-Femme",
    "60": "Infirmier", "70": "Masseur-Kinésithérapeute", "80": "Pédicure-Podologue", "81": "Orthoprothésiste",
    "82": "Podo-Orthésiste", "83": "Orthopédiste-Orthésiste", "84": "Oculariste", "85": "Epithésiste",
    "86": "Technicien de laboratoire médical", "91": "Orthophoniste", "92": "Orthoptiste", "94": "Ergothérapeute",
    "95": "Diététicien", "96": "Psychomotricien", "98": "Manipulateur ERM",
}  # fmt: skip


def profession_label(code: str | None, fallback: str | None = None) -> str:
    if not code:
        return fallback or "—"
    return PROFESSION_LABELS.get(code.strip(), fallback or code)


# --- The offer of a specialty line ------------------------------------------------------------------------


class Urgency(LabelledEnum):
    """How fast a requester needs the answer; each specialty line commits to a delay per urgency it accepts."""

    ROUTINE = "routine", "Non urgent"
    URGENT = "urgent", "Urgent"
    VERY_URGENT = "very_urgent", "Très urgent"


class Audience(LabelledEnum):
    """Who may send requests to a specialty line."""

    CITY = "city", "Professionnels de ville"
    EHPAD = "ehpad", "EHPAD"
    USMP = "usmp", "Unités sanitaires en milieu pénitentiaire (USMP)"
    GHT_HOSPITALS = "ght_hospitals", "Établissements du GHT"




class Modality(LabelledEnum):
    TELEEXPERTISE = "teleexpertise", "Téléexpertise"
    TELECONSULTATION = "teleconsultation", "Téléconsultation"


# The modalities Maillage runs today. A line may declare teleconsultation (the directory and its API keep it), but no
# page names a modality before Maillage has it.
AVAILABLE_MODALITIES = (Modality.TELEEXPERTISE,)


class Requirement(LabelledEnum):
    """What a request to a line must carry (checked by the tele-expertise workflow when a request is sent)."""

    PHOTO = "photo", "Photographie(s) de la lésion"
    ECG = "ecg", "Électrocardiogramme récent"
    TREATMENT_LIST = "treatment_list", "Liste des traitements en cours"
    LAB_RESULTS = "lab_results", "Résultats biologiques récents"
    IMAGING_REPORT = "imaging_report", "Compte rendu d'imagerie"
    VITAL_SIGNS = "vital_signs", "Constantes du jour (pression artérielle, pouls, température, saturation)"




def format_delay(minutes: int) -> str:
    """A committed delay for people: ``2 h``, ``48 h``, ``7 jours``, ``30 min``."""
    if minutes < 60:
        return f"{minutes} min"
    if minutes % (24 * 60) == 0 and minutes >= 72 * 60:
        days = minutes // (24 * 60)
        return f"{days} jours"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h" if not rest else f"{hours} h {rest:02d}"
