"""Telemedicine activity of the territory by partner type, site and modality, per month (issue 24, steering board).

One operational extract (``OP_ACTIVITE_TELEMEDECINE``), one row per act of care at a distance:

- **tele-expertise** (TE): a request submitted, dated the day it was sent; the site is the requesting establishment;
  answered requests carry their response time (submission → signed opinion, question pauses included, as in
  ``teleexpertise-reponses``) and their orientation;
- **teleconsultation** (TC): an appointment held (status ``done``), dated its start; the site is the establishment
  of the account that booked it (the requesting professional), its first one when it has several;
- **telesurveillance** (TS): an inclusion, dated the first day of monitoring; the site is the establishment of the
  operating team.

The partner type is the kind of the site in the directory, the member hospitals told apart from the support hospital
by their GHT role: member hospital, support hospital, city practice (health centres included), EHPAD, USMP, pharmacy.

**Transfers avoided** (« maintiens sur place ») are counted on tele-expertise only, from the specialist's
orientation: an answered request whose orientation keeps the patient where they are (advice only, act judged
relevant or not relevant to perform on site, or a teleconsultation) counts one; an orientation to a consultation, a
scheduled hospitalisation or an urgent transfer does not. Urgent transfers are counted apart. A patient kept in
place who would not have been transferred anyway is counted too: the count is an upper bound of the transfers the
opinion avoided, not a measure of what would have happened without it (no counterfactual is observed). Declined
and unanswered requests count in neither.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import select

from maillage.analytics import indicators as ind
from maillage.analytics.clinical import (
    UNKNOWN,
    _minutes,
    _ratio,
    _require,
    _session,
    _utc,
    _year_window,
    communes_of_residence,
    expand_groups,
)
from maillage.analytics.extract import PSEUDONYM_COLUMN, ExtractionContext, Extractor

ACTIVITY_TABLE = "OP_ACTIVITE_TELEMEDECINE"
MODALITIES = {"te": "Téléexpertise", "tc": "Téléconsultation", "ts": "Télésurveillance"}
PARTNER_TYPES = {
    "member_hospital": "Hôpital membre du GHT",
    "support_hospital": "Hôpital support",
    "city_practice": "Cabinet ou centre de santé de ville",
    "ehpad": "EHPAD",
    "usmp": "USMP (unité sanitaire en milieu pénitentiaire)",
    "pharmacy": "Pharmacie d'officine",
    "other": "Autre ou non renseigné",
}
# Orientations of ``teleexpertise.rules`` that keep the patient where they are (see the module's docstring).
KEPT_IN_PLACE = ("advice_only", "act_relevant", "act_not_relevant", "teleconsultation")
URGENT_TRANSFER = "urgent_transfer"

ACTIVITY_SCHEMA = pa.schema([
    pa.field(PSEUDONYM_COLUMN, pa.string()),
    pa.field("site", pa.string()),
    pa.field("type_partenaire", pa.string()),
    pa.field("modalite", pa.string()),
    pa.field("date_acte", pa.date32()),
    pa.field("repondue", pa.bool_()),
    pa.field("delai_reponse_minutes", pa.int64()),
    pa.field("orientation", pa.string()),
    pa.field("commune_residence", pa.string()),  # the patient's commune (INSEE code), for the coverage
])


def partner_type(kind: str | None, ght_role: str | None) -> str:
    if kind == "hospital":
        return "support_hospital" if ght_role == "support" else "member_hospital"
    if kind in ("city_practice", "health_centre"):
        return "city_practice"
    return kind if kind in ("ehpad", "usmp", "pharmacy") else "other"


def _sites(session: Any, ids: set[Any]) -> dict[Any, tuple[str, str]]:
    from maillage.models.directory import Establishment

    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(Establishment.id, Establishment.name, Establishment.kind, Establishment.ght_role)
                           .where(Establishment.id.in_(ids)))
    return {i: (name, partner_type(kind, role)) for i, name, kind, role in rows}


def fetch_activity(context: ExtractionContext) -> pa.Table:
    from maillage.models.auth import UserEstablishment
    from maillage.models.monitoring import MonitoringEnrolment, MonitoringTeam
    from maillage.models.teleconsultation import TeleconsultationAppointment as Appt
    from maillage.models.teleexpertise import TeleexpertiseRequest as Req

    session = _session(context, "teleexpertise_request", "teleconsultation_appointment", "monitoring_enrolment",
                       "establishment", "patient")
    facts: list[tuple[Any, Any, str, dt.date, bool | None, int | None, str | None]] = []
    for patient, site, status, submitted, signed, orientation in session.execute(
            select(Req.patient_id, Req.requester_establishment_id, Req.status, Req.submitted_at, Req.signed_at,
                   Req.orientation).where(Req.submitted_at.is_not(None))):
        answered = status == "completed" and signed is not None
        facts.append((patient, site, "te", _utc(submitted).date(), answered,
                      _minutes(submitted, signed) if answered else None, orientation if answered else None))
    first_site: dict[Any, Any] = {}
    for user_id, establishment_id in session.execute(
            select(UserEstablishment.user_id, UserEstablishment.establishment_id)
            .order_by(UserEstablishment.user_id, UserEstablishment.establishment_id)):
        first_site.setdefault(user_id, establishment_id)
    for patient, requester, starts in session.execute(
            select(Appt.patient_id, Appt.requester_id, Appt.starts_at).where(Appt.status == "done")):
        facts.append((patient, first_site.get(requester), "tc", _utc(starts).date(), None, None, None))
    for patient, site, starts in session.execute(
            select(MonitoringEnrolment.patient_id, MonitoringTeam.establishment_id, MonitoringEnrolment.starts_on)
            .join(MonitoringTeam, MonitoringTeam.id == MonitoringEnrolment.team_id)):
        facts.append((patient, site, "ts", starts, None, None, None))
    sites = _sites(session, {f[1] for f in facts})
    commune_of = communes_of_residence(session)
    schema = pa.schema([pa.field("patient_id", pa.string()), *list(ACTIVITY_SCHEMA)[1:]])
    return pa.table({
        "patient_id": [str(f[0]) for f in facts],
        "site": [sites.get(f[1], (UNKNOWN, "other"))[0] for f in facts],
        "type_partenaire": [sites.get(f[1], (UNKNOWN, "other"))[1] for f in facts],
        "modalite": [f[2] for f in facts],
        "date_acte": [f[3] for f in facts],
        "repondue": [f[4] for f in facts],
        "delai_reponse_minutes": [f[5] for f in facts],
        "orientation": [f[6] for f in facts],
        "commune_residence": [commune_of.get(f[0]) for f in facts],
    }, schema=schema)


ACTIVITY_EXTRACTOR = Extractor(
    name="activite-telemedecine", table=ACTIVITY_TABLE, schema=ACTIVITY_SCHEMA, fetch=fetch_activity,
    patient_column="patient_id",
    description="Actes de télémédecine (téléexpertise, téléconsultation, inclusion en télésurveillance) : site, "
                "type de partenaire, modalité, date, délai de réponse et orientation des avis.",
)


def _builder(groups: tuple[str, ...]) -> Any:
    def build(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
        year = int(params["annee"])
        acts = _require(tables, ACTIVITY_TABLE)
        acts = acts.filter(_year_window(acts.date_acte, year))
        answered = acts.repondue.fill_null(False)
        facts = acts.select(
            pid=acts[PSEUDONYM_COLUMN],
            site=acts.site.fill_null(UNKNOWN),
            type_partenaire=acts.type_partenaire.fill_null("other"),
            modalite=acts.modalite,
            mois=ind._month_key(acts.date_acte),
            repondue=ibis.ifelse(answered, 1, 0),
            delai=ibis.ifelse(answered, acts.delai_reponse_minutes, ibis.literal(0, "int64")),
            maintien=ibis.ifelse(answered & acts.orientation.isin(KEPT_IN_PLACE), 1, 0),
            transfert=ibis.ifelse(answered & (acts.orientation == URGENT_TRANSFER), 1, 0),
        )
        x = expand_groups(facts, groups, year)
        cells = x.group_by([*groups, "niveau_periode", "periode"]).aggregate(
            patients=x.pid.nunique(), actes=x.count(), avis_rendus=x.repondue.sum(), delai_total=x.delai.sum(),
            maintiens_sur_place=x.maintien.sum(), transferts_urgents=x.transfert.sum(),
        )
        return cells.mutate(delai_moyen_heures=_ratio(cells.delai_total, cells.avis_rendus * 60),
                            annee=ibis.literal(year)).drop("delai_total")
    return build


MEASURES = (
    ind.Measure("patients", "Patients", "patients", "patients"),
    ind.Measure("actes", "Actes", "actes", "count"),
    ind.Measure("avis_rendus", "Avis de téléexpertise rendus", "avis", "count"),
    ind.Measure("delai_moyen_heures", "Délai moyen de réponse (téléexpertise)", "heures", "ratio", 1),
    ind.Measure("maintiens_sur_place", "Transferts évités (patient maintenu sur place)", "avis", "count"),
    ind.Measure("transferts_urgents", "Transferts urgents", "avis", "count"),
)
# Each patient made at least one act; answers are acts; kept in place and urgent transfers are answers.
RELATIONS = (
    (("patients",), ("actes",), 1.0),
    (("avis_rendus",), ("actes",), 1.0),
    (("maintiens_sur_place", "transferts_urgents"), ("avis_rendus",), 1.0),
)
DESCRIPTION = ("Actes de télémédecine par mois : téléexpertises demandées, téléconsultations tenues et inclusions "
               "en télésurveillance ; délai de réponse des avis ; transferts évités, comptés sur les avis dont "
               "l'orientation maintient le patient sur place (avis seul, acte jugé pertinent ou non, "
               "téléconsultation) — une borne haute, aucun contrefactuel n'étant observé. Source : extraction "
               "opérationnelle pseudonymisée.")



def _indicator(code: str, label: str, groups: tuple[str, ...]) -> ind.Indicator:
    return ind.Indicator(
        code=code, label=label, description=DESCRIPTION, unit="actes par mois", version="1.0", measures=MEASURES,
        dimensions=("periode",), groups=groups,
        parameters=(ind.Parameter("annee", "Année de l'acte", ind.CURRENT_YEAR_DEFAULT),),
        build=_builder(groups), tables=(ACTIVITY_TABLE,), patients=("patients",), relations=RELATIONS,
        chart="line", main_measure="actes",
    )


BY_PARTNER = _indicator("activite-partenaires", "Activité de télémédecine par type de partenaire et modalité",
                        ("type_partenaire", "modalite"))
BY_SITE = _indicator("activite-sites", "Activité de télémédecine par site et modalité", ("site", "modalite"))
