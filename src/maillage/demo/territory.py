"""A believable demonstration territory for any département, planned from the real communes (no database here).

``build_territory(departement, seed)`` returns a plan (``territory_plan``) — the GHT, its establishments,
professionals, specialty lines and the demo accounts' places — that ``maillage.demo.load`` writes to the database.
The same département and seed always give the same plan, identifiers included.

How the territory is drawn (an approximation, documented in docs/territory.md):

* the **support hospital** sits in the prefecture; **member hospitals** in the next-largest towns at least
  12 km from the other hospitals (up to three, towns of 3,000 inhabitants or more; a département of one commune,
  Paris, gets sites of the prefecture instead);
* **EHPAD, city practices, health centres and pharmacies** are spread over the communes with a probability
  proportional to their population, their number growing with the département's population;
* a **prison health unit (USMP)** is attached to a hospital for each prison of the département listed in
  ``data/prisons.csv`` (a correctable file, see its README; read by ``territory_catalogue``);
* FINESS and RPPS numbers are valid ones that cannot be real (``territory_plan``);
* the demo accounts of ``maillage.demo.accounts`` get their places: dr.martin answers the dermatology line of
  the support hospital, dr.dupont is a GP of the first health home (``practice-1``), and so on (``accounts``).

Patients are not part of this plan: ``maillage.demo.patients`` draws them.
"""

from __future__ import annotations

import math
import random

from maillage.demo.territory_catalogue import (
    EHPAD_NAMES,
    FIRST_NAMES,
    LINE_CATALOGUE,
    PHARMACY_NAMES,
    PRISON_KIND_ORDER,
    STREETS,
    SURNAMES,
    load_prisons,
)
from maillage.demo.territory_plan import (
    AccountPlan,
    EstablishmentPlan,
    LinePlan,
    ProfessionalPlan,
    TerritoryPlan,
    demo_finess,
    demo_rpps,
)
from maillage.directory import communes, rules

MEMBER_MIN_POPULATION = 3000
MEMBER_MIN_DISTANCE_KM = 12.0


def of(name: str) -> str:
    """French "de" before a place name: ``de Limoges``, ``d'Ajaccio``, ``du Havre``, ``des Abymes``."""
    if name.startswith("Le "):
        return "du " + name[3:]
    if name.startswith("Les "):
        return "des " + name[4:]
    if name[:1].upper() in "AEIOUYÉÈÊÂÎÔH" and not name.startswith(("L'", "La ")):
        return "d'" + name
    return "de " + name


def find_departement(code: str) -> communes.Departement:
    wanted = code.strip().upper()
    for d in communes.load_departements():
        if d.code == wanted:
            return d
    raise rules.fail("departement", f"Département : « {code} » n'existe pas dans le découpage administratif.")


def distance_km(a: communes.Commune, b: communes.Commune) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def _weighted_sample(rng: random.Random, population: list[communes.Commune], k: int) -> list[communes.Commune]:
    """k communes drawn with probability proportional to population, distinct while there are enough."""
    pool = list(population)
    chosen: list[communes.Commune] = []
    while len(chosen) < k and pool:
        pick = rng.choices(pool, weights=[max(1, c.population) for c in pool])[0]
        chosen.append(pick)
        pool.remove(pick)
    while len(chosen) < k and population:
        chosen.append(rng.choice(population))
    return chosen


def _count(population: int, per: int, low: int, high: int) -> int:
    return max(low, min(high, round(population / per)))


