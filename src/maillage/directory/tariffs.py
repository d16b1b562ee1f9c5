"""The dated tariff table of the telemedicine acts (NGAP codes): the one table tele-expertise and teleconsultation
price their acts from, at the act's date (never the billing date). A nomenclature, like the specialties: no I/O.

Sources: DOMAIN.md §2.1 (teleconsultation), §2.2 (the nurse's accompaniment of a teleconsultation) and §2.3
(tele-expertise).
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


NURSE_SOURCE = "NGAP art. 14.9.5, décision UNCAM du 18 juillet 2019 (avenant 6 infirmiers)"

TARIFFS: tuple[Tariff, ...] = (
    # Avenant 9 (UNCAM decision of 13 Jan 2022), single level since 1 Apr 2022 (DOMAIN.md §2.3).
    Tariff("TE2", Decimal("20.00"), dt.date(2022, 4, 1), dt.date(2025, 12, 31),
           "Avenant 9, décision UNCAM du 13 janvier 2022"),
    # Convention médicale 2024: TE2 raised to 23 € from 1 Jan 2026 (DOMAIN.md §2.3).
    Tariff("TE2", Decimal("23.00"), dt.date(2026, 1, 1), None, "Convention médicale 2024"),
    Tariff("RQD", Decimal("10.00"), dt.date(2022, 4, 1), None, "Avenant 9, décision UNCAM du 13 janvier 2022"),
    # Teleconsultation of a physician in sector 1 or OPTAM, created by avenant 6 (reimbursed since 15 Sept 2018);
    # unchanged by the 2024 convention (DOMAIN.md §2.1).
    Tariff("TCG", Decimal("25.00"), dt.date(2018, 9, 15), None, "Avenant 6, inchangé par la convention médicale 2024"),
    # Teleconsultation of a doctor billing with fee overruns (sector 2), created by the same avenant 6. DOMAIN.md
    # §2.1 gives no amount of its own for TC: it is recorded at the TCG base (the teleconsultation is paid as the
    # consultation it replaces, the overrun is not in the table) and marked to check against the current NGAP.
    Tariff("TC", Decimal("25.00"), dt.date(2018, 9, 15), None,
           "Avenant 6 (base de remboursement de TCG ; montant à vérifier dans la NGAP en vigueur)"),
    # The nurse who accompanies the patient during a teleconsultation (NGAP art. 14.9.5, UNCAM decision of 18 July
    # 2019, avenant 6 of the nurses' convention), billable since January 2020 (DOMAIN.md §2.2): during a nursing
    # visit already planned, in a place dedicated to teleconsultation, at a home visit organised for it.
    Tariff("TLS", Decimal("10.00"), dt.date(2020, 1, 1), None, NURSE_SOURCE),
    Tariff("TLL", Decimal("12.00"), dt.date(2020, 1, 1), None, NURSE_SOURCE),
    Tariff("TLD", Decimal("15.00"), dt.date(2020, 1, 1), None, NURSE_SOURCE),
)


def tariff_for(code: str, act_date: dt.date, table: tuple[Tariff, ...] = TARIFFS) -> Tariff:
    """The tariff of ``code`` in force on ``act_date`` (the act's date, never the billing date)."""
    for t in table:
        if t.code == code and t.valid_from <= act_date and (t.valid_to is None or act_date <= t.valid_to):
            return t
    raise ValidationFailed(f"Aucun tarif {code} en vigueur le {act_date.strftime('%d/%m/%Y')}.")
