"""Pure rules of billing: the ledger's statuses and their transitions, the reasons an act is not billed, the
decision for each act collected from its capability, the teleconsultation share, and the statement's sums. No I/O.

Sources (DOMAIN.md §2): §2.1 teleconsultation and its yearly share (convention médicale 2024, arts. 87-1 to 88-3),
§2.2 the nurse's accompaniment of a teleconsultation, §2.3 tele-expertise (yearly cap, external activity only),
§2.4 the telesurveillance operator forfaits (per patient and month). Tariffs: ``maillage.directory.tariffs``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from maillage.directory.tariffs import TARIFFS, Tariff, find_tariff, label_of
from maillage.exceptions import ValidationFailed
from maillage.kit.enums import LabelledEnum
from maillage.kit.months import month_start


class EntryStatus(LabelledEnum):
    TO_BILL = "to_bill", "À facturer"
    BILLED = "billed", "Facturé"
    REJECTED = "rejected", "Rejeté"
    NOT_BILLABLE = "not_billable", "Non facturable"
    CORRECTED = "corrected", "Corrigé (remplacé)"


class Source(LabelledEnum):
    TELEEXPERTISE = "teleexpertise", "Téléexpertise"
    TELECONSULTATION = "teleconsultation", "Téléconsultation"
    MONITORING = "monitoring", "Télésurveillance"
    CORRECTION = "correction", "Correction"


class Reason(LabelledEnum):
    """Why an act is not billed: the rules' reasons (``not_billable``) and the billing officer's (``rejected``).
    A code from this list, never free text: the ledger holds no text about a patient."""

    TE_CAP = "te_cap", "Plafond annuel de téléexpertises atteint pour ce patient et ce médecin requis"
    INPATIENT = "inpatient", "Patient hospitalisé : pas de facturation en télémédecine (activité externe seulement)"
    PROFESSION = "profession", "Profession non autorisée à facturer ce code"
    FORFAIT_MONTH = "forfait_month", "Forfait déjà compté ce mois pour ce patient"
    FORFAIT_DATA = "forfait_data", "Données minimales non transmises dans le mois"
    NO_TELECONSULTATION = "no_teleconsultation", "Accompagnement sans téléconsultation réalisée"
    NO_TARIFF = "no_tariff", "Aucun tarif en vigueur à la date de l'acte"
    # The billing officer's reasons for rejecting an entry.
    INSURER_REJECTION = "insurer_rejection", "Rejet de l'Assurance maladie"
    DUPLICATE = "duplicate", "Doublon d'un acte déjà facturé"
    MISSING_IDENTIFIER = "missing_identifier", "Identifiant manquant (RPPS, FINESS ou droits du patient)"
    INTERNAL_ACTIVITY = "internal_activity", "Activité interne à l'établissement, non facturable à l'acte"


REJECTION_REASONS = (Reason.INSURER_REJECTION, Reason.DUPLICATE, Reason.MISSING_IDENTIFIER, Reason.INTERNAL_ACTIVITY)

# Which statuses a billing officer may move an entry to (a correction is a new entry, see ``check_correctable``).
TRANSITIONS: dict[EntryStatus, frozenset[EntryStatus]] = {
    EntryStatus.TO_BILL: frozenset({EntryStatus.BILLED, EntryStatus.REJECTED}),
    EntryStatus.BILLED: frozenset({EntryStatus.REJECTED}),  # the insurer rejects a claim already sent
    EntryStatus.REJECTED: frozenset(),
    EntryStatus.NOT_BILLABLE: frozenset(),
    EntryStatus.CORRECTED: frozenset(),
}
# A correction makes a new entry to bill: only from an entry not sent to the insurer (to bill) or sent back by it
# (rejected). A billed entry is first marked rejected (else the same act would be claimed twice); an entry the rules
# found not billable (cap, inpatient, profession...) does not become billable by a correction.
CORRECTABLE = frozenset({EntryStatus.TO_BILL, EntryStatus.REJECTED})


def check_transition(current: str, target: EntryStatus, reason: str | None = None) -> Reason | None:
    """The checked reason of a move from ``current`` to ``target`` (a rejection needs one of REJECTION_REASONS)."""
    if target not in TRANSITIONS[EntryStatus(current)]:
        raise ValidationFailed(f"Un acte « {EntryStatus.label_of(current)} » ne peut pas passer à "
                               f"« {target.label} ».")
    if target is not EntryStatus.REJECTED:
        return None
    if reason not in {r.value for r in REJECTION_REASONS}:
        raise ValidationFailed("Choisissez le motif du rejet dans la liste.")
    return Reason(reason)


def check_correctable(current: str) -> None:
    status = EntryStatus(current)
    if status is EntryStatus.BILLED:
        raise ValidationFailed("Cet acte a été facturé : marquez-le rejeté (avec le motif de l'Assurance maladie) "
                               "avant de le corriger.")
    if status is EntryStatus.NOT_BILLABLE:
        raise ValidationFailed("Cet acte n'est pas facturable selon les règles de la télémédecine : une correction "
                               "ne le rend pas facturable.")
    if status not in CORRECTABLE:
        raise ValidationFailed("Cet acte a déjà été corrigé : corrigez la dernière version.")


def check_same_family(original: str, corrected: str) -> None:
    """A correction changes a code within its family (TE2 ↔ RQD, TCG ↔ TC...), never an act into another kind of
    act (a tele-expertise into a telesurveillance forfait)."""
    families = (TE_CODES, TELECONSULTATION_CODES, ASSISTANCE_CODES, FORFAIT_CODES)
    if not any(original in family and corrected in family for family in families):
        raise ValidationFailed(f"Un acte {original} ne se corrige pas en {corrected} : choisissez un code de la "
                               "même famille d'actes.")


# -- Who may bill what (DOMAIN.md §2.2, §2.3) ----------------------------------------------------------------------

# Roles allowed to bill each code; a code absent here has no restriction by role in this table.
ALLOWED_ROLES: dict[str, frozenset[str]] = {
    "TE2": frozenset({"physician", "midwife"}),  # médecins, and sages-femmes per omnidoc (§2.3)
    "RQD": frozenset({"physician", "midwife", "nurse", "coordinating_nurse", "speech_therapist", "physiotherapist",
                      "podiatrist"}),  # the requesting professions of §2.3
    "TCG": frozenset({"physician"}),
    "TC": frozenset({"physician"}),
    "TLS": frozenset({"nurse", "coordinating_nurse"}),
    "TLL": frozenset({"nurse", "coordinating_nurse"}),
    "TLD": frozenset({"nurse", "coordinating_nurse"}),
}
TE_CODES = frozenset({"TE2", "RQD"})
TELECONSULTATION_CODES = frozenset({"TCG", "TC"})
ASSISTANCE_CODES = frozenset({"TLS", "TLL", "TLD"})
FORFAIT_CODES = frozenset({"TVA", "TVB", "TVB2", "TVB25"})
DEFAULT_TE_YEARLY_CAP = 4  # TE2 per patient per requis per calendar year: configurable, DOMAIN.md §2.3 [uncertain]


@dataclass(frozen=True)
class ActFacts:
    """What the rules need to know about one act collected from its capability."""

    code: str
    act_date: dt.date
    role: str | None = None  # the performing professional's role (None: a team, for the forfaits)
    inpatient: bool = False
    prior_billable_same_year: int = 0  # TE2 of the same patient and requis already billable this calendar year
    forfait_already_this_month: bool = False
    monitored_days: int = 0
    teleconsultation_done: bool = True  # for the nurse's accompaniment: the consultation took place


@dataclass(frozen=True)
class Decision:
    status: EntryStatus
    amount: Decimal
    tariff_source: str
    reason: Reason | None = None
    flags: tuple[str, ...] = field(default_factory=tuple)


CAP_REACHED = "cap_reached"  # flag: this act is the last one the yearly cap allows


def decide(act: ActFacts, *, te_cap: int = DEFAULT_TE_YEARLY_CAP,
           table: tuple[Tariff, ...] = TARIFFS) -> Decision:
    """Price ``act`` at its date and say whether it is billed, applying in order: a tariff in force; the role allowed
    for the code; inpatients (external activity only, §2.3); the TE2 yearly cap per patient and requis (§2.3); one
    forfait per patient and month with data transmitted (§2.4); the accompaniment only with a teleconsultation that
    took place (§2.2)."""
    tariff = find_tariff(act.code, act.act_date, table)
    if tariff is None:
        return Decision(EntryStatus.NOT_BILLABLE, Decimal("0.00"), "—", Reason.NO_TARIFF)

    def refuse(reason: Reason) -> Decision:
        return Decision(EntryStatus.NOT_BILLABLE, tariff.amount, tariff.source, reason)

    allowed = ALLOWED_ROLES.get(act.code)
    if allowed is not None and act.role not in allowed:
        return refuse(Reason.PROFESSION)
    if act.inpatient and act.code not in FORFAIT_CODES:
        return refuse(Reason.INPATIENT)
    flags: tuple[str, ...] = ()
    if act.code == "TE2":
        if act.prior_billable_same_year >= te_cap:
            return refuse(Reason.TE_CAP)
        if act.prior_billable_same_year + 1 == te_cap:
            flags = (CAP_REACHED,)
    if act.code in FORFAIT_CODES:
        if act.forfait_already_this_month:
            return refuse(Reason.FORFAIT_MONTH)
        if act.monitored_days <= 0:
            return refuse(Reason.FORFAIT_DATA)
    if act.code in ASSISTANCE_CODES and not act.teleconsultation_done:
        return refuse(Reason.NO_TELECONSULTATION)
    return Decision(EntryStatus.TO_BILL, tariff.amount, tariff.source, None, flags)


# -- The teleconsultation share per doctor and calendar year (DOMAIN.md §2.1) ------------------------------------

SHARE_LIMIT = Decimal("0.20")
SHARE_LIMIT_PSYCHIATRY = Decimal("0.40")
PSYCHIATRY_SPECIALTIES = frozenset({"SM42", "SM43"})  # psychiatrie, option enfant et adolescent (directory)


@dataclass(frozen=True)
class ShareCheck:
    counted: int  # teleconsultations counted in the share
    activity: int  # the doctor's whole activity of the year (acts in person and remote)
    limit: Decimal

    @property
    def share(self) -> Decimal:
        return Decimal(0) if self.activity <= 0 else Decimal(self.counted) / Decimal(self.activity)

    @property
    def exceeded(self) -> bool:
        return self.share > self.limit


def teleconsultation_share(*, teleconsultations: int, own_patients: int, activity: int,
                           specialty_code: str | None) -> ShareCheck:
    """The share of teleconsultations in a doctor's yearly activity: at most 20 %, 40 % for psychiatrists; the
    médecin traitant's teleconsultations with his own patients are not counted, nor are tele-expertises (convention
    médicale 2024, DOMAIN.md §2.1). ``teleconsultations`` counts all of them, ``own_patients`` those excluded."""
    if own_patients > teleconsultations or teleconsultations > activity:
        raise ValidationFailed("Activité incohérente : les téléconsultations dépassent l'activité de l'année.")
    limit = SHARE_LIMIT_PSYCHIATRY if specialty_code in PSYCHIATRY_SPECIALTIES else SHARE_LIMIT
    return ShareCheck(teleconsultations - own_patients, activity, limit)


def share_limit(specialty_code: str | None) -> Decimal:
    return SHARE_LIMIT_PSYCHIATRY if specialty_code in PSYCHIATRY_SPECIALTIES else SHARE_LIMIT


@dataclass(frozen=True)
class ShareReview:
    """A doctor's teleconsultations of a calendar year against the share (DOMAIN.md §2.1) and the activity the
    doctor declared to the billing office. ``allowed`` is None when the share cannot be checked (no declaration,
    or one below the teleconsultations recorded); otherwise the counted acts after the first ``allowed`` of the
    year, in act order, are beyond the share: flagged, never dropped."""

    year: int
    declared: int | None
    counted: int  # teleconsultations counted in the share (the médecin traitant's own patients excluded)
    excluded: int  # the médecin traitant's teleconsultations with his own patients
    limit: Decimal
    allowed: int | None

    @property
    def beyond(self) -> int:
        return 0 if self.allowed is None else max(0, self.counted - self.allowed)

    @property
    def percent(self) -> int:
        return int(self.limit * 100)

    @property
    def message(self) -> str:
        if self.declared is None:
            return (f"Aucune activité annuelle déclarée pour {self.year} : la part des téléconsultations (au plus "
                    f"{self.percent} % de l'activité) ne peut pas être vérifiée.")
        if self.allowed is None:
            return (f"L'activité déclarée pour {self.year} ({self.declared} actes) est inférieure aux "
                    f"téléconsultations enregistrées ({self.counted + self.excluded}) : la part ne peut pas être "
                    "vérifiée ; corrigez la déclaration.")
        if self.beyond:
            return (f"{self.beyond} téléconsultation(s) au-delà de la part annuelle : au plus {self.percent} % de "
                    f"l'activité déclarée, soit {self.allowed} sur {self.declared} actes.")
        return (f"Part annuelle respectée : {self.counted} téléconsultation(s) comptée(s) pour au plus "
                f"{self.allowed} ({self.percent} % de {self.declared} actes déclarés).")


BEYOND_SHARE = "Au-delà de la part annuelle de téléconsultation (convention médicale 2024)"


def review_share(year: int, own_patient_flags: Iterable[bool], *, declared: int | None,
                 specialty_code: str | None) -> ShareReview:
    """The share of a doctor's year from their teleconsultations, each flagged when the doctor is the patient's
    médecin traitant (excluded from the share), and the declared whole activity of the year (in person and remote):
    at most 20 %, 40 % for psychiatrists, tele-expertise not counted (convention médicale 2024, arts. 87-1 to 88-3,
    DOMAIN.md §2.1). The allowed number is rounded down: 20 % of 1,004 acts allows 200."""
    flags = list(own_patient_flags)
    excluded = sum(1 for own in flags if own)
    counted = len(flags) - excluded
    limit = share_limit(specialty_code)
    if declared is None or declared < len(flags):
        return ShareReview(year, declared, counted, excluded, limit, None)
    check = teleconsultation_share(teleconsultations=len(flags), own_patients=excluded, activity=declared,
                                   specialty_code=specialty_code)
    return ShareReview(year, declared, check.counted, excluded, limit, int(limit * declared))


# -- Statements --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    code: str
    label: str
    status: EntryStatus
    count: int
    amount: Decimal


@dataclass(frozen=True)
class Statement:
    month: dt.date
    lines: tuple[StatementLine, ...]
    caps_reached: int
    computed_at: dt.datetime | None = None  # when the stored statement was computed (None: computed on the spot)

    def total(self, status: EntryStatus) -> Decimal:
        return sum((line.amount for line in self.lines if line.status is status), Decimal("0.00"))

    def count(self, status: EntryStatus) -> int:
        return sum(line.count for line in self.lines if line.status is status)


def summarise(month: dt.date, rows: Iterable[tuple[str, str, int, Decimal]], caps_reached: int = 0,
              computed_at: dt.datetime | None = None) -> Statement:
    """The statement of ``month`` from (code, status, count, amount) sums: lines ordered by code then status."""
    order = list(EntryStatus)
    lines = [StatementLine(code, label_of(code), EntryStatus(status), int(count), Decimal(amount or 0))
             for code, status, count, amount in rows]
    lines.sort(key=lambda line: (line.code, order.index(line.status)))
    return Statement(month_start(month), tuple(lines), caps_reached, computed_at)


def stored_lines(st: Statement) -> list[dict[str, object]]:
    """A statement as stored in ``billing_statement.lines`` (counts and amounts only, no patient)."""
    return [{"code": line.code, "status": line.status.value, "count": line.count, "amount": str(line.amount)}
            for line in st.lines] + [{"caps_reached": st.caps_reached}]


def from_stored(month: dt.date, lines: Iterable[dict[str, object]], computed_at: dt.datetime) -> Statement:
    """The statement back from its stored lines (``stored_lines``)."""
    rows: list[tuple[str, str, int, Decimal]] = []
    caps = 0
    for line in lines:
        if "caps_reached" in line:
            caps = int(str(line["caps_reached"]))
        else:
            rows.append((str(line["code"]), str(line["status"]), int(str(line["count"])),
                         Decimal(str(line["amount"]))))
    return summarise(month, rows, caps, computed_at)


def parse_month(value: str | None, default: dt.date) -> dt.date:
    """A month from ``AAAA-MM`` (the page's selector); the default month when empty."""
    if not value:
        return month_start(default)
    try:
        year, month = value.split("-")
        return dt.date(int(year), int(month), 1)
    except ValueError:
        raise ValidationFailed("Mois invalide : attendu AAAA-MM.") from None


def month_label(month: dt.date) -> str:
    names = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
             "novembre", "décembre")
    return f"{names[month.month - 1]} {month.year}"
