"""Demo data for ``make run`` and ``maillage demo``: a whole territory, loaded only when the database is empty.

Demo accounts (``accounts``) are placed in a believable GHT built from the real communes of a département
(``territory``): the support hospital and its specialty lines, member hospitals, EHPAD, USMP, city practices,
pharmacies, professionals with valid identifiers, and synthetic patients (``patients``) whose INS carry the demo
OID. The same département and seed always give the same territory.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from maillage.authz import service as authz
from maillage.config import get_settings
from maillage.demo import territory
from maillage.demo.accounts import DEMO_ACCOUNTS, DEMO_PASSWORD, demo_totp_secret, seed_accounts
from maillage.demo.activity import seed_demo_activity
from maillage.demo.billing import seed_demo_billing
from maillage.demo.monitoring import seed_demo_monitoring
from maillage.demo.patients import plan_patients
from maillage.demo.prescription import seed_demo_drugs, seed_demo_prescription
from maillage.demo.programme import seed_demo_programme
from maillage.demo.territory_plan import TerritoryPlan
from maillage.directory import admin_service as directory_admin
from maillage.directory import service as directory
from maillage.directory.specialties import Audience, profession_label, specialty_label
from maillage.kit.clock import now
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.kit.numbers import fr_number
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
from maillage.patient import service as patients
from maillage.patient.rules import normalise_name as normalise_person_name

DEFAULT_DEPARTEMENT = "87"
DEFAULT_SEED = 1


@dataclass(frozen=True)
class DemoSummary:
    plan: TerritoryPlan
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
        directory_admin.link_account(
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
    seed_demo_activity(session, plan.id_for, plan.seed)
    seed_demo_drugs(session)
    seed_demo_prescription(session, plan.id_for, users)
    seed_demo_programme(session, plan.id_for, users)
    seed_demo_billing(session)
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
        console.print(f"  {a.username:<15} {a.job:<45} clé TOTP {demo_totp_secret(a.username)}")
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
    _load_analytics(console, settings, summary.plan)
    return True


def _load_analytics(console: Any, settings: Any, plan: TerritoryPlan) -> None:
    """A year of synthetic claims for the territory, the demo's activity extracted, the indicators computed."""
    from maillage.analytics.warehouse import default_warehouse
    from maillage.demo.analytics import build_demo_analytics

    done = build_demo_analytics(settings.effective_database_url, default_warehouse(), plan)
    console.print(f"Pilotage : {fr_number(done.claim_lines, 0)} prestations SYNTHÉTIQUES de {done.care_year} pour "
                  f"{fr_number(done.beneficiaries, 0)} bénéficiaires des {done.communes} communes du département "
                  f"{done.departement}, {len(done.indicators)} indicateurs calculés "
                  f"({fr_number(done.seconds['total'], 0)} s).")
