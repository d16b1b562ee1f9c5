"""The dated tariff table of the telemedicine acts (NGAP codes): the one table tele-expertise and teleconsultation
price their acts from, at the act's date (never the billing date). A nomenclature, like the specialties: no I/O.

Sources: DOMAIN.md §2.1 (teleconsultation), §2.2 (the nurse's accompaniment of a teleconsultation), §2.3
(tele-expertise) and §2.4 (the telesurveillance operator forfaits). A change of tariff is a new dated row, never an
edit of a row. The billing capability prints this table (``maillage billing tariffs``) and prices its ledger from it;
it lives here, below every capability in the layers, so that each one reads the same table.

Left out on purpose: ``TCS`` (a specialist teleconsultation code whose amounts DOMAIN.md §2.1 marks uncertain) and
the exploitants' technical forfaits (billed by the device company, not by the establishment).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from maillage.exceptions import ValidationFailed


@dataclass(frozen=True)
class Tariff:
    code: str
    amount: Decimal
    valid_from: dt.date
    valid_to: dt.date | None  # inclusive
    source: str
    label: str = ""


NURSE_SOURCE = "NGAP art. 14.9.5, décision UNCAM du 18 juillet 2019 (avenant 6 infirmiers)"

TE_SOURCE = "Avenant 9, décision UNCAM du 13 janvier 2022"
FORFAIT_SOURCE = "Arrêté du 16 mai 2023 art. 2, remplacé par l'arrêté du 21 décembre 2023 (JO 7 janvier 2024)"
# The operator forfaits' 11 € / 28 € apply "à partir d'avril 2024" (DOMAIN.md §2.4): the transitional rates before
# April 2024 were not retrieved, so a month before then has no tariff and is not priced (never at today's rate).
FORFAIT_FROM = dt.date(2024, 4, 1)

TARIFFS: tuple[Tariff, ...] = (
    # Avenant 9 (UNCAM decision of 13 Jan 2022), single level since 1 Apr 2022 (DOMAIN.md §2.3).
    Tariff("TE2", Decimal("20.00"), dt.date(2022, 4, 1), dt.date(2025, 12, 31), TE_SOURCE,
           "Téléexpertise (médecin requis)"),
    # Convention médicale 2024: TE2 raised to 23 € from 1 Jan 2026 (DOMAIN.md §2.3).
    Tariff("TE2", Decimal("23.00"), dt.date(2026, 1, 1), None, "Convention médicale 2024",
           "Téléexpertise (médecin requis)"),
    Tariff("RQD", Decimal("10.00"), dt.date(2022, 4, 1), None, TE_SOURCE,
           "Demande de téléexpertise (professionnel requérant)"),
    # Teleconsultation of a physician in sector 1 or OPTAM, created by avenant 6 (reimbursed since 15 Sept 2018);
    # unchanged by the 2024 convention (DOMAIN.md §2.1).
    Tariff("TCG", Decimal("25.00"), dt.date(2018, 9, 15), None, "Avenant 6, inchangé par la convention médicale 2024",
           "Téléconsultation (secteur 1, OPTAM)"),
    # Teleconsultation of a doctor billing with fee overruns (sector 2), created by the same avenant 6. DOMAIN.md
    # §2.1 gives no amount of its own for TC: it is recorded at the TCG base (the teleconsultation is paid as the
    # consultation it replaces, the overrun is not in the table) and marked to check against the current NGAP.
    Tariff("TC", Decimal("25.00"), dt.date(2018, 9, 15), None,
           "Avenant 6 (base de remboursement de TCG ; montant à vérifier dans la NGAP en vigueur)",
           "Téléconsultation (secteur 2)"),
    # The nurse who accompanies the patient during a teleconsultation (NGAP art. 14.9.5, UNCAM decision of 18 July
    # 2019, avenant 6 of the nurses' convention), billable since January 2020 (DOMAIN.md §2.2): during a nursing
    # visit already planned, in a place dedicated to teleconsultation, at a home visit organised for it.
    Tariff("TLS", Decimal("10.00"), dt.date(2020, 1, 1), None, NURSE_SOURCE,
           "Accompagnement infirmier lors d'un soin programmé"),
    Tariff("TLL", Decimal("12.00"), dt.date(2020, 1, 1), None, NURSE_SOURCE,
           "Accompagnement infirmier dans un lieu dédié"),
    Tariff("TLD", Decimal("15.00"), dt.date(2020, 1, 1), None, NURSE_SOURCE,
           "Accompagnement infirmier à domicile"),
    # Telesurveillance operator forfaits, per patient and month (DOMAIN.md §2.4). The codes TVA (level 1) and TVB
    # (level 2) are the ameli page's; the enhanced forfaits are TVB with coefficients 2 and 2.5 according to one
    # secondary source (the mapping is marked uncertain in DOMAIN.md): they are named TVB2 and TVB25 here.
    Tariff("TVA", Decimal("11.00"), FORFAIT_FROM, None, FORFAIT_SOURCE,
           "Forfait opérateur de télésurveillance niveau 1"),
    Tariff("TVB", Decimal("28.00"), FORFAIT_FROM, None, FORFAIT_SOURCE,
           "Forfait opérateur de télésurveillance niveau 2"),
    Tariff("TVB2", Decimal("56.00"), FORFAIT_FROM, None, FORFAIT_SOURCE,
           "Forfait opérateur majoré niveau 1 (patient complexe)"),
    Tariff("TVB25", Decimal("70.00"), FORFAIT_FROM, None, FORFAIT_SOURCE,
           "Forfait opérateur majoré niveau 2 (patient complexe)"),
)


def tariff_for(code: str, act_date: dt.date, table: tuple[Tariff, ...] = TARIFFS) -> Tariff:
    """The tariff of ``code`` in force on ``act_date`` (the act's date, never the billing date)."""
    for t in table:
        if t.code == code and t.valid_from <= act_date and (t.valid_to is None or act_date <= t.valid_to):
            return t
    raise ValidationFailed(f"Aucun tarif {code} en vigueur le {act_date.strftime('%d/%m/%Y')}.")


def find_tariff(code: str, act_date: dt.date, table: tuple[Tariff, ...] = TARIFFS) -> Tariff | None:
    """The tariff of ``code`` in force on ``act_date``, or None when the table has none."""
    try:
        return tariff_for(code, act_date, table)
    except ValidationFailed:
        return None


def label_of(code: str, table: tuple[Tariff, ...] = TARIFFS) -> str:
    """The French label of ``code`` (its latest row's), or the code itself when unknown."""
    labels = [t.label for t in table if t.code == code and t.label]
    return labels[-1] if labels else code