class _Builder:
    def __init__(self, departement: communes.Departement, seed: int) -> None:
        self.dep = departement
        self.seed = seed
        self.rng = random.Random(f"maillage-territory:{departement.code}:{seed}")
        self.communes = sorted(communes.load_communes(departement.code), key=lambda c: (-c.population, c.insee))
        self.prefecture = communes.get_commune(departement.prefecture_insee)
        self.establishments: list[EstablishmentPlan] = []
        self.professionals: list[ProfessionalPlan] = []
        self.finess_n = (int(seed) % 50) * 10000
        self.rpps_n = (int(seed) % 50) * 10000
        self.used_names: set[tuple[str, str]] = set()

    # identifiers and details
    def next_finess(self) -> str:
        self.finess_n += 1
        return demo_finess(self.finess_n)

    def next_rpps(self) -> str:
        self.rpps_n += 1
        return demo_rpps(self.rpps_n)

    def address(self) -> str:
        return f"{self.rng.randint(1, 120)} {self.rng.choice(STREETS)}"

    def phone(self) -> str:
        return "09 " + " ".join(f"{self.rng.randint(0, 99):02d}" for _ in range(4))

    def point(self, c: communes.Commune) -> tuple[float, float]:
        return (
            round(c.latitude + self.rng.uniform(-0.006, 0.006), 5),
            round(c.longitude + self.rng.uniform(-0.006, 0.006), 5),
        )

    def person(self) -> tuple[str, str]:
        for _ in range(200):
            name = (self.rng.choice(SURNAMES), self.rng.choice(FIRST_NAMES))
            if name not in self.used_names:
                self.used_names.add(name)
                return name
        return (self.rng.choice(SURNAMES), self.rng.choice(FIRST_NAMES))

    def add_establishment(self, **kw: object) -> EstablishmentPlan:
        commune = kw["commune"]
        assert isinstance(commune, communes.Commune)
        lat, lon = self.point(commune)
        plan = EstablishmentPlan(latitude=lat, longitude=lon, address_line=self.address(), phone=self.phone(), **kw)  # type: ignore[arg-type]
        self.establishments.append(plan)
        return plan

    def add_professional(
        self,
        key: str,
        *,
        establishment: str,
        profession: str,
        specialty: str | None,
        unit: str | None,
        function: str,
        mode: str = "S",
        name: tuple[str, str] | None = None,
        civility: str | None = None,
    ) -> ProfessionalPlan:
        last, first = name or self.person()
        if name:
            self.used_names.add(name)
        plan = ProfessionalPlan(
            key=key,
            rpps=self.next_rpps(),
            civility=civility or ("DR" if profession == "10" else "MME" if first[-1] == "e" else "M"),
            last_name=last,
            first_name=first,
            profession_code=profession,
            specialty_code=specialty,
            establishment_key=establishment,
            unit=unit,
            function_label=function,
            practice_mode=mode,
        )
        self.professionals.append(plan)
        return plan

    # establishments
    def hospitals(self) -> tuple[EstablishmentPlan, list[EstablishmentPlan]]:
        units: tuple[tuple[str, str | None], ...] = (
            *((spec.unit, spec.code) for spec in LINE_CATALOGUE),
            ("Unité de télésurveillance", None),
            ("Urgences", "SM59"),
            ("Maternité", "SM20"),
            ("Cellule d'identitovigilance", None),
        )
        support = self.add_establishment(
            key="support",
            kind=rules.EstablishmentKind.HOSPITAL,
            name=f"Centre hospitalier {of(self.prefecture.name)}",
            commune=self.prefecture,
            public=True,
            ght_role=rules.GhtRole.SUPPORT,
            finess_et=self.next_finess(),
            finess_ej=self.next_finess(),
            category_code="355",
            units=units,
        )
        sites = [self.prefecture]
        towns: list[communes.Commune] = []
        for c in self.communes:
            if len(towns) == 3 or c.population < MEMBER_MIN_POPULATION:
                break
            if c.insee == self.prefecture.insee:
                continue
            if all(distance_km(c, s) >= MEMBER_MIN_DISTANCE_KM for s in sites):
                towns.append(c)
                sites.append(c)
        members = []
        for index, town in enumerate(towns):
            members.append(
                self.add_establishment(
                    key=f"member-{index + 1}",
                    kind=rules.EstablishmentKind.HOSPITAL,
                    name=f"Centre hospitalier {of(town.name)}",
                    commune=town,
                    public=True,
                    ght_role=rules.GhtRole.MEMBER,
                    finess_et=self.next_finess(),
                    finess_ej=self.next_finess(),
                    category_code="355",
                    units=(("Médecine polyvalente", "SM27"), ("Urgences", "SM59"), ("Maternité", "SM20")),
                )
            )
        if not members:
            # One commune only (Paris): the GHT's other hospitals are sites of the prefecture.
            for index in range(2):
                members.append(
                    self.add_establishment(
                        key=f"member-{index + 1}",
                        kind=rules.EstablishmentKind.HOSPITAL,
                        name=f"Hôpital {('Nord', 'Sud')[index]} {of(self.prefecture.name)}",
                        commune=self.prefecture,
                        public=True,
                        ght_role=rules.GhtRole.MEMBER,
                        finess_et=self.next_finess(),
                        finess_ej=self.next_finess(),
                        category_code="355",
                        units=(("Médecine polyvalente", "SM27"), ("Urgences", "SM59"), ("Maternité", "SM20")),
                    )
                )
        return support, members

    def usmps(self, hospitals: list[EstablishmentPlan]) -> tuple[list[EstablishmentPlan], int]:
        prisons = sorted(load_prisons(self.dep.code), key=lambda p: (PRISON_KIND_ORDER.get(p.kind, 9), p.name))
        out = []
        for index, prison in enumerate(prisons[:3]):
            commune = communes.get_commune(prison.commune_insee)
            parent = min(hospitals, key=lambda h: (distance_km(h.commune, commune), h.key != "support"))
            out.append(
                self.add_establishment(
                    key=f"usmp-{index + 1}",
                    kind=rules.EstablishmentKind.USMP,
                    name=f"Unité sanitaire — {prison.name}",
                    commune=commune,
                    public=True,
                    ght_role=rules.GhtRole.PARTNER,
                    parent_key=parent.key,
                    units=(("Soins somatiques", None), ("Soins psychiatriques", "SM42")),
                )
            )
        return out, len(prisons)

    def spread(self, kind: str, count: int) -> list[communes.Commune]:
        eligible = [c for c in self.communes if c.population >= 1500] or self.communes
        return _weighted_sample(self.rng, eligible, count)

    def ehpads(self) -> list[EstablishmentPlan]:
        out = []
        for index, commune in enumerate(self.spread("ehpad", _count(self.dep.population, 30_000, 3, 12))):
            public = index == 0 or self.rng.random() < 0.4
            role = rules.GhtRole.MEMBER if public and index == 0 else rules.GhtRole.PARTNER
            out.append(
                self.add_establishment(
                    key=f"ehpad-{index + 1}",
                    kind=rules.EstablishmentKind.EHPAD,
                    name=f"EHPAD {EHPAD_NAMES[index % len(EHPAD_NAMES)]} — {commune.name}",
                    commune=commune,
                    public=public,
                    ght_role=role,
                    finess_et=self.next_finess(),
                    finess_ej=self.next_finess(),
                    category_code="500",
                    units=(("Soins", None),),
                )
            )
        return out

    def practices(self) -> list[EstablishmentPlan]:
        out = []
        towns = self.spread("practice", _count(self.dep.population, 25_000, 4, 16))
        for index, commune in enumerate(towns):
            if index == 0 or commune.population >= 2000:
                out.append(
                    self.add_establishment(
                        key=f"practice-{index + 1}",
                        kind=rules.EstablishmentKind.CITY_PRACTICE,
                        name=f"Maison de santé pluriprofessionnelle {of(commune.name)}",
                        commune=commune,
                        ght_role=rules.GhtRole.PARTNER,
                        finess_et=self.next_finess(),
                        finess_ej=self.next_finess(),
                        category_code="603",
                    )
                )
            else:
                surname = self.rng.choice(SURNAMES).title()
                out.append(
                    self.add_establishment(
                        key=f"practice-{index + 1}",
                        kind=rules.EstablishmentKind.CITY_PRACTICE,
                        name=f"Cabinet médical {surname} — {commune.name}",
                        commune=commune,
                        ght_role=rules.GhtRole.PARTNER,
                    )
                )
        centre_town = self.communes[1] if len(self.communes) > 1 else self.prefecture
        out.append(
            self.add_establishment(
                key="centre-1",
                kind=rules.EstablishmentKind.HEALTH_CENTRE,
                name=f"Centre de santé {of(centre_town.name)}",
                commune=centre_town,
                public=True,
                ght_role=rules.GhtRole.PARTNER,
                finess_et=self.next_finess(),
                finess_ej=self.next_finess(),
                category_code="124",
            )
        )
        return out

    def pharmacies(self) -> list[EstablishmentPlan]:
        out = []
        for index, commune in enumerate(self.spread("pharmacy", _count(self.dep.population, 30_000, 3, 12))):
            out.append(
                self.add_establishment(
                    key=f"pharmacy-{index + 1}",
                    kind=rules.EstablishmentKind.PHARMACY,
                    name=f"Pharmacie {PHARMACY_NAMES[index % len(PHARMACY_NAMES)]} — {commune.name}",
                    commune=commune,
                    ght_role=rules.GhtRole.PARTNER,
                    finess_et=self.next_finess(),
                    finess_ej=self.next_finess(),
                    category_code="620",
                )
            )
        return out


