"""Billing's part of the demo: the ledger holds every act the demo's activity recorded (tele-expertise, nurse's
accompaniment and teleconsultation, telesurveillance forfaits), collected as the worker would, so that the billing
officer (fact.moreau, support hospital) finds the month's statement with the day's TE2 and RQD."""

from __future__ import annotations

from sqlalchemy.orm import Session

from maillage.billing import service as billing


def seed_demo_billing(session: Session) -> int:
    """Collect the demo's acts into the ledger (the caller commits); returns how many entries."""
    return billing.collect(session)
