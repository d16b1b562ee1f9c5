"""The demo's programme: the seed's four axes, one or two projects each with their budget, milestones and
indicators with 2026 targets (bound to the catalogue, or entered by hand with their source), written by the demo's
programme manager so that the history shows who did what. Fixed values: the same demo gives the same programme."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from maillage.models.auth import UserAccount
from maillage.programme import service
from maillage.security.actor import Actor
from maillage.security.roles import Role

MANAGER = "programme.girard"
# (axis, title, owner, sites, start, end, [(year, planned €, committed €, paid €)], [(milestone, due, status)],
#  [(label, unit, binding or None, source or None, target 2026, value entered by hand or None)])
PROJECTS: list[tuple[Any, ...]] = [
    (0, "Dossier patient partagé entre l'hôpital support et les hôpitaux membres", "Direction du système d'information",
     ("support", "member-1"), dt.date(2026, 1, 1), dt.date(2028, 12, 31),
     [(2026, 450_000, 320_000, 180_000), (2027, 300_000, 0, 0)],
     [("Choix de la solution", dt.date(2026, 3, 31), "done"), ("Ouverture aux hôpitaux membres",
                                                               dt.date(2026, 11, 30), "late")],
     [("Demandes de téléexpertise soumises", "demandes", "teleexpertise-reponses:demandes", None, "40", None)]),
    (1, "Ordonnances et comptes rendus dématérialisés", "Direction des affaires médicales", ("support",),
     dt.date(2026, 2, 1), dt.date(2027, 6, 30), [(2026, 120_000, 95_000, 60_000)],
     [("Ordonnances signées électroniquement", dt.date(2026, 9, 30), "done")],
     [("Délai moyen de réponse des téléexpertises", "heures", "teleexpertise-reponses:delai_moyen_heures", None,
       "48", None)]),
    (2, "Télésurveillance de l'insuffisance cardiaque et du diabète", "Pôle cardiologie", ("support", "ehpad-1"),
     dt.date(2026, 1, 1), dt.date(2030, 12, 31), [(2026, 200_000, 150_000, 90_000), (2027, 220_000, 0, 0)],
     [("Inclusion des premiers patients", dt.date(2026, 4, 30), "done"),
      ("Évaluation à un an", dt.date(2027, 1, 31), "in_progress")],
     [("Patients télésurveillés", "patients", "telesurveillance:patients", None, "30", None),
      ("Observance des transmissions", "proportion", "telesurveillance:observance", None, "0.8", None),
      ("Téléconsultations remboursées", "actes", "telemedecine:teleconsultations", None, "500", None)]),
    (3, "Équipement des EHPAD et de l'unité sanitaire en chariots de télémédecine", "Direction des achats",
     ("ehpad-1",), dt.date(2026, 3, 1), dt.date(2027, 12, 31), [(2026, 180_000, 180_000, 120_000)],
     [("Livraison des chariots", dt.date(2026, 10, 15), "done"), ("Formation des équipes", dt.date(2027, 1, 15),
                                                                  "planned")],
     [("Chariots de télémédecine installés", "chariots", None, "Inventaire du service biomédical", "8", "6"),
      ("Soignants formés à la téléexpertise", "personnes", None, "Bilan de formation de la direction des soins",
       "60", "41")]),
]


def seed_demo_programme(session: Session, id_for: Callable[[str], object], users: dict[str, UserAccount]) -> None:
    user = users[MANAGER]
    actor = Actor(user_id=user.id, username=user.username, display_name=user.display_name,
                  role=Role.PROGRAMME_MANAGER)
    axes = service.start_programme(session, actor)
    for axis, title, owner, sites, start, end, budget, milestones, indicators in PROJECTS:
        project = service.save_project(session, actor, None, axis_id=axes[axis].id, title=title, owner=owner,
                                       sites=[str(id_for(key)) for key in sites], starts_on=start, ends_on=end)
        for year, planned, committed, paid in budget:
            service.set_budget(session, actor, project.id, year=year, planned_cents=planned * 100,
                               committed_cents=committed * 100, paid_cents=paid * 100)
        for label, due, status in milestones:
            milestone = service.add_milestone(session, actor, project.id, title=label, due_on=due)
            if status != "planned":
                service.set_milestone_status(session, actor, milestone.id, status)
        for label, unit, binding, source, target, value in indicators:
            code, _, measure = (binding or "").partition(":")
            row = service.add_indicator(session, actor, project.id, label=label, unit=unit, catalogue_code=code,
                                        measure=measure, source=source or "")
            service.set_target(session, actor, row.id, year=2026, target=Decimal(target),
                               manual_value=Decimal(value) if value else None)
