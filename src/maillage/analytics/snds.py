"""The subset of the SNDS data model the indicators need, with the SNDS column names and meanings.

Sources (Documentation SNDS of the Health Data Hub, MPL-2.0, and schema-snds):
- DCIR: ``ER_PRS_F`` is the central table of prestations; its 9-column key joins it to the detail tables
  (``ER_PHA_F``, ``ER_ETE_F`` …): "9 clés de jointure entre la table ER_PRS_F et les tables affinées"
  (formation_snds/documents_cnam/essentiel_snds.md).
- Beneficiaries: ``IR_BEN_R``, key ``BEN_NIR_PSA, BEN_RNG_GEM`` (tables/.schemas/BENEFICIAIRE/IR_BEN_R.md).
- PMSI MCO: a stay is ``ETA_NUM, RSA_NUM``; ``T_MCOaaC`` chains the patient (``NIR_ANO_17``), ``T_MCOaaB`` holds the
  stay and its principal diagnosis, ``T_MCOaaD`` the associated diagnoses (fiches/concepts_PMSI.md). The warehouse
  keeps every year in one table (``T_MCOB``, ``T_MCOC``, ``T_MCOD``); the year is that of ``EXE_SOI_DTF``.

One column is not SNDS: ``DA_PRA_R.PFS_EXC_COM`` (commune d'exercice, INSEE code), which the APL needs and which
the SNDS takes from the professionals' directory; it is marked as such in its description.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# The 9 join keys between ER_PRS_F and its detail tables (essentiel_snds.md, fiches/tables_affinees.md).
DCIR_JOIN_KEY: tuple[str, ...] = (
    "FLX_DIS_DTD",
    "FLX_TRT_DTD",
    "FLX_EMT_TYP",
    "FLX_EMT_NUM",
    "FLX_EMT_ORD",
    "ORG_CLE_NUM",
    "DCT_ORD_NUM",
    "PRS_ORD_NUM",
    "REM_TYP_AFF",
)
# ER_DCT_F joins on the 7 décompte keys only (fiches/tables_affinees.md).
DCIR_DECOMPTE_KEY: tuple[str, ...] = DCIR_JOIN_KEY[:7]
BENEFICIARY_KEY: tuple[str, ...] = ("BEN_NIR_PSA", "BEN_RNG_GEM")
PMSI_STAY_KEY: tuple[str, ...] = ("ETA_NUM", "RSA_NUM")

# Missing dates are coded 1600-01-01 in the SNDS (essentiel_snds.md).
MISSING_DATE_ISO = "1600-01-01"


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str


@dataclass(frozen=True)
class TableDef:
    name: str
    title: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _key_columns() -> tuple[Column, ...]:
    return (
        Column("FLX_DIS_DTD", pa.date32(), "Date de mise à disposition des données (mois de flux)"),
        Column("FLX_TRT_DTD", pa.date32(), "Date d'entrée des données dans le système d'information"),
        Column("FLX_EMT_TYP", pa.int16(), "Type d'émetteur"),
        Column("FLX_EMT_NUM", pa.int32(), "Numéro d'émetteur du flux"),
        Column("FLX_EMT_ORD", pa.int32(), "Numéro de séquence du flux"),
        Column("ORG_CLE_NUM", pa.string(), "Organisme de liquidation des prestations (avant fusion)"),
        Column("DCT_ORD_NUM", pa.int64(), "Numéro d'ordre du décompte dans l'organisme"),
        Column("PRS_ORD_NUM", pa.int32(), "Numéro d'ordre de la prestation dans le décompte"),
        Column("REM_TYP_AFF", pa.int16(), "Type de remboursement affiné"),
    )


ER_PRS_F = TableDef(
    "ER_PRS_F",
    "Table des prestations (DCIR)",
    (
        *_key_columns(),
        Column("BEN_NIR_PSA", pa.string(), "Identifiant anonyme du patient dans le SNIIRAM"),
        Column("BEN_RNG_GEM", pa.int16(), "Rang de naissance du bénéficiaire"),
        Column("BEN_AMA_COD", pa.int16(), "Âge du bénéficiaire au moment des soins (années si ≥ 2 ans)"),
        Column("BEN_RES_DPT", pa.string(), "Département de résidence du bénéficiaire"),
        Column("BEN_RES_COM", pa.string(), "Commune de résidence du bénéficiaire (code dans le département)"),
        Column("PRS_NAT_REF", pa.int32(), "Nature de prestation de référence"),
        Column("PSE_SPE_COD", pa.int16(), "Spécialité médicale du professionnel exécutant"),
        Column("PFS_EXE_NUM", pa.string(), "Numéro du professionnel exécutant (pseudonymisé)"),
        Column("EXE_SOI_DTD", pa.date32(), "Date de début d'exécution des soins"),
        Column("EXE_SOI_DTF", pa.date32(), "Date de fin d'exécution des soins"),
        Column("PRS_ACT_QTE", pa.int32(), "Quantité d'actes (signée : négative pour une régularisation)"),
        Column("PRS_PAI_MNT", pa.float64(), "Montant de la dépense (euros, signé)"),
        Column("CPL_MAJ_TOP", pa.int16(), "Top majoration ou complément (≥ 2 : ligne de complément)"),
        Column("DPN_QLF", pa.int16(), "Qualificatif de la dépense (71 : remontée pour information)"),
    ),
    DCIR_JOIN_KEY,
)

ER_PHA_F = TableDef(
    "ER_PHA_F",
    "Prestations de pharmacie (table affinée du DCIR)",
    (
        *_key_columns(),
        Column("PHA_PRS_C13", pa.string(), "Code CIP de la pharmacie de ville (13 caractères)"),
        Column("PHA_ACT_QSN", pa.int32(), "Quantité affinée signée (nombre de boîtes facturées)"),
    ),
    DCIR_JOIN_KEY,
)

ER_ETE_F = TableDef(
    "ER_ETE_F",
    "Prestations en établissement (table affinée du DCIR)",
    (
        *_key_columns(),
        Column("ETB_EXE_FIN", pa.string(), "Numéro FINESS de l'établissement exécutant"),
        Column("ETE_IND_TAA", pa.int16(), "Indicateur de facturation directe en T2A (1 : établissement public en T2A)"),
        Column("PRS_PPU_SEC", pa.int16(), "Secteur public ou privé (1 public, 2 privé)"),
        Column("ETE_CAT_COD", pa.int16(), "Catégorie de l'établissement exécutant"),
    ),
    DCIR_JOIN_KEY,
)

IR_BEN_R = TableDef(
    "IR_BEN_R",
    "Référentiel des bénéficiaires",
    (
        Column("BEN_NIR_PSA", pa.string(), "Identifiant anonyme du patient dans le SNIIRAM"),
        Column("BEN_RNG_GEM", pa.int16(), "Rang de naissance du bénéficiaire"),
        Column("BEN_NIR_ANO", pa.string(), "NIR pseudonymisé du bénéficiaire"),
        Column("BEN_IDT_ANO", pa.string(), "Identifiant bénéficiaire anonymisé"),
        Column("BEN_NAI_ANN", pa.int16(), "Année de naissance du bénéficiaire"),
        Column("BEN_NAI_MOI", pa.int16(), "Mois de naissance du bénéficiaire"),
        Column("BEN_SEX_COD", pa.int16(), "Sexe du bénéficiaire (1 homme, 2 femme)"),
        Column("BEN_DCD_DTE", pa.date32(), "Date de décès (1600-01-01 si absente)"),
        Column("BEN_RES_DPT", pa.string(), "Département de résidence"),
        Column("BEN_RES_COM", pa.string(), "Commune de résidence (code dans le département)"),
    ),
    BENEFICIARY_KEY,
)

DA_PRA_R = TableDef(
    "DA_PRA_R",
    "Référentiel des professionnels de santé",
    (
        Column("PFS_PFS_NUM", pa.string(), "N° du PS (pseudonymisé)"),
        Column("PFS_PRA_SPE", pa.int16(), "Spécialité médicale du PS"),
        Column("PFS_EXC_COM", pa.string(), "Commune d'exercice, code INSEE (ajout Maillage, hors SNDS)"),
    ),
    ("PFS_PFS_NUM",),
)

T_MCOB = TableDef(
    "T_MCOB",
    "PMSI MCO : séjours (T_MCOaaB, toutes années)",
    (
        Column("ETA_NUM", pa.string(), "Numéro FINESS e-PMSI"),
        Column("RSA_NUM", pa.int64(), "N° d'index du RSA"),
        Column("DGN_PAL", pa.string(), "Diagnostic principal (CIM-10)"),
        Column("DGN_REL", pa.string(), "Diagnostic relié (CIM-10)"),
        Column("GRG_GHM", pa.string(), "GHM calculé par la fonction groupage"),
        Column("BDI_COD", pa.string(), "Code géographique de résidence"),
        Column("AGE_ANN", pa.int16(), "Âge en années"),
        Column("COD_SEX", pa.int16(), "Sexe"),
        Column("SEJ_NBJ", pa.int32(), "Durée totale du séjour (jours)"),
    ),
    PMSI_STAY_KEY,
)

T_MCOC = TableDef(
    "T_MCOC",
    "PMSI MCO : chaînage patient-séjour (T_MCOaaC, toutes années)",
    (
        Column("ETA_NUM", pa.string(), "Numéro FINESS e-PMSI"),
        Column("RSA_NUM", pa.int64(), "N° d'index du RSA"),
        Column("NIR_ANO_17", pa.string(), "N° anonyme du patient (= BEN_NIR_PSA)"),
        Column("EXE_SOI_DTD", pa.date32(), "Date d'entrée"),
        Column("EXE_SOI_DTF", pa.date32(), "Date de sortie"),
        Column("NIR_RET", pa.string(), "Code retour contrôle « N° sécurité sociale »"),
        Column("NAI_RET", pa.string(), "Code retour contrôle « date de naissance »"),
        Column("SEX_RET", pa.string(), "Code retour contrôle « sexe »"),
        Column("SEJ_RET", pa.string(), "Code retour contrôle « n° d'administration du séjour »"),
        Column("FHO_RET", pa.string(), "Code retour « fusion ANO-HOSP et HOSP-PMSI »"),
        Column("PMS_RET", pa.string(), "Code retour « fusion ANO-PMSI et fichier PMSI »"),
        Column("DAT_RET", pa.string(), "Code retour contrôle « date de référence »"),
    ),
    PMSI_STAY_KEY,
)

T_MCOD = TableDef(
    "T_MCOD",
    "PMSI MCO : diagnostics associés (T_MCOaaD, toutes années)",
    (
        Column("ETA_NUM", pa.string(), "Numéro FINESS e-PMSI"),
        Column("RSA_NUM", pa.int64(), "N° d'index du RSA"),
        Column("ASS_DGN", pa.string(), "Diagnostic associé (CIM-10)"),
    ),
)

COMMUNES = TableDef(
    "COMMUNES",
    "Communes du territoire (référentiel géographique, hors SNDS)",
    (
        Column("code_insee", pa.string(), "Code INSEE de la commune"),
        Column("nom", pa.string(), "Nom de la commune"),
        Column("departement", pa.string(), "Code du département"),
        Column("population", pa.int64(), "Population municipale"),
        Column("latitude", pa.float64(), "Latitude (WGS 84)"),
        Column("longitude", pa.float64(), "Longitude (WGS 84)"),
    ),
    ("code_insee",),
)

TABLES: dict[str, TableDef] = {
    t.name: t for t in (ER_PRS_F, ER_PHA_F, ER_ETE_F, IR_BEN_R, DA_PRA_R, T_MCOB, T_MCOC, T_MCOD, COMMUNES)
}

# --- Nomenclatures used by the indicators -------------------------------------------------------------------
# Prestation natures (PRS_NAT_REF). Consultations and visits as listed by the SNDS documentation's fiche
# "activité des médecins" (reused by the sndsTools examples); telemedicine codes from fiches/prestation_covid.md
# and the HDH teleconsultation worked query (fiches/teleconsultations.md).
CONSULTATION_CODES: frozenset[int] = frozenset({1098, 1111, 1112, 1113, 1114, 1115})
VISIT_CODES: frozenset[int] = frozenset({1211, 1212, 1213, 1214, 1215})
TELECONSULTATION_CODES: frozenset[int] = frozenset({1096, 1157, 1164, 1191, 1192})
TELEEXPERTISE_CODES: frozenset[int] = frozenset({1158, 1165, 1193, 1194})
# Executing speciality (PSE_SPE_COD) of general practitioners: 01 médecine générale, 22 and 23 GP with a
# particular mode of practice.
GP_SPECIALTIES: frozenset[int] = frozenset({1, 22, 23})

# Quality-filter values (fiches/sas_prestation_dcir.md).
DPN_QLF_INFORMATION_ONLY = 71
CPL_MAJ_TOP_MAX = 2  # keep CPL_MAJ_TOP < 2
ETE_IND_TAA_PUBLIC_T2A = 1

# PMSI: patient-chaining placeholders and the error GHMs (essentiel_snds.md; fiches/scalpel_pipeline.md).
NIR_ANO_PLACEHOLDERS: frozenset[str] = frozenset({"xxxxxxxxxxxxxxxxx", "XXXXXXXXXXXXXXXXS"})
PMSI_RET_COLUMNS: tuple[str, ...] = ("NIR_RET", "NAI_RET", "SEX_RET", "SEJ_RET", "FHO_RET", "PMS_RET", "DAT_RET")
ERROR_GHM_PREFIX = "90"
# Geographic FINESS of AP-HP, AP-HM and HCL transmitted twice in the PMSI: drop them to avoid counting stays
# twice (essentiel_snds.md; the same 46 numbers in the SNDS documentation's worked queries).
DUPLICATE_FINESS: frozenset[str] = frozenset({
    "130780521", "130783236", "130783293", "130784234", "130804297", "600100101", "750041543", "750100018", "750100042",
    "750100075", "750100083", "750100091", "750100109", "750100125", "750100166", "750100208", "750100216", "750100232",
    "750100273", "750100299", "750801441", "750803447", "750803454", "910100015", "910100023", "920100013", "920100021",
    "920100039", "920100047", "920100054", "920100062", "930100011", "930100037", "930100045", "940100027", "940100035",
    "940100043", "940100050", "940100068", "950100016", "690783154", "690784137", "690784152", "690784178", "690787478",
    "830100558",
})


def insee_commune(dpt: str, com: str) -> str:
    """INSEE code of a commune from the SNDS residence pair (département on 3 characters, commune on 3).

    Metropolitan départements are written with a leading 0 (``"075"``, ``"02A"``); overseas ones on 3 digits
    (``"971"``), their INSEE code being ``"97"`` + the 3-character commune code.
    """
    if dpt.startswith("97"):
        return "97" + com
    return dpt[1:] + com


def snds_residence(code_insee: str) -> tuple[str, str]:
    """The SNDS residence pair (BEN_RES_DPT, BEN_RES_COM) of an INSEE commune code: the inverse of insee_commune."""
    if code_insee.startswith("97"):
        return code_insee[:3], code_insee[2:]
    return "0" + code_insee[:2], code_insee[2:]
