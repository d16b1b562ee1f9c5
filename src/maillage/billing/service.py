"""Use cases of billing: collect the capabilities' acts into the ledger (the only writer of the ledger), the monthly
statements, and the billing officer's review (mark billed, reject with a reason, correct as a new entry).

Why billing pulls: billing sits above tele-expertise, teleconsultation and telesurveillance in the layers, so they
cannot call it. Each already records its acts in its own table at the moment they happen (``teleexpertise_act``,
``teleconsultation_act``, ``monitoring_forfait``); ``collect`` reads the acts not yet in the ledger, applies the rules
and writes one entry per act, idempotently (one entry per source act, by a unique key). It runs as a worker job
every few minutes and on demand from the billing page (docs/billing.md).

Access: a billing officer sees the ledger of the establishments their account acts for; another establishment's
statement answers 404, the same as a missing one. The ledger shows no patient's name: a pseudonymous number per
patient (keyed with the platform's secret). Every read of entries and every decision is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.audit import service as audit
from maillage.authz import service as authz
from maillage.billing import repository as repo
from maillage.billing import rules
from maillage.billing.rules import ActFacts, EntryStatus, Reason, Source, Statement
from maillage.config import Settings, get_settings
from maillage.directory.tariffs import find_tariff
from maillage.exceptions import NotFound, ValidationFailed
from maillage.kit.clock import now, today_paris
from maillage.kit.months import month_end
from maillage.models.billing import BillingDeclaredActivity, BillingEntry
from maillage.models.directory import Establishment
from maillage.monitoring.rules.forfaits import FORFAIT_CODES, ForfaitLevel
from maillage.patient import labels as patient_labels
from maillage.security.actor import Actor
from maillage.security.context import AuditContext
from maillage.security.purposes import Purpose
from maillage.teleconsultation.rules import Status as TcStatus

COLLECT_BATCH = 5000
OBJECT = "billing_entry"

# -- Collecting the acts -------------------------------------------------------------------------------------------


def _new_entry(session: Session, *, source: Source, source_id: uuid.UUID, patient_id: uuid.UUID,
               user_id: uuid.UUID | None, establishment_id: uuid.UUID | None, facts: ActFacts, te_cap: int,
               rpps: str | None = None) -> BillingEntry:
    decision = rules.decide(facts, te_cap=te_cap)
    return repo.add(session, BillingEntry(
        source=source.value, source_id=source_id, source_key=f"{source.value}:{source_id}", patient_id=patient_id,
        professional_user_id=user_id, rpps=rpps, establishment_id=establishment_id,
        finess=repo.finess_of(session, establishment_id), code=facts.code, act_date=facts.act_date,
        month=facts.act_date.replace(day=1), amount=decision.amount, tariff_source=decision.tariff_source[:200],
        status=decision.status.value, reason=decision.reason.value if decision.reason else None,
        cap_reached=rules.CAP_REACHED in decision.flags, created_at=now()))


def collect(session: Session, *, settings: Settings | None = None, batch: int = COLLECT_BATCH) -> int:
    """Write into the ledger the acts of every capability not collected yet, oldest first (so that a yearly cap
    counts the acts before); returns how many. Idempotent: an act already in the ledger is skipped."""
    cap = (settings or get_settings()).teleexpertise_yearly_cap
    repo.lock_collection(session)
    count = 0
    touched: set[tuple[uuid.UUID | None, dt.date]] = set()
    for act, inpatient, line_establishment, requester_establishment in repo.new_teleexpertise_acts(session, batch):
        role, rpps = repo.professional_facts(session, act.professional_user_id)
        # The place of the act: where the expert answered (the line's establishment) for TE2, where the requester
        # asked from for RQD; not the professional's first membership (one may act for several establishments).
        establishment_id = (line_establishment if act.code == "TE2"
                            else requester_establishment or repo.first_establishment(session, act.professional_user_id))
        prior = (repo.billable_te2_before(session, patient_id=act.patient_id, user_id=act.professional_user_id,
                                          act_date=act.act_date) if act.code == "TE2" else 0)
        entry = _new_entry(session, source=Source.TELEEXPERTISE, source_id=act.id, patient_id=act.patient_id,
                   user_id=act.professional_user_id, establishment_id=establishment_id, rpps=rpps, te_cap=cap,
                   facts=ActFacts(act.code, act.act_date, role, bool(inpatient), prior))
        touched.add((entry.establishment_id, entry.month))
        count += 1
    for tc, status, establishment_id in repo.new_teleconsultation_acts(session, batch):
        role, rpps = repo.professional_facts(session, tc.professional_user_id)
        entry = _new_entry(session, source=Source.TELECONSULTATION, source_id=tc.id, patient_id=tc.patient_id,
                   user_id=tc.professional_user_id, establishment_id=establishment_id, rpps=rpps, te_cap=cap,
                   facts=ActFacts(tc.code, tc.act_date, role, teleconsultation_done=status == TcStatus.DONE))
        touched.add((entry.establishment_id, entry.month))
        count += 1
    for forfait, establishment_id in repo.new_forfaits(session, batch):
        code = FORFAIT_CODES[ForfaitLevel(forfait.level)]
        already = repo.forfait_counted(session, patient_id=forfait.patient_id, month=forfait.month)
        entry = _new_entry(session, source=Source.MONITORING, source_id=forfait.id, patient_id=forfait.patient_id,
                   user_id=None, establishment_id=establishment_id, te_cap=cap,
                   facts=ActFacts(code, month_end(forfait.month), None, forfait_already_this_month=already,
                                  monitored_days=forfait.monitored_days))
        touched.add((entry.establishment_id, entry.month))
        count += 1
    refresh_summaries(session, touched)
    return count


# -- Statements ----------------------------------------------------------------------------------------------------


def _establishment_in_scope(actor: Actor, establishment_id: uuid.UUID) -> None:
    if establishment_id not in actor.establishment_ids:
        raise NotFound("Relevé introuvable.")


def my_establishments(session: Session, actor: Actor) -> list[tuple[uuid.UUID, str]]:
    return [(e.id, e.name) for e in repo.establishments(session, list(actor.establishment_ids))]


def default_establishment(actor: Actor) -> uuid.UUID:
    if actor.current_establishment_id in actor.establishment_ids and actor.current_establishment_id is not None:
        return actor.current_establishment_id
    if not actor.establishment_ids:
        raise NotFound("Aucun établissement n'est rattaché à votre compte.")
    return actor.establishment_ids[0]


def refresh_summaries(session: Session, touched: Iterable[tuple[uuid.UUID | None, dt.date]]) -> None:
    """Store again the statement of each establishment-month ``touched`` (in the caller's unit of work: the
    collector after a collection, the officer's decisions), so the page reads figures never staler than the last
    write. One grouped scan of the establishment-month each."""
    at = now()
    for establishment_id, month in sorted((e, m) for e, m in touched if e is not None):
        repo.lock_summary(session, establishment_id, month)
        st = rules.summarise(month, *repo.sums(session, month=month, establishment_id=establishment_id))
        repo.save_statement(session, "establishment", establishment_id, month, rules.stored_lines(st), at)


def statement(session: Session, actor: Actor, establishment_id: uuid.UUID, month: dt.date, *,
              context: AuditContext | None = None) -> Statement:
    """One establishment's month: counts and amounts per code and status, caps reached (audited read), read from
    the stored statement (the worker's for a past month, the summary the collector and the officer's decisions
    refresh for any month they touch); computed and stored on the spot when none was stored yet."""
    _establishment_in_scope(actor, establishment_id)
    audit.record(session, action="read", object_type="billing_statement", object_id=str(establishment_id),
                 purpose=Purpose.BILLING.value, context=context, details={"month": month.isoformat()},
                 **actor.audit_fields)
    stored = repo.stored_statement(session, "establishment", establishment_id, month)
    if stored is None:
        refresh_summaries(session, [(establishment_id, month)])
        stored = repo.stored_statement(session, "establishment", establishment_id, month)
        assert stored is not None
    return rules.from_stored(month, stored.lines, stored.computed_at)


@dataclass(frozen=True)
class EntryView:
    entry: BillingEntry
    professional: str
    patient_number: str

    @property
    def status_label(self) -> str:
        return EntryStatus.label_of(self.entry.status)

    @property
    def reason_label(self) -> str:
        return Reason.label_of(self.entry.reason) if self.entry.reason else ""


def patient_number(patient_id: uuid.UUID, settings: Settings | None = None) -> str:
    """A pseudonymous number for a patient in the billing pages and CSV (keyed with the platform's secret): the
    same patient gives the same number, the number gives no identity."""
    key = (settings or get_settings()).secret_key.encode()
    return "P-" + hmac.new(key, patient_id.bytes, hashlib.sha256).hexdigest()[:10].upper()


def entries(session: Session, actor: Actor, establishment_id: uuid.UUID, month: dt.date, *, status: str | None = None,
            limit: int | None = 50, after: repo.Cursor | None = None, before: repo.Cursor | None = None,
            context: AuditContext | None = None) -> list[EntryView]:
    """The month's entries of one establishment (a page of them), audited as a list read of the patients shown."""
    _establishment_in_scope(actor, establishment_id)
    if status and status not in {s.value for s in EntryStatus}:
        raise ValidationFailed("Statut inconnu.")
    rows = repo.entries(session, month=month, establishment_id=establishment_id, status=status, limit=limit,
                        after=after, before=before)
    names = repo.professionals(session, [r.professional_user_id for r in rows])
    authz.audit_list(session, actor, object_type=OBJECT, count=len(rows), purpose=Purpose.BILLING,
                     patient_ids=sorted({r.patient_id for r in rows}), context=context)
    settings = get_settings()
    return [EntryView(r, names.get(r.professional_user_id, "Équipe de télésurveillance")
                      if r.professional_user_id else "Équipe de télésurveillance",
                      patient_number(r.patient_id, settings)) for r in rows]


# -- The billing officer's decisions -----------------------------------------------------------------------------


def _load_in_scope(session: Session, actor: Actor, ids: Sequence[uuid.UUID]) -> list[BillingEntry]:
    found = repo.entries_for_update(session, ids)
    if len(found) != len(set(ids)) or any(e.establishment_id not in actor.establishment_ids for e in found):
        raise NotFound("Acte introuvable.")
    return found


def _audit_decision(session: Session, actor: Actor, entry: BillingEntry, action: str, context: AuditContext | None,
                    **details: str) -> None:
    audit.record(session, action=action, object_type=OBJECT, object_id=str(entry.id), patient_id=str(entry.patient_id),
                 purpose=Purpose.BILLING.value, context=context, details=dict(details), **actor.audit_fields)


def mark_billed(session: Session, actor: Actor, entry_ids: Sequence[uuid.UUID], *,
                context: AuditContext | None = None) -> int:
    """Mark entries "to bill" as billed (each audited); returns how many."""
    if not entry_ids:
        raise ValidationFailed("Cochez au moins un acte à marquer facturé.")
    found = _load_in_scope(session, actor, entry_ids)
    at = now()
    for entry in found:
        rules.check_transition(entry.status, EntryStatus.BILLED)
        entry.status, entry.decided_at, entry.decided_by = EntryStatus.BILLED.value, at, actor.user_id
        _audit_decision(session, actor, entry, "update", context, status=EntryStatus.BILLED.value)
    session.flush()
    refresh_summaries(session, {(e.establishment_id, e.month) for e in found})
    return len(found)


def reject(session: Session, actor: Actor, entry_id: uuid.UUID, reason: str, *,
           context: AuditContext | None = None) -> BillingEntry:
    """Reject an entry with a reason from the list (audited)."""
    (entry,) = _load_in_scope(session, actor, [entry_id])
    checked = rules.check_transition(entry.status, EntryStatus.REJECTED, reason)
    assert checked is not None
    entry.status, entry.reason = EntryStatus.REJECTED.value, checked.value
    entry.decided_at, entry.decided_by = now(), actor.user_id
    _audit_decision(session, actor, entry, "update", context, status=EntryStatus.REJECTED.value, reason=checked.value)
    session.flush()
    refresh_summaries(session, [(entry.establishment_id, entry.month)])
    return entry


def correct(session: Session, actor: Actor, entry_id: uuid.UUID, *, code: str, act_date: dt.date,
            context: AuditContext | None = None, settings: Settings | None = None) -> BillingEntry:
    """Correct an entry (its code or its date): a new entry pointing at the original, priced at the new date and
    run through the rules again (the TE2 yearly cap counted without the original, one forfait a month); the
    original is kept, marked corrected. Both audited."""
    (original,) = _load_in_scope(session, actor, [entry_id])
    rules.check_correctable(original.status)
    if find_tariff(code, act_date) is None:
        raise ValidationFailed(f"Aucun tarif {code} en vigueur le {act_date.strftime('%d/%m/%Y')}.")
    rules.check_same_family(original.code, code)
    if act_date > now().date():
        raise ValidationFailed("La date de l'acte ne peut pas être dans le futur.")
    role = (repo.professional_facts(session, original.professional_user_id)[0]
            if original.professional_user_id else None)
    allowed = rules.ALLOWED_ROLES.get(code)
    if allowed is not None and role not in allowed:
        raise ValidationFailed(f"Ce professionnel ne peut pas facturer le code {code}.")
    at = now()
    original.status, original.decided_at, original.decided_by = EntryStatus.CORRECTED.value, at, actor.user_id
    original.reason = None
    session.flush()  # the original no longer counts in the cap nor in the month's forfait
    # The original passed the rules that look at the act itself (inpatient, accompaniment, data transmitted):
    # those facts are kept; the counts depend on the new code and date.
    facts = ActFacts(
        code, act_date, role, monitored_days=1,
        prior_billable_same_year=(repo.billable_te2_before(
            session, patient_id=original.patient_id, user_id=original.professional_user_id, act_date=act_date)
            if code == "TE2" and original.professional_user_id else 0),
        forfait_already_this_month=(code in rules.FORFAIT_CODES and repo.forfait_counted(
            session, patient_id=original.patient_id, month=act_date.replace(day=1))))
    decision = rules.decide(facts, te_cap=(settings or get_settings()).teleexpertise_yearly_cap)
    new = repo.add(session, BillingEntry(
        source=Source.CORRECTION.value, corrects_id=original.id, patient_id=original.patient_id,
        professional_user_id=original.professional_user_id, rpps=original.rpps,
        establishment_id=original.establishment_id, finess=original.finess, code=code, act_date=act_date,
        month=act_date.replace(day=1), amount=decision.amount, tariff_source=decision.tariff_source[:200],
        status=decision.status.value, reason=decision.reason.value if decision.reason else None,
        cap_reached=rules.CAP_REACHED in decision.flags, created_at=at, created_by=actor.user_id))
    _audit_decision(session, actor, original, "update", context, status=EntryStatus.CORRECTED.value,
                    corrected_by=str(new.id))
    _audit_decision(session, actor, new, "create", context, corrects=str(original.id), code=code,
                    status=new.status)
    refresh_summaries(session, {(original.establishment_id, original.month), (new.establishment_id, new.month)})
    return new


# -- The worker's monthly statements -------------------------------------------------------------------------------


def compute_statements(session: Session, month: dt.date) -> int:
    """Collect, then store the statement of ``month`` for every establishment and every professional with acts
    that month (recomputed when run again); returns how many statements."""
    collect(session)
    month = month.replace(day=1)
    establishments, professionals = repo.scopes_with_entries(session, month)
    at = now()
    refresh_summaries(session, [(establishment_id, month) for establishment_id in establishments])
    for user_id in professionals:
        st = rules.summarise(month, *repo.sums(session, month=month, user_id=user_id))
        repo.save_statement(session, "professional", user_id, month, rules.stored_lines(st), at)
    return len(establishments) + len(professionals)


def entry_view(session: Session, actor: Actor, entry_id: uuid.UUID, *,
               context: AuditContext | None = None) -> EntryView:
    """One entry of an establishment the officer acts for (audited read); another's answers 404."""
    found = repo.entry(session, entry_id)
    if found is None or found.establishment_id not in actor.establishment_ids:
        raise NotFound("Acte introuvable.")
    audit.record(session, action="read", object_type=OBJECT, object_id=str(found.id),
                 patient_id=str(found.patient_id), purpose=Purpose.BILLING.value, context=context,
                 **actor.audit_fields)
    names = repo.professionals(session, [found.professional_user_id])
    return EntryView(found, names.get(found.professional_user_id, "Équipe de télésurveillance")
                     if found.professional_user_id else "Équipe de télésurveillance",
                     patient_number(found.patient_id))


def establishment_of(session: Session, actor: Actor, establishment_id: uuid.UUID) -> Establishment:
    _establishment_in_scope(actor, establishment_id)
    found = repo.establishment(session, establishment_id)
    if found is None:
        raise NotFound("Relevé introuvable.")
    return found


def to_bill_count(session: Session, actor: Actor, month: dt.date) -> int:
    """Entries still to bill in ``month`` across the establishments the officer acts for (for the home page)."""
    return sum(repo.count_entries(session, month=month, establishment_id=e, status=EntryStatus.TO_BILL.value)
               for e in actor.establishment_ids)


# -- The teleconsultation share (DOMAIN.md §2.1) -------------------------------------------------------------------

YEAR_MIN = 2018  # teleconsultation reimbursed since 15 September 2018
ACTIVITY_MAX = 1_000_000


@dataclass(frozen=True)
class ShareView:
    professional: str
    review: rules.ShareReview
    beyond: list[EntryView]  # the acts beyond the share in the officer's establishments, flagged
    declarations: list[BillingDeclaredActivity]


def _professional_in_scope(session: Session, actor: Actor, user_id: uuid.UUID) -> tuple[str, uuid.UUID | None,
                                                                                         str | None]:
    found = repo.person_of(session, user_id)
    if found is None or not repo.acts_for(session, user_id, list(actor.establishment_ids)):
        raise NotFound("Professionnel introuvable.")
    return found


def _check_year(year: int) -> None:
    if not YEAR_MIN <= year <= today_paris().year:
        raise ValidationFailed(f"Année invalide : entre {YEAR_MIN} et {today_paris().year}.")


def professional_share(session: Session, actor: Actor, user_id: uuid.UUID, year: int, *,
                       context: AuditContext | None = None) -> ShareView:
    """A professional's teleconsultation share of a year, for an officer of an establishment the professional acts
    for (another's answers 404): the teleconsultations counted, those excluded (the médecin traitant's own
    patients), the latest declared activity, and the acts beyond the share flagged with the reason (audited)."""
    _check_year(year)
    name, person_id, specialty = _professional_in_scope(session, actor, user_id)
    acts = repo.teleconsultations_of_year(session, user_id, year)
    patients = {a.patient_id for a in acts}
    facts = patient_labels.pathway_facts_for_audited_acts(session, patients)
    if patients:  # each patient whose médecin traitant was read for the share, in every establishment: audited
        authz.audit_list(session, actor, object_type=OBJECT, count=len(acts), purpose=Purpose.BILLING,
                         patient_ids=sorted(patients), context=context)
    own = [person_id is not None and a.patient_id in facts
           and facts[a.patient_id].attending_professional_id == person_id for a in acts]
    history = repo.declarations(session, user_id, year)
    review = rules.review_share(year, own, declared=history[0].total_acts if history else None,
                                specialty_code=specialty)
    counted = [a for a, is_own in zip(acts, own, strict=True) if not is_own]
    beyond = [a for a in counted[review.allowed:] if a.establishment_id in actor.establishment_ids] \
        if review.allowed is not None else []
    audit.record(session, action="read", object_type="billing_share", object_id=str(user_id),
                 purpose=Purpose.BILLING.value, context=context, details={"year": year}, **actor.audit_fields)
    if beyond:
        authz.audit_list(session, actor, object_type=OBJECT, count=len(beyond), purpose=Purpose.BILLING,
                         patient_ids=sorted({a.patient_id for a in beyond}), context=context)
    settings = get_settings()
    return ShareView(name, review, [EntryView(a, name, patient_number(a.patient_id, settings)) for a in beyond],
                     history)


def declare_activity(session: Session, actor: Actor, user_id: uuid.UUID, year: int, total_acts: int, *,
                     context: AuditContext | None = None) -> BillingDeclaredActivity:
    """Record a professional's whole activity of a year as declared to the billing office (acts in person and
    remote): a new dated row, the earlier ones kept (audited)."""
    _professional_in_scope(session, actor, user_id)
    _check_year(year)
    if not 0 <= total_acts <= ACTIVITY_MAX:
        raise ValidationFailed("Indiquez un nombre d'actes positif ou nul.")
    # The whole activity holds the teleconsultations already recorded: a smaller figure would turn the share check
    # off (and one officer's declaration applies to every establishment the professional acts for).
    recorded = len(repo.teleconsultations_of_year(session, user_id, year))
    if total_acts < recorded:
        raise ValidationFailed(f"L'activité déclarée ({total_acts} actes) est inférieure aux {recorded} "
                               f"téléconsultations déjà enregistrées pour {year} : vérifiez le nombre.")
    row = BillingDeclaredActivity(user_id=user_id, year=year, total_acts=total_acts, declared_at=now(),
                                  declared_by=actor.user_id)
    session.add(row)
    session.flush()
    audit.record(session, action="create", object_type="billing_declared_activity", object_id=str(row.id),
                 purpose=Purpose.BILLING.value, context=context,
                 details={"professional": str(user_id), "year": year, "total_acts": total_acts}, **actor.audit_fields)
    return row
