"""What waits for a signed-in person now, for the home page: one item per kind of work, each a count and a link.

Each item asks its capability's own reading function (through ``authz``, audited as that function already is) and
only when the actor's role holds the permission it needs, so a role never sees an item of a capability it cannot
open. Every item is one query or one small fixed set of queries (one per specialty line the actor answers): no
query per row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.billing import service as billing
from maillage.exchange import service as exchange
from maillage.kit.clock import today_paris
from maillage.messaging import service as messaging
from maillage.monitoring import service as monitoring
from maillage.patient import vigilance
from maillage.prescription import service as prescriptions
from maillage.programme import service as programme
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.policy import Permission, role_allows
from maillage.teleconsultation import notices as tc_notices
from maillage.teleconsultation import scheduling as tc_scheduling
from maillage.teleconsultation import service as teleconsultation
from maillage.teleconsultation.rules import Status as TcStatus
from maillage.teleexpertise import service as teleexpertise
from maillage.teleexpertise.rules import AdmissionStatus, Status

# A list read to count is read up to this many rows; beyond, the home says "au moins".
COUNT_LIMIT = 200


@dataclass(frozen=True)
class HomeItem:
    """One kind of work waiting: ``count`` of ``singular``/``plural``, a link, and a tone for urgent items."""

    count: int
    singular: str
    plural: str
    href: str
    tone: str = ""  # "", "danger", "warning", "info"
    capped: bool = False

    @property
    def label(self) -> str:
        return self.singular if self.count == 1 else self.plural


def _teleexpertise_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    items: list[HomeItem] = []
    if role_allows(actor.role, Permission.TELEEXPERTISE_ANSWER):
        for line in teleexpertise.my_lines(session, actor):
            rows = teleexpertise.worklist(session, actor, line.id, limit=COUNT_LIMIT, offset=0, context=context)
            href = f"/teleexpertise/lignes/{line.id}"
            to_answer = [r for r in rows if r.status in (Status.PUBLISHED, Status.IN_PROGRESS)]
            overdue = [r for r in to_answer if teleexpertise.is_overdue(r)]
            capped = len(rows) == COUNT_LIMIT
            items.append(HomeItem(len(to_answer), f"demande à traiter — {line.title}",
                                  f"demandes à traiter — {line.title}", href, "", capped))
            items.append(HomeItem(len(overdue), f"demande en retard — {line.title}",
                                  f"demandes en retard — {line.title}", href, "danger", capped))
            admissions = teleexpertise.line_admissions(session, actor, line.id, limit=COUNT_LIMIT, context=context)
            waiting = [a for a in admissions if a.admission.status == AdmissionStatus.REQUESTED]
            items.append(HomeItem(len(waiting), f"admission à décider — {line.title}",
                                  f"admissions à décider — {line.title}", f"{href}/admissions", "warning"))
    if role_allows(actor.role, Permission.TELEEXPERTISE_REQUEST):
        mine = teleexpertise.my_requests(session, actor, limit=COUNT_LIMIT, offset=0, context=context)
        asked = [r for r in mine if r.status == Status.AWAITING_INFORMATION]
        href = f"/teleexpertise/demandes/{asked[0].id}" if len(asked) == 1 else "/teleexpertise"
        items.append(HomeItem(len(asked), "question d'un spécialiste à laquelle répondre",
                              "questions de spécialistes auxquelles répondre", href, "warning"))
    return items


ALERT_LABELS = {
    "red": ("alerte rouge", "alertes rouges", "danger"),
    "orange": ("alerte orange", "alertes orange", "warning"),
    "missing": ("patient sans données transmises", "patients sans données transmises", "info"),
    "green": ("alerte verte à acquitter", "alertes vertes à acquitter", ""),
}


def _monitoring_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    if not role_allows(actor.role, Permission.MONITORING_TRIAGE):
        return []
    worklist = monitoring.worklist(session, actor, context=context)
    return [HomeItem(len(worklist.groups.get(group, [])), singular, plural, "/telesurveillance", tone)
            for group, (singular, plural, tone) in ALERT_LABELS.items()]


def _teleconsultation_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    """The practitioner's teleconsultations of today still to hold, and the patients waiting now."""
    if not role_allows(actor.role, Permission.TELECONSULTATION_RUN):
        return []
    day = teleconsultation.day(session, actor, context=context)
    ahead = [r for r in day if r.appointment.status in (TcStatus.BOOKED, TcStatus.WAITING, TcStatus.IN_CONSULTATION)]
    waiting = [r for r in day if r.appointment.status == TcStatus.WAITING]
    return [HomeItem(len(waiting), "patient en salle d'attente", "patients en salle d'attente", "/teleconsultation",
                     "warning"),
            HomeItem(len(ahead), "téléconsultation aujourd'hui", "téléconsultations aujourd'hui",
                     "/teleconsultation")]


def _messaging_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    if not role_allows(actor.role, Permission.PATIENT_READ):
        return []
    return [HomeItem(messaging.unread_count(session, actor), "message non lu", "messages non lus", "/messagerie",
                     "info")]


