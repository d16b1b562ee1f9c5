"""The acts of a teleconsultation recorded for billing, priced at the act's date from the dated tariff table
(``maillage.directory.tariffs``): here the assisting nurse's accompaniment act (TLS, TLL or TLD, DOMAIN.md §2.2),
recorded when an assisted consultation ends; the practitioner's TCG is recorded when the report is signed
(``report``)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.directory.tariffs import tariff_for
from maillage.kit.clock import now
from maillage.models.teleconsultation import TeleconsultationAct, TeleconsultationAppointment
from maillage.teleconsultation import rules


def record_assistance(session: Session, appt: TeleconsultationAppointment) -> TeleconsultationAct | None:
    """The nurse's act of an assisted consultation that has ended, once (None: not assisted, or already recorded).
    Its date is the consultation's (Paris), its professional the nurse; the teleconsulting physician is the
    prescriber the billing export names (the appointment's practitioner)."""
    if appt.assistance is None or appt.assisting_nurse_id is None:
        return None
    code = rules.Assistance(appt.assistance).value
    existing = session.scalar(select(TeleconsultationAct).where(TeleconsultationAct.appointment_id == appt.id,
                                                                TeleconsultationAct.code == code))
    if existing is not None:
        return None
    act_date = (appt.admitted_at or appt.starts_at).astimezone(rules.PARIS).date()
    tariff = tariff_for(code, act_date)
    act = TeleconsultationAct(appointment_id=appt.id, patient_id=appt.patient_id,
                              professional_user_id=appt.assisting_nurse_id, code=code, act_date=act_date,
                              amount=tariff.amount, tariff_source=tariff.source, created_at=now())
    session.add(act)
    session.flush()
    return act