def build_territory(departement: str = "87", seed: int = 1) -> TerritoryPlan:
    """The demonstration territory of a département (COG code: ``87``, ``2A``, ``974``...) for a seed."""
    dep = find_departement(departement)
    b = _Builder(dep, int(seed))
    support, members = b.hospitals()
    hospitals = [support, *members]
    usmps, prisons_found = b.usmps(hospitals)
    ehpads = b.ehpads()
    practices = b.practices()
    pharmacies = b.pharmacies()

    # Professionals of the support hospital: two per specialty line, one on-call backup; dr.martin in dermatology.
    lines: list[LinePlan] = []
    for spec in LINE_CATALOGUE:
        key, code, unit = spec.key, spec.code, spec.unit
        first = b.add_professional(
            f"{key}-1",
            establishment="support",
            profession="10",
            specialty=code,
            unit=unit,
            function="Praticien hospitalier",
            name=("MARTIN", "Claire") if key == "dermatologie" else None,
            civility="DR",
        )
        second = b.add_professional(
            f"{key}-2",
            establishment="support",
            profession="10",
            specialty=code,
            unit=unit,
            function="Praticien hospitalier",
            civility="DR",
        )
        backup = b.add_professional(
            f"{key}-astreinte",
            establishment="support",
            profession="10",
            specialty=code,
            unit=unit,
            function="Praticien hospitalier (astreinte)",
            civility="DR",
        )
        lines.append(
            LinePlan(
                key=key,
                specialty_code=code,
                title=spec.title,
                summary=spec.summary,
                unit=unit,
                teleexpertise=spec.te,
                teleconsultation=spec.tc,
                audiences=frozenset(spec.audiences),
                requirements=spec.requirements,
                min_photos=spec.min_photos,
                opening_hours=spec.hours,
                commitments=dict(spec.delays),
                answering=(first.key, second.key),
                backups=(backup.key,),
            )
        )
    b.add_professional(
        "idec",
        establishment="support",
        profession="60",
        specialty=None,
        unit="Unité de télésurveillance",
        function="Infirmier de coordination",
        name=("BERNARD", "Julien"),
        civility="M",
    )
    for index, member in enumerate(members):
        b.add_professional(
            f"{member.key}-urgentiste",
            establishment=member.key,
            profession="10",
            specialty="SM59",
            unit="Urgences",
            function="Praticien hospitalier",
            civility="DR",
        )
        b.add_professional(
            f"{member.key}-interniste",
            establishment=member.key,
            profession="10",
            specialty="SM27",
            unit="Médecine polyvalente",
            function="Praticien hospitalier",
            civility="DR",
        )
        b.add_professional(
            f"{member.key}-sage-femme",
            establishment=member.key,
            profession="50",
            specialty=None,
            unit="Maternité",
            function="Sage-femme",
            name=("GARNIER", "Léa") if index == 0 else None,
            civility="MME",
        )
    for index, usmp in enumerate(usmps):
        b.add_professional(
            f"{usmp.key}-medecin",
            establishment=usmp.key,
            profession="10",
            specialty="SM54",
            unit="Soins somatiques",
            function="Médecin de l'unité sanitaire",
            civility="DR",
        )
        b.add_professional(
            f"{usmp.key}-infirmier",
            establishment=usmp.key,
            profession="60",
            specialty=None,
            unit="Soins somatiques",
            function="Infirmier",
            name=("MERCIER", "Yanis") if index == 0 else None,
            civility="M" if index == 0 else None,
        )
    for index, ehpad in enumerate(ehpads):
        b.add_professional(
            f"{ehpad.key}-coordonnateur",
            establishment=ehpad.key,
            profession="10",
            specialty="SM18",
            unit="Soins",
            function="Médecin coordonnateur",
            civility="DR",
        )
        b.add_professional(
            f"{ehpad.key}-infirmier",
            establishment=ehpad.key,
            profession="60",
            specialty=None,
            unit="Soins",
            function="Infirmière",
            name=("LEROY", "Sophie") if index == 0 else None,
            civility="MME" if index == 0 else None,
        )
    gps: list[str] = []
    for index, practice in enumerate(practices):
        if practice.kind is rules.EstablishmentKind.HEALTH_CENTRE:
            count = 2
        elif practice.name.startswith("Maison"):
            count = 3
        else:
            count = 1
        for n in range(count):
            key = f"{practice.key}-mg-{n + 1}"
            b.add_professional(
                key,
                establishment=practice.key,
                profession="10",
                specialty="SM54",
                unit=None,
                function="Médecin généraliste",
                mode="S" if practice.kind is rules.EstablishmentKind.HEALTH_CENTRE else "L",
                name=("DUPONT", "Paul") if index == 0 and n == 0 else None,
                civility="DR",
            )
            gps.append(key)
    for index, pharmacy in enumerate(pharmacies):
        b.add_professional(
            f"{pharmacy.key}-titulaire",
            establishment=pharmacy.key,
            profession="21",
            specialty=None,
            unit=None,
            function="Pharmacien titulaire",
            mode="L",
            name=("PETIT", "Inès") if index == 0 else None,
            civility="MME" if index == 0 else None,
        )

    accounts = [
        AccountPlan("dr.martin", "dermatologie-1", ("support",)),
        AccountPlan("dr.dupont", "practice-1-mg-1", ("practice-1",)),
        AccountPlan("sf.garnier", "member-1-sage-femme", ("member-1",)),
        AccountPlan("ide.leroy", "ehpad-1-infirmier", ("ehpad-1",)),
        # The first USMP's nurse, where the département has a prison (else an account of no establishment).
        AccountPlan("ide.usmp", "usmp-1-infirmier" if usmps else None, ("usmp-1",) if usmps else ()),
        AccountPlan("idec.bernard", "idec", ("support",)),
        AccountPlan("pharma.petit", "pharmacy-1-titulaire", ("pharmacy-1",)),
        AccountPlan("fact.moreau", None, ("support",)),
        AccountPlan("analyste.roux", None, ()),
        AccountPlan("direction.lambert", None, ("support",)),
        AccountPlan("programme.girard", None, ("support",)),
        AccountPlan("idv.fournier", None, ("support",)),
        AccountPlan("admin", None, ("support",)),
    ]
    notes = []
    if not usmps:
        notes.append("Aucun établissement pénitentiaire connu dans ce département : pas d'USMP.")
    return TerritoryPlan(
        departement=dep,
        seed=int(seed),
        ght_code=f"GHT-DEMO-{dep.code}",
        ght_name=f"GHT de démonstration — {dep.name}",
        establishments=b.establishments,
        professionals=b.professionals,
        lines=lines,
        accounts=accounts,
        gp_keys=gps,
        prisons_found=prisons_found,
        notes=notes,
    )