def _teleconsultation_aftercare_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    """Unread teleconsultation notices (reminders, reports sent, follow-ups…) and, for a line's coordinator, the
    appointments of the coming week on their lines."""
    if not role_allows(actor.role, Permission.PATIENT_READ):
        return []
    return [HomeItem(tc_notices.unread_count(session, actor), "avis de téléconsultation non lu",
                     "avis de téléconsultation non lus", "/teleconsultation/avis", "info"),
            HomeItem(tc_scheduling.coming_on_my_lines(session, actor), "téléconsultation à venir sur vos lignes",
                     "téléconsultations à venir sur vos lignes", "/teleconsultation/coordination")]
def _assisted_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    """The nurse's assisted teleconsultations of today still to hold (they open them from their account)."""
    if not role_allows(actor.role, Permission.TELECONSULTATION_RUN):
        return []
    rows = teleconsultation.my_assisted(session, actor, day=today_paris(), context=context)
    ahead = [r for r in rows if r.appointment.status in (TcStatus.BOOKED, TcStatus.WAITING, TcStatus.IN_CONSULTATION)]
    return [HomeItem(len(ahead), "téléconsultation assistée aujourd'hui", "téléconsultations assistées aujourd'hui",
                     "/teleconsultation", "info")]


def _prescription_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    """The pharmacist's prescriptions addressed to their pharmacy, still to dispense."""
    if not role_allows(actor.role, Permission.PRESCRIPTION_DISPENSE):
        return []
    waiting = prescriptions.waiting_at_my_pharmacy(session, actor, context=context)
    return [HomeItem(len(waiting), "ordonnance à délivrer", "ordonnances à délivrer", "/officine", "info")]


def _identity_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    if not role_allows(actor.role, Permission.IDENTITY_MERGE):
        return []
    pairs = vigilance.potential_duplicates(session, actor, context=context)
    return [HomeItem(len(pairs), "paire d'identités à examiner", "paires d'identités à examiner",
                     "/identitovigilance", "warning")]


def _mssante_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    if not role_allows(actor.role, Permission.IDENTITY_MERGE):
        return []
    return [HomeItem(exchange.waiting_count(session, actor), "document reçu par MSSanté à rattacher",
                     "documents reçus par MSSanté à rattacher", "/mssante/reception", "warning")]


def _break_glass_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    if not role_allows(actor.role, Permission.AUDIT_READ):
        return []
    accesses = authz.break_glass_to_review(session, actor)
    return [HomeItem(len(accesses), "accès en urgence à revoir", "accès en urgence à revoir", "/admin/audit",
                     "danger")]


def _programme_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    if not role_allows(actor.role, Permission.PROGRAMME_READ):
        return []
    seen = programme.watch(session, actor, today_paris())
    items = [HomeItem(seen.late, "jalon du programme en retard", "jalons du programme en retard", "/programme",
                      "danger")]
    if role_allows(actor.role, Permission.PROGRAMME_EDIT):
        items.append(HomeItem(seen.due_soon, "jalon du programme à échéance dans le mois",
                              "jalons du programme à échéance dans le mois", "/programme", "warning"))
    items.append(HomeItem(seen.projects, "projet du programme numérique", "projets du programme numérique",
                          "/programme", "info"))
    return items


def _billing_items(session: Session, actor: Actor, context: AuditContext) -> list[HomeItem]:
    if not role_allows(actor.role, Permission.BILLING_EXPORT):
        return []
    this_month = today_paris().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    return [
        HomeItem(billing.to_bill_count(session, actor, last_month), "acte du mois dernier à facturer",
                 "actes du mois dernier à facturer", f"/facturation?mois={last_month.strftime('%Y-%m')}", "warning"),
        HomeItem(billing.to_bill_count(session, actor, this_month), "acte du mois à facturer",
                 "actes du mois à facturer", "/facturation"),
    ]


def indicators_refreshed(results_dir: Path) -> int:
    """How many indicators have a stored result in the warehouse (computed by the demo or ``maillage analytics``)."""
    if not results_dir.is_dir():
        return 0
    return sum(1 for folder in results_dir.iterdir() if folder.is_dir() and any(folder.glob("*.json")))


SOURCES: list[Callable[[Session, Actor, AuditContext], list[HomeItem]]] = [
    _teleexpertise_items, _teleconsultation_items, _assisted_items, _teleconsultation_aftercare_items,
    _monitoring_items, _messaging_items, _prescription_items, _identity_items, _mssante_items, _break_glass_items,
    _programme_items,
    _billing_items,
]


def waiting_items(session: Session, actor: Actor, context: AuditContext,
                  results_dir: Path | None = None) -> list[HomeItem]:
    """What waits for the actor now, in the order of the home page: only the kinds with something waiting."""
    items = [item for source in SOURCES for item in source(session, actor, context)]
    if results_dir is not None and role_allows(actor.role, Permission.ANALYTICS_READ):
        items.append(HomeItem(indicators_refreshed(results_dir), "indicateur à jour", "indicateurs à jour",
                              "/pilotage", "info"))
    return [item for item in items if item.count]
