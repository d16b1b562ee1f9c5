"""Demo data for ``make run`` and ``maillage demo``: a whole territory, loaded only when the database is empty.

One demo account per role, with a known password and a TOTP secret derived from the user name (demo only:
``maillage user demo-code USERNAME`` prints the current code). The demo password is published on purpose, so
demo accounts are not asked to replace it at their first sign-in, unlike accounts made by ``maillage user
create`` (a one-time password, valid 24 h). Demo accounts are placed in a believable GHT built from the real
communes of a département (``maillage.directory.territory``): the support hospital and its specialty lines,
member hospitals, EHPAD, USMP, city practices, pharmacies, professionals with valid identifiers, and synthetic
patients whose INS carry the demo OID. The same département and seed always give the same territory.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maillage.auth import service as auth
from maillage.auth.rules import ROLE_LABELS, Role
from maillage.authz import service as authz
from maillage.config import get_settings
from maillage.directory import communes, territory
from maillage.directory import service as directory
from maillage.directory.specialties import Audience, profession_label, specialty_label
from maillage.kit.clock import now
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.auth import UserAccount
from maillage.models.directory import (
    CareUnit,
    Establishment,
    Ght,
    Professional,
    ProfessionalRole,
    SpecialtyLine,
    SpecialtyLineCommitment,
    SpecialtyLineMember,
)
from maillage.models.patient import Patient, PatientConsent
from maillage.monitoring.demo_data import seed_demo_monitoring
from maillage.patient import service as patients
from maillage.patient.rules import IdentityStatus, InsOid, StrictTraits, SyntheticIdentity, synthetic_identities
from maillage.patient.rules import normalise_name as normalise_person_name

DEMO_PASSWORD = "Demo-Maillage-2026"  # noqa: S105 - a published demo password, refused outside development
DEFAULT_DEPARTEMENT = "87"
DEFAULT_SEED = 1
DEMO_PATIENTS = 40


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: Role


DEMO_ACCOUNTS = [
    DemoAccount("dr.martin", "Dr Claire Martin (dermatologue, hôpital support)", Role.PHYSICIAN),
    DemoAccount("dr.dupont", "Dr Paul Dupont (médecin généraliste)", Role.PHYSICIAN),
    DemoAccount("sf.garnier", "Léa Garnier (sage-femme)", Role.MIDWIFE),
    DemoAccount("ide.leroy", "Sophie Leroy (infirmière, EHPAD)", Role.NURSE),
    DemoAccount("idec.bernard", "Julien Bernard (infirmier de coordination)", Role.COORDINATING_NURSE),
    DemoAccount("pharma.petit", "Inès Petit (pharmacienne)", Role.PHARMACIST),
    DemoAccount("fact.moreau", "Marc Moreau (bureau des entrées)", Role.BILLING_OFFICER),
    DemoAccount("analyste.roux", "Nadia Roux (analyste ARS)", Role.ANALYST),
    DemoAccount("idv.fournier", "Hugo Fournier (cellule d'identitovigilance)", Role.IDENTITY_OFFICER),
    DemoAccount("admin", "Administration Maillage", Role.ADMINISTRATOR),
]


def demo_totp_secret(username: str) -> str:
    digest = hashlib.sha256(f"maillage-demo-totp:{username}".encode()).digest()
    return base64.b32encode(digest[:20]).decode()


def seed_accounts(session: Session) -> list[DemoAccount]:
    """Create the demo accounts. They share one published password, so its Argon2 hash is computed once (by
    ``create_user`` for the first account) and reused: hashing is deliberately slow, about a second each."""
    first: UserAccount | None = None
    for account in DEMO_ACCOUNTS:
        if first is None:
            user = auth.create_user(session, username=account.username, display_name=account.display_name,
                                    role=account.role, password=DEMO_PASSWORD)
            first = user
        else:
            user = UserAccount(username=account.username, display_name=account.display_name,
                               role=account.role.value, password_hash=first.password_hash, status="active",
                               failed_logins=0, lockouts=0, must_change_password=False)
            session.add(user)
            session.flush()
        auth.enrol_totp_with_secret(session, user, demo_totp_secret(account.username))
    return DEMO_ACCOUNTS


# --- Patients of the demo ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatientPlan:
    key: str
    identity: SyntheticIdentity
    status: IdentityStatus
    has_ins: bool
    identity_document: str | None
    commune_insee: str
    attending_key: str | None
    care_accounts: tuple[tuple[str, str], ...]  # (username, relationship kind)
    consents: tuple[tuple[str, str], ...]  # (purpose, decision)
    phone: str | None = None


def plan_patients(plan: territory.TerritoryPlan) -> list[PatientPlan]:
    """Synthetic patients of the territory: born in its largest communes and elsewhere, living in it.

    The first eight are dr.dupont's patients (he is their médecin traitant) with qualified identities; six live
    near the first EHPAD, where ide.leroy cares for them; three are followed by idec.bernard's telesurveillance
    unit. Two more records are the same people typed again at another admission, without INS (one with the same
    traits, accents and case aside; one with a letter changed in the birth name): the identity officer's
    worklist shows them.
    """
    code, seed = plan.departement.code, plan.seed
    rng = random.Random(f"maillage-demo-patients:{code}:{seed}")
    local = sorted(communes.load_communes(code), key=lambda c: (-c.population, c.insee))
    birthplaces = [c.insee for c in local[:10]] * 2 + ["75112", "69383", "13205", "99350", "99134"]
    identities = synthetic_identities(f"{code}:{seed}", DEMO_PATIENTS, oid=InsOid.DEMO, birthplaces=birthplaces,
                                      born_between=(dt.date(1932, 1, 1), dt.date(2012, 12, 31)))
    residents = [c.insee for c in local[:20]]
    gp_commune = plan.establishment("practice-1").commune.insee
    ehpad_commune = plan.establishment("ehpad-1").commune.insee
    statuses = (IdentityStatus.PROV, IdentityStatus.RECUP, IdentityStatus.VALI, IdentityStatus.QUAL)
    plans: list[PatientPlan] = []
    for index, identity in enumerate(identities):
        care: list[tuple[str, str]] = []
        consents: list[tuple[str, str]] = []
        attending: str | None
        if index < 8:
            status, attending, commune = IdentityStatus.QUAL, "practice-1-mg-1", gp_commune
            care.append(("dr.dupont", "attending"))
            consents += [("teleexpertise", "consent"), ("teleconsultation", "consent")]
            if index == 2:
                consents.append(("data_reuse", "objection"))
            if index in (0, 1):
                care.append(("dr.martin", "care_unit"))
        else:
            status = statuses[index % 4]
            attending = plan.gp_keys[index % len(plan.gp_keys)] if plan.gp_keys else None
            commune = residents[index % len(residents)]
            if index % 5 == 0:
                consents.append(("data_reuse", "objection"))
        if 8 <= index < 14:
            commune = ehpad_commune
            care.append(("ide.leroy", "care_unit"))
        if index in (14, 15, 16):
            care.append(("idec.bernard", "care_team"))
            consents.append(("telesurveillance", "consent"))
        if identity.traits.sex.value == "F" and 17 <= index < 22:
            care.append(("sf.garnier", "care_unit"))
        plans.append(PatientPlan(
            key=f"patient-{index + 1}", identity=identity, status=status,
            has_ins=status in (IdentityStatus.RECUP, IdentityStatus.QUAL),
            identity_document="identity_card" if status in (IdentityStatus.VALI, IdentityStatus.QUAL) else None,
            commune_insee=commune, attending_key=attending, care_accounts=tuple(care), consents=tuple(consents),
            phone="06 " + " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4)) if index % 3 else None,
        ))
    for n, source_index in enumerate((9, 11)):
        source = plans[source_index]
        t = source.identity.traits
        birth_name = t.birth_name.title() if n == 0 else _typo(t.birth_name)
        twin = SyntheticIdentity(source.identity.ins,
                                 StrictTraits(birth_name, t.given_names, t.birth_date, t.sex, t.birthplace))
        plans.append(PatientPlan(
            key=f"doublon-{n + 1}", identity=twin, status=IdentityStatus.PROV, has_ins=False, identity_document=None,
            commune_insee=source.commune_insee, attending_key=None, care_accounts=(("ide.leroy", "care_unit"),),
            consents=()))
    return plans


def _typo(name: str) -> str:
    """A one-letter slip at the end of a birth name (DURAND -> DURANT), as typed at a second admission."""
    last = name[-1]
    return name[:-1] + {"D": "T", "T": "D", "S": "Z", "E": "A"}.get(last, "E")


# --- Writing the territory ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoSummary:
    plan: territory.TerritoryPlan
    patients: int
    establishments_by_kind: dict[str, int]


def build_demo(session: Session, departement: str = DEFAULT_DEPARTEMENT, seed: int = DEFAULT_SEED) -> DemoSummary:
    """Write the demo territory and accounts in the session's transaction (the caller commits)."""
    plan = territory.build_territory(departement, seed)
    at = now()
    ght = Ght(id=plan.id_for("ght"), code=plan.ght_code, name=plan.ght_name, departement=plan.departement.code,
              created_at=at)
    session.add(ght)
    session.flush()
    units: dict[tuple[str, str], uuid.UUID] = {}
    rows: list[Any] = []
    for e in plan.establishments:
        est = Establishment(
            id=plan.id_for(e.key), ght_id=ght.id, ght_role=e.ght_role.value if e.ght_role else None,
            kind=e.kind.value, name=e.name, finess_et=e.finess_et, finess_ej=e.finess_ej,
            category_code=e.category_code, public=e.public,
            parent_id=plan.id_for(e.parent_key) if e.parent_key else None, address_line=e.address_line,
            commune_insee=e.commune.insee, commune_name=e.commune.name, latitude=e.latitude, longitude=e.longitude,
            phone=e.phone, source="demo", active=True, created_at=at, updated_at=at,
        )
        est.search_text = directory.establishment_search_text(est)
        rows.append(est)
        for name, code in e.units:
            unit_id = plan.id_for(f"{e.key}/unit/{name}")
            units[(e.key, name)] = unit_id
            rows.append(CareUnit(id=unit_id, establishment_id=est.id, name=name, specialty_code=code, created_at=at))
    session.add_all([r for r in rows if isinstance(r, Establishment) and r.parent_id is None])
    session.flush()
    session.add_all([r for r in rows if isinstance(r, Establishment) and r.parent_id is not None])
    session.flush()
    session.add_all([r for r in rows if isinstance(r, CareUnit)])
    session.flush()
    people = []
    for p in plan.professionals:
        person = Professional(
            id=plan.id_for(p.key), rpps=p.rpps, national_id=f"8{p.rpps}", identifier_warnings=[],
            civility=p.civility, last_name=p.last_name, first_name=p.first_name, profession_code=p.profession_code,
            profession_label=profession_label(p.profession_code), specialty_code=p.specialty_code,
            specialty_label=specialty_label(p.specialty_code) if p.specialty_code else None, source="demo",
            active=True, created_at=at, updated_at=at,
        )
        person.search_text = directory.professional_search_text(person)
        people.append(person)
    session.add_all(people)
    session.flush()
    roles = []
    for p in plan.professionals:
        e = plan.establishment(p.establishment_key)
        role_unit = units.get((e.key, p.unit)) if p.unit else None
        roles.append(ProfessionalRole(
            id=plan.id_for(f"{p.key}/role"), professional_id=plan.id_for(p.key),
            establishment_id=plan.id_for(e.key), care_unit_id=role_unit,
            activity_key=f"establishment:{plan.id_for(e.key)}" + (f":{role_unit}" if role_unit else ""),
            function_label=p.function_label, practice_mode=p.practice_mode, site_name=e.name,
            site_commune_insee=e.commune.insee, site_finess=e.finess_et, is_primary=True, created_at=at,
            updated_at=at))
    session.add_all(roles)
    support = plan.establishment("support")
    line_rows: list[Any] = []
    for line in plan.lines:
        line_id = plan.id_for(f"line/{line.key}")
        offer = SpecialtyLine(
            id=line_id, establishment_id=plan.id_for("support"), care_unit_id=units.get(("support", line.unit)),
            specialty_code=line.specialty_code, title=line.title, summary=line.summary,
            teleexpertise=line.teleexpertise, teleconsultation=line.teleconsultation,
            accepts_city=Audience.CITY in line.audiences, accepts_ehpad=Audience.EHPAD in line.audiences,
            accepts_usmp=Audience.USMP in line.audiences,
            accepts_ght_hospitals=Audience.GHT_HOSPITALS in line.audiences,
            requirements=[r.value for r in line.requirements], min_photos=line.min_photos,
            opening_hours=line.opening_hours, how_to_request=_how_to_request(support.name),
            phone=support.phone, on_call_phone=support.phone if len(line.commitments) > 2 else None,
            active=True, published=True, created_at=at, updated_at=at,
        )
        offer.search_text = directory.line_search_text(offer)
        line_rows.append(offer)
        for urgency, minutes in line.commitments.items():
            line_rows.append(SpecialtyLineCommitment(line_id=line_id, urgency=urgency.value,
                                                     response_minutes=minutes))
        for key in line.answering:
            line_rows.append(SpecialtyLineMember(line_id=line_id, professional_id=plan.id_for(key), role="answering"))
        for key in line.backups:
            line_rows.append(SpecialtyLineMember(line_id=line_id, professional_id=plan.id_for(key), role="backup"))
    session.add_all([r for r in line_rows if isinstance(r, SpecialtyLine)])
    session.flush()
    session.add_all([r for r in line_rows if not isinstance(r, SpecialtyLine)])
    session.flush()

    seed_accounts(session)
    users = {u.username: u for u in session.scalars(select(UserAccount))}
    for account in plan.accounts:
        directory.link_account(
            session, users[account.username],
            professional_id=plan.id_for(account.professional_key) if account.professional_key else None,
            establishment_ids=[plan.id_for(k) for k in account.establishment_keys])

    patient_plans = plan_patients(plan)
    patient_rows = []
    for pp in patient_plans:
        t = pp.identity.traits
        patient_rows.append(Patient(
            id=plan.id_for(pp.key), birth_name=t.birth_name, given_names=" ".join(t.given_names),
            birth_date=t.birth_date, sex=t.sex.value, birthplace=t.birthplace,
            birth_name_norm=normalise_person_name(t.birth_name),
            first_given_name_norm=normalise_person_name(t.first_given_name), duplicate_key=patients.key_text(t),
            identity_status=pp.status.value, identity_attributes=[],
            ins_matricule=pp.identity.ins.matricule.value if pp.has_ins else None,
            ins_oid=pp.identity.ins.oid.value if pp.has_ins else None,
            insi_checked_at=at if pp.status.insi_checked else None,
            document_checked_at=at if pp.status.document_checked else None,
            identity_document=pp.identity_document, phone=pp.phone, commune_insee=pp.commune_insee,
            attending_professional_id=plan.id_for(pp.attending_key) if pp.attending_key else None,
            created_at=at, updated_at=at,
        ))
    session.add_all(patient_rows)
    session.flush()
    for pp in patient_plans:
        for username, kind in pp.care_accounts:
            authz.grant_relationship(session, user_id=users[username].id, patient_id=plan.id_for(pp.key), kind=kind,
                                     source_type="demo", source_id=pp.key)
        for index, (purpose, decision) in enumerate(pp.consents):
            recorder = users[pp.care_accounts[0][0]].id if pp.care_accounts else None
            session.add(PatientConsent(patient_id=plan.id_for(pp.key), purpose=purpose, decision=decision,
                                       source="oral", recorded_by=recorder,
                                       recorded_at=at - dt.timedelta(days=30 - index)))
    session.flush()
    seed_demo_monitoring(session, plan.id_for, plan.departement.code, users)
    counts: dict[str, int] = {}
    for e in plan.establishments:
        counts[e.kind.value] = counts.get(e.kind.value, 0) + 1
    return DemoSummary(plan=plan, patients=len(patient_plans), establishments_by_kind=counts)


