"""Messaging's part of the demo: threads of the last days between the GP (dr.dupont), the dermatology line (where
dr.martin answers), the EHPAD nurse (ide.leroy), the coordinating nurse (idec.bernard), the pharmacist serving the
EHPAD (pharma.petit), the midwife (sf.garnier) and the USMP's nurse (ide.usmp); some about demo patients (with a
lesion photograph), some not; read and unread messages, a receipt, a correction with its history, a photo filed
into the patient's documents.

Every step goes through the messaging services with the clock frozen in the past, so the relationships granted for
each thread, the audit trail and the read marks are the ones real use writes; a thread's patient is one its author
(and whoever ``patient_of`` names) cared for at load time; the others get a relationship for the thread. The same
seed gives the same threads, dated from the demo day.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.demo.teleexpertise import lesion_photo
from maillage.kit.clock import frozen
from maillage.messaging import service as messaging
from maillage.messaging.rules import TeamKind
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from maillage.security.actor import Actor


@dataclass(frozen=True)
class Step:
    """``who`` writes ``body`` (``read`` opens the thread; ``file`` files the first photo; ``edit`` corrects the last
    message of ``who``), ``hours`` after the previous step."""

    who: str
    action: str
    hours: float
    body: str = ""


@dataclass(frozen=True)
class DemoThread:
    key: str
    author: str
    subject: str
    days_ago: float
    people: tuple[str, ...] = ()
    line: str | None = None          # key of a specialty line of the plan ("dermatologie")
    patient_of: tuple[str, ...] = ()  # a patient all these accounts cared for at load time
    reason: str | None = None
    photo: bool = False
    steps: tuple[Step, ...] = ()


THREADS = (
    DemoThread(
        "derm-lesion", "dr.dupont", "Lésion pigmentée du dos, évolutive", 3.2, line="dermatologie",
        patient_of=("dr.dupont",), reason="Avis dermatologique sur une lésion pigmentée qui change d'aspect",
        photo=True, steps=(
            Step("dr.dupont", "first", 0, "Bonjour, lésion pigmentée du dos apparue il y a un an, qui s'étend depuis "
                                          "deux mois. Photo jointe. Faut-il une consultation rapide ?"),
            Step("dr.martin", "read", 5),
            Step("dr.martin", "write", 0.2, "Bords irréguliers et deux couleurs : je la vois en consultation cette "
                                            "semaine. Je classe la photo dans son dossier."),
            Step("dr.martin", "file", 0.1),
            Step("dr.dupont", "read", 3),
            Step("dr.dupont", "write", 0.3, "Merci, la patiente est prévenue."),
            Step("dr.martin", "write", 20, "Exérèse faite ce matin, résultat histologique sous dix jours."),
        )),
    DemoThread(
        "ehpad-fever", "ide.leroy", "Fièvre et toux depuis hier", 2.1, people=("dr.dupont",),
        patient_of=("ide.leroy",), reason="Médecin traitant du résident absent : avis du médecin de garde", steps=(
            Step("ide.leroy", "first", 0, "Température à 38,6 °C ce matin, toux grasse, saturation à 94 %. Pouvez-vous "
                                          "passer ou faut-il une téléconsultation ?"),
            Step("ide.leroy", "edit", 0.05, "Température à 38,6 °C ce matin, toux grasse, saturation à 93 % en air "
                                            "ambiant. Pouvez-vous passer ou faut-il une téléconsultation ?"),
            Step("dr.dupont", "read", 1.5),
            Step("dr.dupont", "write", 0.1, "Je passe en fin de matinée. Surveillez la saturation toutes les quatre "
                                            "heures d'ici là."),
            Step("ide.leroy", "read", 0.5),
        )),
    DemoThread(
        "weight-gain", "idec.bernard", "Prise de poids de 2 kg en trois jours", 0.6, people=("dr.dupont",),
        patient_of=("idec.bernard", "dr.dupont"), reason="Alerte de télésurveillance à revoir avec le médecin",
        steps=(
            Step("idec.bernard", "first", 0, "Prise de poids de 2 kg en trois jours, sans dyspnée déclarée. Adaptation "
                                             "du diurétique à discuter ?"),
        )),
    DemoThread(
        "ehpad-treatment", "ide.leroy", "Renouvellement du pilulier de la semaine", 1.4, people=("pharma.petit",),
        patient_of=("ide.leroy", "pharma.petit"), reason="La pharmacie prépare les piluliers de ce résident",
        steps=(
            Step("ide.leroy", "first", 0, "Le traitement a changé hier (arrêt de l'amlodipine) : pouvez-vous en tenir "
                                          "compte pour le pilulier de lundi ?"),
            Step("pharma.petit", "read", 2),
            Step("pharma.petit", "write", 0.2, "C'est noté, le pilulier de lundi sera préparé sans amlodipine."),
        )),
    DemoThread(
        "usmp-escort", "ide.usmp", "Téléconsultations de l'unité sanitaire : horaires d'escorte", 1.1,
        people=("dr.martin",), steps=(
            Step("ide.usmp", "first", 0, "Bonjour, les extractions vers la salle de téléconsultation de l'unité se "
                                         "font entre 9 h et 11 h 30 et entre 14 h et 16 h 30 : pouvez-vous proposer "
                                         "vos créneaux dans ces plages ?"),
            Step("dr.martin", "read", 3),
            Step("dr.martin", "write", 0.1, "Entendu, je réserve désormais ces plages pour l'unité sanitaire."),
        )),
    DemoThread(
        "coordination-meeting", "dr.dupont", "Réunion de coordination du territoire", 4.5,
        people=("idec.bernard", "ide.leroy", "sf.garnier"), steps=(
            Step("dr.dupont", "first", 0, "Réunion de coordination jeudi à 13 h à la maison de santé : ordre du jour, "
                                          "les sorties d'hospitalisation du mois et la permanence de mai."),
            Step("idec.bernard", "read", 2),
            Step("idec.bernard", "write", 0.1, "J'y serai, avec le point sur les patients en télésurveillance."),
            Step("sf.garnier", "read", 6),
            Step("sf.garnier", "write", 0.2, "Présente. Je propose d'ajouter le suivi post-natal à domicile."),
        )),
)


def _common_patient(session: Session, users: dict[str, UserAccount], names: tuple[str, ...]) -> uuid.UUID:
    """The first patient (in the plan's order) every one of ``names`` was given care of at load time."""
    sets = []
    for name in names:
        rows = session.execute(select(CareRelationship.source_id, CareRelationship.patient_id).where(
            CareRelationship.user_id == users[name].id, CareRelationship.source_type == "demo")).all()
        sets.append({(int(key.rsplit("-", 1)[1]), pid) for key, pid in rows if key and key.startswith("patient-")})
    common = set.intersection(*sets)
    if not common:
        raise ValueError(f"no demo patient shared by {names}")
    return min(common)[1]


def seed_demo_messaging(session: Session, id_for: Callable[[str], uuid.UUID], seed: int, day: dt.datetime) -> int:
    """Write the demo's threads through the messaging services, dated back from ``day``; the caller commits."""
    rng = random.Random(f"maillage-demo-messaging:{seed}")
    users = {u.username: u for u in session.scalars(select(UserAccount))}
    actors: dict[str, Actor] = {}

    def actor(name: str) -> Actor:
        if name not in actors:
            actors[name] = auth.actor_for(session, users[name])
        return actors[name]

    for t in sorted(THREADS, key=lambda x: -x.days_ago):
        start = day - dt.timedelta(days=t.days_ago) + dt.timedelta(hours=8 + rng.randint(0, 3),
                                                                    minutes=rng.randint(0, 59))
        with frozen(start) as clock:
            first = t.steps[0]
            patient_id = _common_patient(session, users, t.patient_of) if t.patient_of else None
            teams = ((TeamKind.LINE, id_for(f"line/{t.line}")),) if t.line else ()
            thread = messaging.create_thread(session, actor(t.author), messaging.NewThread(
                subject=t.subject, body=first.body, people=tuple(users[p].id for p in t.people), teams=teams,
                patient_id=patient_id, reason=t.reason))
            last: dict[str, uuid.UUID] = {t.author: messaging.first_message_id(session, thread.id)}
            if t.photo:
                messaging.add_attachment(session, actor(t.author), last[t.author], filename="lesion-dos.jpg",
                                         data=lesion_photo(rng), declared_type="image/jpeg")
            for step in t.steps[1:]:
                clock.advance(dt.timedelta(hours=step.hours))
                who = actor(step.who)
                if step.action == "read":
                    messaging.open_thread(session, who, thread.id)
                elif step.action == "write":
                    last[step.who] = messaging.post_message(session, who, thread.id, step.body).id
                elif step.action == "edit":
                    messaging.edit_message(session, who, last[step.who], step.body)
                elif step.action == "file":
                    view = messaging.open_thread(session, who, thread.id)
                    photo = next(a for v in view.messages for a in v.attachments)
                    messaging.file_attachment(session, who, photo.id)
                else:
                    raise ValueError(f"unknown demo step {step.action!r}")
    session.flush()
    return len(THREADS)
