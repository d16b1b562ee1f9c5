"""The acts of an answered tele-expertise (TE2 for the specialist, RQD for the requester) and their billing
decision. Source: DOMAIN.md §2.3 (NGAP art. 14.9.4, yearly cap, inpatient rule)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from maillage.config import Settings, get_settings
from maillage.kit.clock import PARIS, now
from maillage.models.teleexpertise import (
    TeleexpertiseAct,
    TeleexpertiseRequest,
)
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise import rules


def record_acts(session: Session, req: TeleexpertiseRequest, *,
                settings: Settings | None = None) -> list[TeleexpertiseAct]:
    """TE2 (specialist) and RQD (requester) at the act date, with the billing decision (idempotent)."""
    existing = repo.acts_of(session, req.id)
    if existing or req.signed_by is None or req.signed_at is None:
        return existing
    s = settings or get_settings()
    act_date = req.signed_at.astimezone(PARIS).date()
    expert = repo.user(session, req.signed_by)
    requester = repo.user(session, req.requester_id)
    if expert is None or requester is None:
        return []
    year_start, year_end = dt.date(act_date.year, 1, 1), dt.date(act_date.year, 12, 31)
    prior = repo.count_acts(session, patient_id=req.patient_id, professional_user_id=expert.id, code="TE2",
                            start=year_start, end=year_end)
    te2 = rules.te2_billing(prior_te2_same_year=prior, cap=s.teleexpertise_yearly_cap,
                            patient_inpatient=req.patient_inpatient, expert_profession=expert.role)
    rqd = rules.rqd_billing(patient_inpatient=req.patient_inpatient, requester_profession=requester.role)
    acts = []
    for code, who, decision in (("TE2", expert, te2), ("RQD", requester, rqd)):
        tariff = rules.tariff_for(code, act_date)
        acts.append(repo.add(session, TeleexpertiseAct(
            request_id=req.id, patient_id=req.patient_id, professional_user_id=who.id, professional_id=who.person_id,
            code=code, act_date=act_date, amount=tariff.amount, tariff_source=tariff.source,
            billable=decision.billable, reason=decision.reason, created_at=now())))
    return acts