def _how_to_request(support_name: str) -> str:
    return (
        "Connectez-vous à Maillage avec votre compte professionnel (double authentification), ouvrez « Nouvelle "
        "demande de téléexpertise » et choisissez cette ligne. Joignez les pièces demandées et le consentement du "
        f"patient. Sans compte : le secrétariat de la ligne au {support_name} vous en ouvre un. En cas d'urgence "
        "vitale, appelez le 15."
    )


def _print_summary(console: Any, summary: DemoSummary) -> None:
    plan = summary.plan
    counts = sorted(summary.establishments_by_kind.items())
    kinds = ", ".join(f"{n} × {directory.kind_label(k)}" for k, n in counts)
    console.print(f"Territoire de démonstration : [bold]{plan.ght_name}[/bold] (graine {plan.seed}).")
    console.print(f"  {kinds} ; {len(plan.professionals)} professionnels, {len(plan.lines)} lignes de spécialité, "
                  f"{summary.patients} patients (INS de démonstration).")
    for note in plan.notes:
        console.print(f"  {note}")
    console.print("Comptes (mot de passe commun : " f"[bold]{DEMO_PASSWORD}[/bold]) :")
    for a in DEMO_ACCOUNTS:
        console.print(f"  {a.username:<15} {ROLE_LABELS[a.role]:<45} clé TOTP {demo_totp_secret(a.username)}")
    console.print("Code à six chiffres du moment : .venv/bin/maillage user demo-code IDENTIFIANT "
                  "(ou ajoutez la clé TOTP à votre application d'authentification).")


def load_demo_if_empty(console: Any, departement: str = DEFAULT_DEPARTEMENT, seed: int = DEFAULT_SEED) -> bool:
    settings = get_settings()
    if settings.environment == "production":
        console.print("Pas de données de démonstration en production.")
        return False
    territory.find_departement(departement)
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as session:
            if session.scalar(select(func.count()).select_from(UserAccount)):
                console.print("La base contient déjà des données : démonstration non rechargée.")
                return False
            summary = build_demo(session, departement, seed)
            session.commit()
    finally:
        engine.dispose()
    _print_summary(console, summary)
    return True
