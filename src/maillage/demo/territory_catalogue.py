"""The tables a demonstration territory is drawn from: the support hospital's offer of specialty lines, the
names of people, streets, EHPAD and pharmacies, and the prisons of ``data/prisons.csv`` (a correctable file, see
its README) that get a prison health unit (USMP).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources

from maillage.directory.specialties import Audience, Requirement, Urgency

PRISONS_FILE = "prisons.csv"


@dataclass(frozen=True)
class Prison:
    departement: str
    commune_insee: str
    commune_name: str
    name: str
    kind: str


def load_prisons(departement: str | None = None) -> list[Prison]:
    """The prisons of ``data/prisons.csv`` (all, or one département's)."""
    raw = resources.files("maillage.demo").joinpath("data", PRISONS_FILE).read_text("utf-8")
    prisons = [
        Prison(r["departement"], r["commune_insee"], r["commune_name"], r["name"], r["kind"])
        for r in csv.DictReader(io.StringIO(raw))
    ]
    if departement is None:
        return prisons
    return [p for p in prisons if p.departement == departement]


PRISON_KIND_ORDER = {"centre_penitentiaire": 0, "maison_arret": 1, "centre_detention": 2, "maison_centrale": 3}

SURNAMES = (
    "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MULLER", "LECOMTE", "FAURE", "ANDRÉ", "MERCIER", "BLANC",
    "GUÉRIN", "BOYER", "GARNIER", "CHEVALIER", "FRANÇOIS", "LEGRAND", "GAUTHIER", "GARCIA", "PERRIN", "ROBIN",
    "CLÉMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "MASSON", "MARCHAND", "DUVAL", "DENIS",
    "LEMAIRE", "BRUN", "COLIN", "ARNAUD", "GIRAUD", "BARBIER", "HUET", "AUBERT", "RENARD", "SCHMITT",
    "ROY", "LEROUX", "CARON", "PICARD", "VIDAL", "DESCHAMPS", "MEUNIER", "LUCAS", "NOËL", "BRETON",
)  # fmt: skip
FIRST_NAMES = (
    "Camille", "Antoine", "Julie", "Thomas", "Émilie", "Nicolas", "Sarah", "Maxime", "Laura", "Alexandre",
    "Manon", "Romain", "Pauline", "Guillaume", "Céline", "Benoît", "Aurélie", "Mathieu", "Élodie", "François",
    "Hélène", "Olivier", "Sandrine", "Damien", "Marion", "Sébastien", "Anaïs", "Cédric", "Justine", "Yann",
)  # fmt: skip
STREETS = (
    "rue de la République", "avenue du Général-de-Gaulle", "rue Victor-Hugo", "place de la Mairie",
    "rue Jean-Jaurès", "boulevard Gambetta", "rue Pasteur", "avenue de la Gare", "rue des Écoles",
    "chemin du Moulin", "rue du Stade", "allée des Tilleuls",
)  # fmt: skip
EHPAD_NAMES = (
    "Les Tilleuls",
    "Les Glycines",
    "Le Clos fleuri",
    "La Roseraie",
    "Les Jardins",
    "Le Val doré",
    "Les Sources",
    "La Chênaie",
    "Les Bruyères",
    "Le Bois joli",
    "Les Acacias",
    "La Prairie",
)
PHARMACY_NAMES = (
    "de la Mairie",
    "du Centre",
    "des Halles",
    "de la Gare",
    "du Marché",
    "de l'Église",
    "du Pont",
    "des Écoles",
    "Principale",
    "de la Place",
    "du Parc",
    "des Tilleuls",
)


@dataclass(frozen=True)
class LineSpec:
    """One line of the support hospital's demo offer."""

    key: str
    code: str
    unit: str
    title: str
    summary: str
    te: bool
    tc: bool
    audiences: tuple[Audience, ...]
    requirements: tuple[Requirement, ...]
    min_photos: int
    hours: str
    delays: dict[Urgency, int]


# The offer of the support hospital: specialty (TRE_R38), what it answers, for whom, delays (minutes).
LINE_CATALOGUE: tuple[LineSpec, ...] = (
    LineSpec(
        key="dermatologie",
        code="SM15",
        unit="Dermatologie",
        title="Dermatologie : avis sur photographies",
        summary="Lésions cutanées suspectes (mélanome, carcinome), plaies chroniques et escarres, toxidermies, "
        "dermatoses inflammatoires. Avis sur photographies ; téléconsultation si l'examen le demande.",
        te=True,
        tc=True,
        audiences=(Audience.CITY, Audience.EHPAD, Audience.USMP, Audience.GHT_HOSPITALS),
        requirements=(Requirement.PHOTO,),
        min_photos=1,
        hours="Du lundi au vendredi, 9 h – 17 h",
        delays={Urgency.ROUTINE: 7 * 24 * 60, Urgency.URGENT: 48 * 60},
    ),
    LineSpec(
        key="cardiologie",
        code="SM04",
        unit="Cardiologie",
        title="Cardiologie : avis et lecture d'ECG",
        summary="Interprétation d'électrocardiogramme, adaptation d'un traitement (anticoagulants, "
        "insuffisance cardiaque), orientation vers une consultation ou une hospitalisation.",
        te=True,
        tc=True,
        audiences=(Audience.CITY, Audience.EHPAD, Audience.USMP, Audience.GHT_HOSPITALS),
        requirements=(Requirement.ECG, Requirement.TREATMENT_LIST),
        min_photos=0,
        hours="Tous les jours, 8 h – 20 h ; astreinte la nuit pour les demandes très urgentes",
        delays={Urgency.ROUTINE: 72 * 60, Urgency.URGENT: 24 * 60, Urgency.VERY_URGENT: 2 * 60},
    ),
    LineSpec(
        key="geriatrie",
        code="SM18",
        unit="Gériatrie",
        title="Gériatrie : appui aux EHPAD et au domicile",
        summary="Chutes, troubles du comportement, dénutrition, révision des traitements, soins palliatifs ; "
        "éviter un passage aux urgences quand il n'apporte rien au résident.",
        te=True,
        tc=True,
        audiences=(Audience.CITY, Audience.EHPAD, Audience.GHT_HOSPITALS),
        requirements=(Requirement.TREATMENT_LIST, Requirement.VITAL_SIGNS),
        min_photos=0,
        hours="Du lundi au vendredi, 8 h 30 – 18 h",
        delays={Urgency.ROUTINE: 72 * 60, Urgency.URGENT: 24 * 60},
    ),
    LineSpec(
        key="psychiatrie",
        code="SM42",
        unit="Psychiatrie adulte",
        title="Psychiatrie : avis et téléconsultation",
        summary="Évaluation d'un trouble psychiatrique, adaptation d'un traitement "
        "psychotrope, suivi en milieu pénitentiaire et en EHPAD.",
        te=True,
        tc=True,
        audiences=(Audience.CITY, Audience.EHPAD, Audience.USMP),
        requirements=(Requirement.TREATMENT_LIST,),
        min_photos=0,
        hours="Du lundi au vendredi, 9 h – 17 h",
        delays={Urgency.ROUTINE: 7 * 24 * 60, Urgency.URGENT: 48 * 60},
    ),
    LineSpec(
        key="diabetologie",
        code="SM62",
        unit="Endocrinologie-diabétologie",
        title="Diabétologie : équilibre glycémique et plaies du pied",
        summary="Adaptation d'une insulinothérapie, diabète déséquilibré, pied diabétique (photographies "
        "bienvenues), diabète gestationnel.",
        te=True,
        tc=False,
        audiences=(Audience.CITY, Audience.EHPAD, Audience.USMP, Audience.GHT_HOSPITALS),
        requirements=(Requirement.LAB_RESULTS, Requirement.TREATMENT_LIST),
        min_photos=0,
        hours="Du lundi au vendredi, 9 h – 17 h",
        delays={Urgency.ROUTINE: 7 * 24 * 60, Urgency.URGENT: 72 * 60},
    ),
    LineSpec(
        key="pneumologie",
        code="SM41",
        unit="Pneumologie",
        title="Pneumologie : insuffisance respiratoire et imagerie thoracique",
        summary="BPCO, insuffisance respiratoire sous oxygène ou ventilation, "
        "nodule pulmonaire, lecture d'une imagerie thoracique.",
        te=True,
        tc=True,
        audiences=(Audience.CITY, Audience.EHPAD, Audience.GHT_HOSPITALS),
        requirements=(Requirement.IMAGING_REPORT,),
        min_photos=0,
        hours="Du lundi au vendredi, 9 h – 17 h",
        delays={Urgency.ROUTINE: 7 * 24 * 60, Urgency.URGENT: 48 * 60},
    ),
    LineSpec(
        key="nephrologie",
        code="SM30",
        unit="Néphrologie",
        title="Néphrologie : fonction rénale et adaptation des traitements",
        summary="Dégradation de la fonction rénale, adaptation des doses, préparation "
        "à la dialyse, troubles hydro-électrolytiques.",
        te=True,
        tc=False,
        audiences=(Audience.CITY, Audience.EHPAD, Audience.GHT_HOSPITALS),
        requirements=(Requirement.LAB_RESULTS,),
        min_photos=0,
        hours="Du lundi au vendredi, 9 h – 17 h",
        delays={Urgency.ROUTINE: 5 * 24 * 60, Urgency.URGENT: 24 * 60},
    ),
)
