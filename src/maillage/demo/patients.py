"""The synthetic patients of the demo territory: identities whose INS carry the demo OID, their care relationships
and consents, and two planted duplicates for the identity officer's worklist.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from maillage.demo.territory_plan import TerritoryPlan
from maillage.directory import communes
from maillage.patient.rules import IdentityStatus, InsOid, StrictTraits, SyntheticIdentity, synthetic_identities

DEMO_PATIENTS = 40
# Indexes of the patients in the telesurveillance unit's care (idec.bernard): one of dr.dupont's, one EHPAD resident
# and three more (maillage.demo.monitoring enrols them).
TELESURVEILLED = (3, 8, 14, 15, 16)
# The detainee: cared for by the USMP's nurse (ide.usmp), the unit's physician as their médecin traitant, living in
# the prison's commune where the département has one (a heart failure followed by telesurveillance).
DETAINEE = 14


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


def plan_patients(plan: TerritoryPlan) -> list[PatientPlan]:
    """Synthetic patients of the territory: born in its largest communes and elsewhere, living in it.

    The first eight are dr.dupont's patients (he is their médecin traitant) with qualified identities; six live near the
    first EHPAD, where ide.leroy cares for them (pharma.petit, the pharmacist who serves the EHPAD, for two of
    them); three are followed by idec.bernard's telesurveillance unit, and so are one of dr.dupont's and one of the
    EHPAD's, so that the GP's and the EHPAD nurse's worklists show alerts; sf.garnier follows the first three women
    after them; one is a detainee, cared for by the USMP's nurse. Two more records are the same people typed again at
    another admission, without INS (one with the same traits, accents and case aside; one with a letter changed in
    the birth name): the identity officer's worklist shows them.
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
    midwife_patients = 0
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
        if index in (8, 9):
            care.append(("pharma.petit", "care_unit"))
        if index == DETAINEE:
            care.append(("ide.usmp", "care_unit"))
            if any(e.key == "usmp-1" for e in plan.establishments):
                attending, commune = "usmp-1-medecin", plan.establishment("usmp-1").commune.insee
        if index in TELESURVEILLED:
            care.append(("idec.bernard", "care_team"))
            consents.append(("telesurveillance", "consent"))
        if identity.traits.sex.value == "F" and index >= 17 and midwife_patients < 3:
            care.append(("sf.garnier", "care_unit"))
            midwife_patients += 1
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
