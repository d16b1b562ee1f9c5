"""The telesurveillance programmes, one per arrêté: the data each requires, its default alert rules and where
each comes from, its forfait (DOMAIN.md §2.4, §3). No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from maillage.exceptions import ValidationFailed
from maillage.monitoring.rules.alerting import (
    ReferenceGainRule,
    Rule,
    Severity,
    SilenceRule,
    ThresholdRule,
    WindowGainRule,
)
from maillage.monitoring.rules.forfaits import EnhancedLimit, ForfaitLevel
from maillage.monitoring.rules.measures import MEASURES


@dataclass(frozen=True)
class MeasureRequirement:
    measure: str
    required: bool
    frequency: str  # French, as the arrêté words it


@dataclass(frozen=True)
class Programme:
    key: str
    label: str
    indication: str
    legal_basis: str
    data: tuple[MeasureRequirement, ...]
    rules: tuple[Rule, ...]
    references: tuple[str, ...]
    forfait: ForfaitLevel
    enhanced: EnhancedLimit | None
    primary_measure: str       # the measure whose transmissions adherence counts
    expected_every_days: int   # one transmission of the primary measure expected every N local days
    requires_silence_alert: bool = True
    # The longest non-transmission period an operator may set, in hours, and where it comes from: what the
    # programme's arrêté requires to be transmitted, and how often (DOMAIN.md §3). A longer period would let the
    # required data go missing with no alert.
    max_silence_hours: float = 48.0
    silence_bound: str = ""

    def rule(self, key: str) -> Rule:
        for r in self.rules:
            if r.key == key:
                return r
        raise KeyError(key)


ARRETE_IC = "Arrêté du 22 juin 2023, insuffisance cardiaque (JORFARTI000047720221)"
ARRETE_IR = "Arrêté du 22 juin 2023, insuffisance respiratoire (JORFARTI000047720100)"
ARRETE_DIAB = "Arrêté du 22 juin 2023, diabète (JORFARTI000047720152)"
ARRETE_IRC = "Arrêté du 22 juin 2023, insuffisance rénale chronique"
ARRETE_PCI = "Arrêté du 23 février 2024, prothèses cardiaques implantables (JORFTEXT000049205200)"
SILENCE_SOURCE = "{} : les alertes de non-transmission ne peuvent pas être désactivées par l'opérateur"
ESC_WEIGHT = ("ESC/HFA, heartfailurematters.org : prévenir si le poids augmente de plus de 2 kg en 3 jours "
              "(DOMAIN.md §3.1 ; défaut configurable)")
ADA_HYPO = "ADA Standards of Care, tableau 6.3 (DOMAIN.md §3.3)"

R, OR = Severity.RED, Severity.ORANGE


def _silence(key: str, measure: str, hours: float, arrete: str) -> SilenceRule:
    return SilenceRule(key, f"Non-transmission : {MEASURES[measure].label.lower()}", measure, hours, OR,
                       SILENCE_SOURCE.format(arrete))


def _hypo_rules(high_default_source: str) -> tuple[Rule, ...]:
    return (
        ThresholdRule("hypo_severe", "Hypoglycémie sévère", "glucose", "lt", 54.0, R,
                      f"{ARRETE_DIAB} (seuil fixé par le médecin) ; à défaut niveau 2 < 54 mg/dL, {ADA_HYPO}",
                      reference="hypo_threshold", group="hypoglycaemia"),
        ThresholdRule("hypo", "Hypoglycémie", "glucose", "le", 70.0, OR,
                      f"Niveau 1 ≤ 70 mg/dL, {ADA_HYPO}", reference="glucose_target_low", group="hypoglycaemia"),
        ThresholdRule("hyperglycaemia", "Glycémie au-dessus de la cible", "glucose", "gt", 250.0, OR,
                      high_default_source, reference="glucose_target_high"),
    )


PROGRAMMES: dict[str, Programme] = {p.key: p for p in (
    Programme(
        "heart_failure", "Insuffisance cardiaque chronique", "Insuffisance cardiaque chronique (NYHA ≥ II)", ARRETE_IC,
        (MeasureRequirement("weight", True, "quotidienne"), MeasureRequirement("epof", False, "selon le protocole"),
         MeasureRequirement("systolic", False, "selon le protocole"),
         MeasureRequirement("diastolic", False, "selon le protocole"),
         MeasureRequirement("heart_rate", False, "selon le protocole")),
        (
            WindowGainRule("weight_gain_3d", "Prise de poids rapide (suspicion de décompensation)", "weight", 3, 2.0,
                           R, ESC_WEIGHT, group="weight_gain"),
            ReferenceGainRule("weight_over_dry", "Poids au-dessus du poids sec", "weight", "dry_weight", 2.0, OR,
                              "W − poids sec > 2 kg (DOMAIN.md §3.1, défaut configurable)"),
            ThresholdRule("epof_signs", "Deux signes EPOF ou plus", "epof", "ge", 2.0, OR,
                          "EPOF (Essoufflement, Prise de poids, Œdèmes, Fatigue) : deux signes ou plus doivent "
                          "alerter (DOMAIN.md §3.1)"),
            _silence("no_weight", "weight", 48.0, ARRETE_IC),
        ),
        ("dry_weight",), ForfaitLevel.LEVEL_2, EnhancedLimit(6, 1), "weight", 1,
        max_silence_hours=48.0,
        silence_bound="poids recueilli et transmis chaque jour (arrêté insuffisance cardiaque, DOMAIN.md §3.1) : "
                      "au-delà de 48 h, une journée entière sans poids passerait sans alerte",
    ),
    Programme(
        "respiratory_ventilation", "Insuffisance respiratoire chronique sous ventilation non invasive",
        "Insuffisance respiratoire chronique (VNI), adulte", ARRETE_IR,
        (MeasureRequirement("niv_use", True, "quotidienne"),
         MeasureRequirement("respiratory_rate", True, "quotidienne"),
         MeasureRequirement("niv_leak", True, "quotidienne"), MeasureRequirement("spo2", False, "selon le protocole")),
        (
            ThresholdRule("niv_use_low", "Faible observance de la ventilation", "niv_use", "lt", 4.0, OR,
                          "Catégorie d'alerte ETAPES « faible observance » (étude TELVENT, DOMAIN.md §3.2) ; "
                          "seuil 4 h/24 h configurable [incertain]"),
            ThresholdRule("niv_leak_high", "Fuites élevées", "niv_leak", "gt", 24.0, OR,
                          "Catégorie d'alerte ETAPES « fuites » ; seuils observés 23 ± 13 L/min (DOMAIN.md §3.2), "
                          "défaut configurable [incertain]"),
            _silence("no_ventilation_data", "niv_use", 48.0, ARRETE_IR),
        ),
        (), ForfaitLevel.LEVEL_2, None, "niv_use", 1,
        max_silence_hours=48.0,
        silence_bound="recueil et transmission quotidiens (arrêté insuffisance respiratoire, DOMAIN.md §3.2) : "
                      "au-delà de 48 h, une journée entière sans données passerait sans alerte",
    ),
    Programme(
        "respiratory_oxygen", "Insuffisance respiratoire chronique sous oxygénothérapie",
        "Insuffisance respiratoire chronique (oxygène), adulte", ARRETE_IR,
        (MeasureRequirement("oxygen_use", True, "quotidienne"), MeasureRequirement("oxygen_flow", True, "quotidienne"),
         MeasureRequirement("spo2", True, "quotidienne")),
        (
            ThresholdRule("spo2_low", "SpO2 sous la cible", "spo2", "lt", 90.0, R,
                          "SaO2 ≥ 90 % visée en oxygénothérapie (DOMAIN.md §3.2) ; cible du patient si fixée "
                          "[défaut incertain comme règle nationale]", reference="spo2_target"),
            _silence("no_oxygen_data", "spo2", 48.0, ARRETE_IR),
        ),
        ("spo2_target",), ForfaitLevel.LEVEL_2, None, "spo2", 1,
        max_silence_hours=48.0,
        silence_bound="recueil et transmission quotidiens (arrêté insuffisance respiratoire, DOMAIN.md §3.2) : "
                      "au-delà de 48 h, une journée entière sans données passerait sans alerte",
    ),
    Programme(
        "renal_failure", "Insuffisance rénale chronique", "Insuffisance rénale chronique (dialyse, greffe)", ARRETE_IRC,
        (MeasureRequirement("weight", True, "à chaque séance"), MeasureRequirement("systolic", True, "à chaque séance"),
         MeasureRequirement("diastolic", True, "à chaque séance"),
         MeasureRequirement("heart_rate", True, "à chaque séance"),
         MeasureRequirement("creatinine", False, "greffés : selon le protocole")),
        (
            ReferenceGainRule("weight_over_dry", "Prise de poids interdialytique", "weight", "dry_weight", 2.0, OR,
                              "Variation par rapport au poids sec (arrêté IRC, DOMAIN.md §3.4) ; 2 kg configurable"),
            ThresholdRule("systolic_high", "Pression systolique élevée", "systolic", "ge", 180.0, OR,
                          "Défaut configurable (hypertension de grade 3 ≥ 180 mmHg) [hors DOMAIN.md, à valider]"),
            ThresholdRule("systolic_low", "Pression systolique basse", "systolic", "lt", 90.0, OR,
                          "Défaut configurable (hypotension < 90 mmHg) [hors DOMAIN.md, à valider]"),
            _silence("no_session_data", "weight", 72.0, ARRETE_IRC),
        ),
        ("dry_weight",), ForfaitLevel.LEVEL_2, None, "weight", 3,
        max_silence_hours=72.0,
        silence_bound="données transmises à chaque séance de dialyse (arrêté insuffisance rénale, DOMAIN.md §3.4) ; "
                      "trois séances par semaine laissent au plus 72 h entre deux séances [fréquence des séances "
                      "non fixée par le texte : à valider]",
    ),
    Programme(
        "diabetes", "Diabète de type 1 ou 2 sous insuline", "Diabète de type 1 ou 2 traité par insuline", ARRETE_DIAB,
        (MeasureRequirement("glucose", True, "2 à 4 glycémies capillaires par jour ; transmission au moins "
                                             "hebdomadaire"),),
        (*_hypo_rules("Alerte « valeurs hors de la zone cible » (arrêté diabète) ; 250 mg/dL configurable"),
         _silence("no_glucose", "glucose", 7 * 24.0, ARRETE_DIAB)),
        ("hypo_threshold", "glucose_target_low", "glucose_target_high"), ForfaitLevel.LEVEL_2, EnhancedLimit(3, 1),
        "glucose", 1,
        max_silence_hours=7 * 24.0,
        silence_bound="transmission au moins hebdomadaire (arrêté diabète, DOMAIN.md §3.3)",
    ),
    Programme(
        "gestational_diabetes", "Diabète gestationnel sous insuline", "Diabète gestationnel traité par insuline",
        ARRETE_DIAB,
        (MeasureRequirement("glucose", True, "glycémies capillaires quotidiennes ; transmission au moins "
                                             "hebdomadaire"),),
        (*_hypo_rules("Alerte « valeurs hors de la zone cible » (arrêté diabète) ; 250 mg/dL configurable, à "
                      "abaisser par le médecin selon les cibles de la grossesse"),
         _silence("no_glucose", "glucose", 7 * 24.0, ARRETE_DIAB)),
        ("hypo_threshold", "glucose_target_low", "glucose_target_high"), ForfaitLevel.LEVEL_2, EnhancedLimit(3, 1),
        "glucose", 1,
        max_silence_hours=7 * 24.0,
        silence_bound="transmission au moins hebdomadaire (arrêté diabète, DOMAIN.md §3.3)",
    ),
    Programme(
        "cardiac_implant", "Porteur de prothèse cardiaque implantable", "Stimulateur ou défibrillateur implantable",
        ARRETE_PCI,
        (MeasureRequirement("implant_alert", True, "transmissions automatiques de la prothèse"),
         MeasureRequirement("heart_rate", False, "selon la prothèse")),
        (
            ThresholdRule("implant_urgent", "Alerte urgente de la prothèse", "implant_alert", "ge", 2.0, R,
                          f"{ARRETE_PCI} : alertes transmises par la prothèse (niveau 2 = urgent)", group="implant"),
            ThresholdRule("implant_alert", "Alerte de la prothèse", "implant_alert", "ge", 1.0, OR,
                          f"{ARRETE_PCI} : alertes transmises par la prothèse (niveau 1)", group="implant"),
            _silence("no_implant_data", "implant_alert", 7 * 24.0, ARRETE_PCI),
        ),
        (), ForfaitLevel.LEVEL_1, None, "implant_alert", 7,
        max_silence_hours=7 * 24.0,
        silence_bound="transmissions automatiques de la prothèse, attendues au moins chaque semaine (arrêté "
                      "prothèses cardiaques implantables) [hors DOMAIN.md : à valider]",
    ),
)}


def get_programme(key: str) -> Programme:
    programme = PROGRAMMES.get(key)
    if programme is None:
        raise ValidationFailed("Programme de télésurveillance inconnu.",
                               details=[{"field": "programme", "message": f"Programmes : {', '.join(PROGRAMMES)}"}])
    return programme
