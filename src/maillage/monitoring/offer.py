"""Telesurveillance's part of the public offer (/offre): the programmes the territory's declared teams run, what the
patient's devices transmit and under which arrêté. Public facts only (no patient, no count); nothing shown while no
active team exists. The directory's offer page calls ``offer_section`` (wired by the application: the directory sits
below telesurveillance and cannot import it)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.directory.pages import OfferItem, OfferSection
from maillage.models.directory import Establishment
from maillage.models.monitoring import MonitoringTeam
from maillage.monitoring.rules.measures import MEASURES
from maillage.monitoring.rules.programmes import PROGRAMMES, Programme


def _transmitted(programme: Programme) -> str:
    parts = [f"{MEASURES[m.measure].label.lower() if m.measure in MEASURES else m.measure} ({m.frequency})"
             for m in programme.data if m.required]
    return ", ".join(parts) or "selon le protocole"


def offer_section(session: Session) -> OfferSection | None:
    """The programmes, with the teams that run them; None when the territory has no active telesurveillance team."""
    teams = session.execute(
        select(MonitoringTeam.name, Establishment.name)
        .join(Establishment, Establishment.id == MonitoringTeam.establishment_id)
        .where(MonitoringTeam.active.is_(True)).order_by(Establishment.name, MonitoringTeam.name)).all()
    if not teams:
        return None
    who = " ; ".join(f"{team} ({establishment})" for team, establishment in teams)
    lead = (f"Sur prescription médicale, une équipe déclarée suit à distance les mesures que transmettent les objets "
            f"connectés du patient et traite ses alertes : {who}. Le patient est inscrit par l'équipe, avec son "
            f"consentement ; la télésurveillance n'est pas un service d'urgence.")
    items = [OfferItem(p.label, p.indication, [("Données transmises", _transmitted(p)),
                                               ("Cadre", re.sub(r"\s*\((JORF\w+)\)", "", p.legal_basis))])
             for p in PROGRAMMES.values()]
    return OfferSection("Télésurveillance : les programmes", lead, items)
