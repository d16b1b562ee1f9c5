"""Tele-expertise's part of the demo: months of requests between the demo GP, the EHPAD nurse (and a few from the
midwife, the pharmacist and the coordinating nurse) and the support hospital's lines, in every state (draft, sent,
taken, question asked and answered, opinion signed with each orientation, admission to decide and decided, cancelled,
declined, overdue), with their photographs.

Every step goes through the tele-expertise services with the clock frozen at a past time, so the timeline, the audit
trail, the care relationships, the notifications and the acts are the ones real use writes. Request ids come from the
territory plan (``id_for``), texts and photographs from a seeded RNG: the same département and seed give the same
requests, dated from the day the demo is built.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter
from sqlalchemy import select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.kit.clock import FrozenClock, frozen
from maillage.models.auth import UserAccount
from maillage.models.authz import CareRelationship
from maillage.models.directory import SpecialtyLine
from maillage.security.actor import Actor
from maillage.teleexpertise import service as te
from maillage.teleexpertise.schemas import AdmissionUpdate, MessageIn, OpinionIn, RequestCreate

SPECIALIST = "dr.martin"


@dataclass(frozen=True)
class Case:
    """One request's story: who asks which line about which patient (index in the demo's patients), how many days
    before the demo day it starts, and its steps in order (``admission:<status>`` for the admission's follow-up)."""

    key: str
    line: str
    requester: str
    patient: int | None  # None: the requester's first demo patient (the midwife's depend on the identities drawn)
    days_ago: float
    steps: tuple[str, ...]
    urgency: str = "routine"
    orientation: str | None = None


_SENT = ("submit",)
_TAKEN = ("submit", "claim")
_SIGNED = ("submit", "claim", "answer")
_QUESTIONED = ("submit", "claim", "ask", "reply", "answer")

CASES = (
    # Drafts, seen by their author only.
    Case("draft-1", "dermatologie", "dr.dupont", 0, 0.5, ()),
    Case("draft-2", "cardiologie", "ide.leroy", 8, 2, ()),
    # Sent to the line's pool: the specialist's queue, one of them late.
    Case("sent-1", "dermatologie", "dr.dupont", 1, 1, _SENT),
    Case("sent-2", "dermatologie", "ide.leroy", 9, 2, _SENT),
    Case("sent-overdue", "dermatologie", "ide.leroy", 10, 5, _SENT, urgency="urgent"),
    Case("sent-cardio", "cardiologie", "dr.dupont", 2, 2, _SENT),
    Case("sent-geriatrie", "geriatrie", "ide.leroy", 11, 1.5, _SENT),
    Case("sent-pneumo", "pneumologie", "dr.dupont", 3, 3, _SENT),
    # Taken by the specialist, one of them past its due time; one handed back to the pool.
    Case("taken-1", "dermatologie", "dr.dupont", 3, 3, _TAKEN),
    Case("taken-overdue", "dermatologie", "ide.leroy", 12, 10, _TAKEN),
    Case("handed-back", "dermatologie", "dr.dupont", 4, 4, ("submit", "claim", "hand_back")),
    # A question waits for the requester; another was answered and the request is back with the specialist.
    Case("question-dupont", "dermatologie", "dr.dupont", 4, 3, ("submit", "claim", "ask")),
    Case("question-leroy", "dermatologie", "ide.leroy", 13, 4, ("submit", "claim", "ask")),
    Case("replied", "dermatologie", "dr.dupont", 5, 4, ("submit", "claim", "ask", "reply")),
    # Opinions signed, one per orientation, over the last months (their TE2 and RQD acts are recorded).
    Case("advice-1", "dermatologie", "dr.dupont", 0, 150, _QUESTIONED, orientation="advice_only"),
    Case("advice-2", "dermatologie", "ide.leroy", 8, 118, _SIGNED, orientation="advice_only"),
    Case("act-relevant", "dermatologie", "ide.leroy", 12, 96, _SIGNED, orientation="act_relevant"),
    Case("act-not-relevant", "dermatologie", "dr.dupont", 1, 83, _SIGNED, orientation="act_not_relevant"),
    Case("teleconsultation", "dermatologie", "ide.leroy", 9, 71, _QUESTIONED, orientation="teleconsultation"),
    Case("consultation-1", "dermatologie", "dr.dupont", 5, 62, _SIGNED, orientation="consultation"),
    Case("consultation-2", "dermatologie", "dr.dupont", 6, 27, _SIGNED, orientation="consultation",
         urgency="urgent"),
    Case("advice-3", "dermatologie", "dr.dupont", 7, 12, _SIGNED, orientation="advice_only"),
    # Admissions the opinions opened: arrived, refused, accepted and waiting, and two still to decide.
    Case("transfer-arrived", "dermatologie", "dr.dupont", 6, 55, (*_SIGNED, "admission:accepted",
                                                                  "admission:arrived"),
         urgency="urgent", orientation="urgent_transfer"),
    Case("hospital-refused", "dermatologie", "ide.leroy", 11, 40, (*_SIGNED, "admission:refused"),
         orientation="scheduled_hospitalisation"),
    Case("hospital-accepted", "dermatologie", "dr.dupont", 2, 16, (*_SIGNED, "admission:accepted"),
         orientation="scheduled_hospitalisation"),
    Case("hospital-to-decide", "dermatologie", "ide.leroy", 13, 6, _SIGNED, orientation="scheduled_hospitalisation"),
    Case("transfer-to-decide", "dermatologie", "dr.dupont", 7, 2.5, _SIGNED, urgency="urgent",
         orientation="urgent_transfer"),
    # Withdrawn by the requester (a draft, a sent request) and declined by the line (from the pool, when taken).
    Case("cancelled-draft", "dermatologie", "ide.leroy", 10, 33, ("cancel",)),
    Case("cancelled-sent", "cardiologie", "dr.dupont", 3, 21, ("submit", "cancel")),
    Case("declined-pool", "dermatologie", "dr.dupont", 2, 48, ("submit", "decline")),
    Case("declined-taken", "dermatologie", "ide.leroy", 8, 24, ("submit", "claim", "decline")),
    # The midwife's and the coordinating nurse's: each a question of the specialist to answer, an opinion signed.
    Case("question-garnier", "dermatologie", "sf.garnier", None, 2, ("submit", "claim", "ask")),
    Case("advice-garnier", "dermatologie", "sf.garnier", None, 58, _SIGNED, orientation="advice_only"),
    # The pharmacist attaches no file (the dermatology line wants photographs): a medication review in geriatrics.
    Case("sent-petit", "geriatrie", "pharma.petit", 9, 1, _SENT),
    Case("cancelled-petit", "cardiologie", "pharma.petit", 8, 15, ("submit", "cancel")),
    Case("question-bernard", "dermatologie", "idec.bernard", 14, 1.5, ("submit", "claim", "ask")),
    Case("advice-bernard", "dermatologie", "idec.bernard", 15, 36, _SIGNED, orientation="advice_only"),
    # Answered on the demo day (between midnight and early afternoon, UTC): the coordinating nurse and the
    # dermatologist both act for the support hospital, so its billing office finds the day's TE2 and RQD.
    Case("advice-today", "dermatologie", "idec.bernard", 15, 1 / 3, _SIGNED, orientation="advice_only"),
    # The USMP's nurse, for the detainee: one sent, one answered.
    Case("sent-usmp", "dermatologie", "ide.usmp", 14, 0.8, _SENT),
    Case("advice-usmp", "dermatologie", "ide.usmp", 14, 44, _SIGNED, orientation="advice_only"),
)
REQUESTERS = sorted({c.requester for c in CASES})

_QUESTIONS = {
    "dermatologie": (
        ("Lésion pigmentée du dos qui s'est modifiée en quelques mois : faut-il une exérèse ?",
         "Lésion de 8 mm, asymétrique, deux couleurs ; pas d'antécédent de mélanome ; photos jointes."),
        ("Plaie de jambe qui ne cicatrise pas depuis six semaines : quelle prise en charge ?",
         "Ulcère de 3 cm face interne de jambe, pouls pédieux perçus ; pansements gras sans amélioration."),
        ("Éruption prurigineuse du tronc depuis dix jours, résistante aux dermocorticoïdes : votre avis ?",
         "Apparue après un nouveau traitement antihypertenseur ; pas de fièvre ; photos jointes."),
        ("Lésion croûteuse de la tempe chez un patient très exposé au soleil : carcinome à craindre ?",
         "Lésion de 12 mm, saigne au contact, évolue depuis quatre mois ; photos jointes."),
        ("Escarre talonnière de stade 2 chez une résidente alitée : quels soins locaux ?",
         "Résidente de 91 ans, dénutrition modérée, matelas à air en place ; photos jointes."),
    ),
    "cardiologie": (
        ("Palpitations avec ECG évoquant une fibrillation atriale : faut-il anticoaguler ?",
         "ECG et liste des traitements joints ; CHA2DS2-VASc à 3 ; fonction rénale normale."),
    ),
    "geriatrie": (
        ("Chutes répétées et confusion récente chez un résident : adaptation des traitements ?",
         "Trois chutes en un mois, dix médicaments ; constantes et liste des traitements jointes."),
    ),
    "pneumologie": (
        ("Toux persistante et nodule de 9 mm sur le scanner thoracique : quel suivi ?",
         "Ancien fumeur (30 paquets-années) ; compte rendu du scanner joint."),
    ),
}

_OPINIONS = {
    "advice_only": "Aspect bénin sur les photographies. Surveillance simple, nouvelles photos dans trois mois ou "
                   "plus tôt si la lésion change.",
    "act_relevant": "Lésion suspecte : l'exérèse avec analyse histologique est justifiée.",
    "act_not_relevant": "Lésion séborrhéique typique : l'exérèse n'est pas utile, sauf gêne.",
    "teleconsultation": "Je propose une téléconsultation pour examiner l'évolution avec le patient.",
    "consultation": "À voir en consultation de dermatologie pour un examen au dermatoscope.",
    "scheduled_hospitalisation": "Une courte hospitalisation programmée permettra bilan et soins adaptés.",
    "urgent_transfer": "Aspect de dermohypodermite étendue : transfert urgent pour antibiothérapie intraveineuse.",
}
_ACTS = {"act_relevant": "Exérèse cutanée avec examen histologique", "act_not_relevant": "Exérèse cutanée"}
_ASKS = ("Pouvez-vous préciser la date d'apparition et joindre une photo avec une règle graduée ?",
         "Le patient prend-il un anticoagulant ? Merci de préciser ses traitements.")
_REPLIES = ("Apparition il y a environ quatre mois ; nouvelle photo jointe au dossier.",
            "Pas d'anticoagulant ; traitement : amlodipine 5 mg et metformine 1 g matin et soir.")
_REASONS = {
    "cancel": "Le patient a été vu entre-temps en consultation.",
    "decline": "Hors du champ de la ligne : à adresser en consultation de chirurgie plastique.",
    "hand_back": "Absente la semaine prochaine : je remets la demande dans la file.",
    "admission:refused": "Pas de lit disponible à la date souhaitée : hospitalisation de jour proposée.",
}


def seed_demo_teleexpertise(session: Session, id_for: Callable[[str], uuid.UUID], seed: int, day: dt.datetime) -> int:
    """Write the demo's tele-expertise requests through the services, dated back from ``day`` (the demo day's
    midnight, UTC); the caller commits. Returns how many."""
    rng = random.Random(f"maillage-demo-teleexpertise:{seed}")
    users = {u.username: u for u in session.scalars(select(UserAccount))}
    actors = {name: auth.actor_for(session, users[name]) for name in (*REQUESTERS, SPECIALIST)}
    lines = {line.specialty_code: line for line in session.scalars(select(SpecialtyLine))}
    line_ids = {key: id_for(f"line/{key}") for key in _QUESTIONS}
    requirements = {key: [r for r in (line.requirements or []) if r != "photo"] for line in lines.values()
                    for key, line_id in line_ids.items() if line.id == line_id}
    for case in sorted(CASES, key=lambda c: -c.days_ago):
        start = day - dt.timedelta(days=case.days_ago) + dt.timedelta(hours=8 + rng.randint(0, 9),
                                                                       minutes=rng.randint(0, 59))
        with frozen(start) as clock:
            patient_id = (id_for(f"patient-{case.patient + 1}") if case.patient is not None
                          else _first_patient(session, users[case.requester].id))
            _play(session, case, clock, rng, actors, patient_id, id_for, line_ids[case.line], requirements[case.line],
                  gap_hours=min(20.0, case.days_ago * 24 / (len(case.steps) + 2)))
    session.flush()
    return len(CASES)


def _first_patient(session: Session, user_id: uuid.UUID) -> uuid.UUID:
    """The first (in the plan's order) demo patient the user was given care of at load time."""
    rows = session.execute(select(CareRelationship.source_id, CareRelationship.patient_id).where(
        CareRelationship.user_id == user_id, CareRelationship.source_type == "demo")).all()
    return min((int(key.rsplit("-", 1)[1]), patient_id) for key, patient_id in rows
               if key and key.startswith("patient-"))[1]


def _play(session: Session, case: Case, clock: FrozenClock, rng: random.Random, actors: Mapping[str, Actor],
          patient_id: uuid.UUID, id_for: Callable[[str], uuid.UUID], line_id: uuid.UUID, provided: list[str], *,
          gap_hours: float) -> None:
    requester, specialist = actors[case.requester], actors[SPECIALIST]
    question, context = rng.choice(_QUESTIONS[case.line])
    req = te.create_request(session, requester, RequestCreate(
        patient_id=patient_id, line_id=line_id, urgency=case.urgency, question=question,
        clinical_context=context, provided=provided), request_id=id_for(f"teleexpertise/{case.key}"))
    if case.line == "dermatologie":
        for n in range(1 + rng.randint(0, 1)):
            te.add_attachment(session, requester, req.id, filename=f"photo-{n + 1}.jpg",
                              data=lesion_photo(rng), declared_type="image/jpeg", title=f"Photographie {n + 1}")
    for step in case.steps:
        clock.advance(dt.timedelta(hours=gap_hours * rng.uniform(0.5, 1.0)))
        _step(session, case, step, req.id, requester, specialist, rng, clock)


def _step(session: Session, case: Case, step: str, request_id: uuid.UUID, requester: Actor, specialist: Actor,
          rng: random.Random, clock: FrozenClock) -> None:
    a = requester if step in ("submit", "reply", "cancel") else specialist
    if step == "submit":
        te.submit(session, a, request_id, consent_recorded_now=True)
    elif step == "claim":
        te.claim(session, a, request_id)
    elif step == "ask":
        te.ask(session, a, request_id, MessageIn(body=rng.choice(_ASKS)))
    elif step == "reply":
        te.reply(session, a, request_id, MessageIn(body=rng.choice(_REPLIES)))
    elif step == "answer":
        orientation = case.orientation or "advice_only"
        te.answer(session, a, request_id, OpinionIn(
            answer=_OPINIONS[orientation], orientation=orientation, act=_ACTS.get(orientation),
            delay_days=rng.choice((15, 30, 60)) if orientation == "consultation" else None))
    elif step in ("cancel", "decline", "hand_back"):
        getattr(te, step)(session, a, request_id, _REASONS[step])
    elif step.startswith("admission:"):
        status = step.split(":", 1)[1]
        planned = clock.now + dt.timedelta(days=rng.randint(1, 5)) if status == "accepted" else None
        te.update_admission(session, a, request_id, AdmissionUpdate(
            status=status, planned_at=planned, reason=_REASONS.get(step)))
    else:
        raise ValueError(f"unknown demo step {step!r}")


def lesion_photo(rng: random.Random, size: tuple[int, int] = (320, 240)) -> bytes:
    """A synthetic skin photograph (a JPEG): a skin tone, a little grain and a lesion of random shape and colour."""
    tone = (rng.randint(200, 240), rng.randint(160, 195), rng.randint(130, 165))
    image = Image.new("RGB", size, tone)
    draw = ImageDraw.Draw(image)
    for _ in range(300):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        shade = rng.randint(-12, 12)
        draw.point((x, y), fill=tuple(max(0, min(255, c + shade)) for c in tone))
    cx, cy = size[0] // 2 + rng.randint(-40, 40), size[1] // 2 + rng.randint(-30, 30)
    rx, ry = rng.randint(18, 45), rng.randint(14, 38)
    lesion = (rng.randint(70, 150), rng.randint(35, 80), rng.randint(25, 60))
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=lesion)
    draw.ellipse((cx - rx // 2, cy - ry // 3, cx + rx // 3, cy + ry // 2),
                 fill=tuple(max(0, c - 30) for c in lesion))
    out = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(1.5)).save(out, format="JPEG", quality=85)
    return out.getvalue()
