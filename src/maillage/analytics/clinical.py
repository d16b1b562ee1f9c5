"""Indicator 4: tele-expertise response times and orientations; telesurveillance cohorts, alerts, adherence.

Extractors (listed in ``catalogue``, run by ``maillage analytics extract`` and the worker job) read
the operational tables of tele-expertise (``models/teleexpertise.py``) and telesurveillance
(``models/monitoring.py``) and hand raw patient ids to the extraction, which pseudonymises them (HMAC) and drops
the patients who objected to the reuse of their data. The objection source is the patient package's rule
(``objects_to_data_reuse``): the latest ``data_reuse`` decision of each person, following identity merges.

Warehouse tables written here:

- ``OP_ACTES_TELEMEDECINE``: one row per tele-expertise act of the requis (TE2), for indicator 3 (source
  « operationnel »);
- ``OP_TELEEXPERTISE_DEMANDES``: one row per submitted request (line, requesting establishment, urgency, status,
  response time in minutes, within the committed time or not, orientation);
- ``OP_TELESURVEILLANCE_SUIVI``: one row per enrolment and calendar month monitored (days monitored, pauses
  excluded; days with at least one reading; whether the enrolment started that month);
- ``OP_TELESURVEILLANCE_ALERTES``: one row per alert (programme, team, opening day, severity, non-transmission).

No operational identifier other than the pseudonym reaches the warehouse (no request, enrolment or alert id).
The indicators are Ibis expressions, run unchanged on DuckDB and Spark, with their margins (all lines, all
requesting establishments, all programmes; months and year) computed by the expression, and pass the gate.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import inspect, select

from maillage.analytics import indicators as ind
from maillage.analytics.extract import (
    OP_TELEMEDICINE_SCHEMA,
    OP_TELEMEDICINE_TABLE,
    PSEUDONYM_COLUMN,
    ExtractionContext,
    Extractor,
)
from maillage.exceptions import NotFound
from maillage.kit.clock import now
from maillage.patient import consent

UNKNOWN = "Non renseigné"
TE_REQUESTS_TABLE = "OP_TELEEXPERTISE_DEMANDES"
MONITORING_TABLE = "OP_TELESURVEILLANCE_SUIVI"
ALERTS_TABLE = "OP_TELESURVEILLANCE_ALERTES"

# Orientation codes of teleexpertise.rules → the measure that counts them.
ORIENTATIONS: dict[str, str] = {
    "advice_only": "avis_seul",
    "act_relevant": "acte_pertinent",
    "act_not_relevant": "acte_non_pertinent",
    "teleconsultation": "orientation_teleconsultation",
    "consultation": "orientation_consultation",
    "scheduled_hospitalisation": "hospitalisation_programmee",
    "urgent_transfer": "transfert_urgent",
}
ORIENTATION_LABELS: dict[str, str] = {
    "avis_seul": "Avis seul",
    "acte_pertinent": "Acte jugé pertinent",
    "acte_non_pertinent": "Acte jugé non pertinent",
    "orientation_teleconsultation": "Orientation en téléconsultation",
    "orientation_consultation": "Orientation en consultation",
    "hospitalisation_programmee": "Hospitalisation programmée",
    "transfert_urgent": "Transfert urgent",
}

TE_REQUESTS_SCHEMA = pa.schema([
    pa.field(PSEUDONYM_COLUMN, pa.string()),
    pa.field("ligne", pa.string()),
    pa.field("specialite", pa.string()),
    pa.field("etablissement_demandeur", pa.string()),
    pa.field("urgence", pa.string()),
    pa.field("statut", pa.string()),
    pa.field("date_demande", pa.date32()),
    pa.field("repondue", pa.bool_()),
    pa.field("delai_reponse_minutes", pa.int64()),
    pa.field("dans_les_delais", pa.bool_()),
    pa.field("orientation", pa.string()),
])
MONITORING_SCHEMA = pa.schema([
    pa.field(PSEUDONYM_COLUMN, pa.string()),
    pa.field("programme", pa.string()),
    pa.field("equipe", pa.string()),
    pa.field("mois", pa.date32()),
    pa.field("jours_suivis", pa.int32()),
    pa.field("jours_avec_mesure", pa.int32()),
    pa.field("debut_inclusion", pa.bool_()),
])
ALERTS_SCHEMA = pa.schema([
    pa.field(PSEUDONYM_COLUMN, pa.string()),
    pa.field("programme", pa.string()),
    pa.field("equipe", pa.string()),
    pa.field("date_ouverture", pa.date32()),
    pa.field("gravite", pa.string()),
    pa.field("absence_transmission", pa.bool_()),
])


def _has_table(session: Any, name: str) -> bool:
    # On the session's own connection: a second connection would wait behind the session's transaction (SQLite
    # takes its lock at BEGIN) and fail with "database is locked".
    return bool(inspect(session.connection()).has_table(name))


def communes_of_residence(session: Any) -> dict[Any, str | None]:
    """Each patient's commune of residence, for the extracts that place activity on the map (``analytics.activity``):
    read here, the one analytics module allowed to read the identity table (tests/test_patient_tables.py)."""
    from maillage.models.patient import Patient

    return {i: c for i, c in session.execute(select(Patient.id, Patient.commune_insee))}


def _session(context: ExtractionContext, *tables: str) -> Any:
    """The operational session; LookupError (the extractor is skipped) when there is none or a table is absent."""
    if context.session is None:
        raise LookupError("pas de base opérationnelle dans ce contexte d'extraction")
    missing = [t for t in tables if not _has_table(context.session, t)]
    if missing:
        raise LookupError(f"tables opérationnelles absentes : {', '.join(missing)}")
    return context.session


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _minutes(start: dt.datetime, end: dt.datetime) -> int:
    return int((_utc(end) - _utc(start)).total_seconds() // 60)


def _establishment_names(session: Any, ids: Iterable[Any]) -> dict[Any, str]:
    from maillage.models.directory import Establishment

    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(Establishment.id, Establishment.name).where(Establishment.id.in_(wanted)))
    return {i: name for i, name in rows}


# --- objections ----------------------------------------------------------------------------------------------------
def data_reuse_objections(session: Any) -> list[str]:
    """The patients who object to the reuse of their data, by the patient's own rule
    (``maillage.patient.consent.objects_to_data_reuse``): a person's latest ``data_reuse`` choice, on whichever of
    their merged records, decides, and it covers every record merged into the same person."""
    if session is None or not _has_table(session, "patient_consent"):
        return []  # no consent table on this installation: no objection can have been recorded
    return sorted(str(p) for p in consent.objects_to_data_reuse(session))


# --- tele-expertise extractors ------------------------------------------------------------------------------------
def fetch_teleexpertise_requests(context: ExtractionContext) -> pa.Table:
    from maillage.models.directory import SpecialtyLine
    from maillage.models.teleexpertise import TeleexpertiseRequest as Req

    session = _session(context, "teleexpertise_request", "specialty_line")
    rows = session.execute(
        select(Req.patient_id, SpecialtyLine.title, SpecialtyLine.specialty_code, Req.requester_establishment_id,
               Req.urgency, Req.status, Req.submitted_at, Req.due_at, Req.signed_at, Req.orientation)
        .join(SpecialtyLine, SpecialtyLine.id == Req.line_id)
        .where(Req.submitted_at.is_not(None))
    ).all()
    names = _establishment_names(session, (r[3] for r in rows))
    columns: dict[str, list[Any]] = {name: [] for name in ["patient_id", *TE_REQUESTS_SCHEMA.names[1:]]}
    for patient_id, title, specialty, establishment, urgency, status, submitted, due, signed, orientation in rows:
        answered = status == "completed" and signed is not None
        columns["patient_id"].append(str(patient_id))
        columns["ligne"].append(title)
        columns["specialite"].append(specialty)
        columns["etablissement_demandeur"].append(names.get(establishment, UNKNOWN))
        columns["urgence"].append(urgency)
        columns["statut"].append(status)
        columns["date_demande"].append(_utc(submitted).date())
        columns["repondue"].append(answered)
        columns["delai_reponse_minutes"].append(_minutes(submitted, signed) if answered else None)
        columns["dans_les_delais"].append((_utc(signed) <= _utc(due)) if answered and due is not None else None)
        columns["orientation"].append(orientation if answered else None)
    schema = pa.schema([pa.field("patient_id", pa.string()), *list(TE_REQUESTS_SCHEMA)[1:]])
    return pa.table(columns, schema=schema)


def fetch_teleexpertise_acts(context: ExtractionContext) -> pa.Table:
    """The requis's acts (TE2): one tele-expertise each; the requester's RQD would count the same one twice."""
    from maillage.models.directory import SpecialtyLine
    from maillage.models.patient import Patient
    from maillage.models.teleexpertise import TeleexpertiseAct as Act
    from maillage.models.teleexpertise import TeleexpertiseRequest as Req

    session = _session(context, "teleexpertise_act", "teleexpertise_request", "patient")
    rows = session.execute(
        select(Act.patient_id, Patient.commune_insee, Act.act_date, SpecialtyLine.establishment_id,
               SpecialtyLine.specialty_code)
        .join(Req, Req.id == Act.request_id)
        .join(SpecialtyLine, SpecialtyLine.id == Req.line_id)
        .join(Patient, Patient.id == Act.patient_id)
        .where(Act.code == "TE2")
    ).all()
    names = _establishment_names(session, (r[3] for r in rows))
    schema = pa.schema([pa.field("patient_id", pa.string()), *list(OP_TELEMEDICINE_SCHEMA)[1:]])
    return pa.table({
        "patient_id": [str(r[0]) for r in rows],
        "commune_residence": [r[1] for r in rows],
        "date_acte": [r[2] for r in rows],
        "nature": ["te"] * len(rows),
        "etablissement": [names.get(r[3], UNKNOWN) for r in rows],
        "specialite": [r[4] for r in rows],
    }, schema=schema)


# --- telesurveillance extractors ---------------------------------------------------------------------------------
def _month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def monitored_days(starts_on: dt.date, last_day: dt.date, pauses: Iterable[tuple[dt.date, dt.date | None]],
                   today: dt.date) -> list[dt.date]:
    """Days of an enrolment that count as monitored: from its start to its last day (not after today), minus the
    days a pause covers (a pause from day a to day b covers a … b-1; an open pause runs to today included)."""
    end = min(last_day, today)
    paused: set[dt.date] = set()
    for start, stop in pauses:
        stop_excl = (stop if stop is not None else today + dt.timedelta(days=1))
        day = start
        while day < stop_excl:
            paused.add(day)
            day += dt.timedelta(days=1)
    days, day = [], starts_on
    while day <= end:
        if day not in paused:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def fetch_monitoring(context: ExtractionContext) -> pa.Table:
    from maillage.models.monitoring import MonitoringEnrolment as Enr
    from maillage.models.monitoring import MonitoringPause, MonitoringReading, MonitoringTeam

    session = _session(context, "monitoring_enrolment", "monitoring_pause", "monitoring_reading")
    today = now().date()
    enrolments = session.execute(
        select(Enr.id, Enr.patient_id, Enr.programme, MonitoringTeam.name, Enr.starts_on, Enr.ends_on, Enr.ended_at)
        .join(MonitoringTeam, MonitoringTeam.id == Enr.team_id)
    ).all()
    pauses: dict[Any, list[tuple[dt.date, dt.date | None]]] = {}
    for enrolment_id, starts_at, ends_at in session.execute(
            select(MonitoringPause.enrolment_id, MonitoringPause.starts_at, MonitoringPause.ends_at)):
        pauses.setdefault(enrolment_id, []).append(
            (_utc(starts_at).date(), _utc(ends_at).date() if ends_at is not None else None))
    read_days: dict[Any, set[dt.date]] = {}
    for enrolment_id, day in session.execute(
            select(MonitoringReading.enrolment_id, MonitoringReading.local_day)
            .where(MonitoringReading.status == "monitored").distinct()):
        read_days.setdefault(enrolment_id, set()).add(day)
    columns: dict[str, list[Any]] = {name: [] for name in ["patient_id", *MONITORING_SCHEMA.names[1:]]}
    for enrolment_id, patient_id, programme, team, starts_on, ends_on, ended_at in enrolments:
        last = ends_on if ended_at is None else min(ends_on, _utc(ended_at).date())
        days = monitored_days(starts_on, last, pauses.get(enrolment_id, []), today)
        with_reading = read_days.get(enrolment_id, set())
        for month, group in itertools.groupby(days, key=_month_start):
            month_days = list(group)
            columns["patient_id"].append(str(patient_id))
            columns["programme"].append(programme)
            columns["equipe"].append(team)
            columns["mois"].append(month)
            columns["jours_suivis"].append(len(month_days))
            columns["jours_avec_mesure"].append(sum(1 for d in month_days if d in with_reading))
            columns["debut_inclusion"].append(_month_start(starts_on) == month)
    schema = pa.schema([pa.field("patient_id", pa.string()), *list(MONITORING_SCHEMA)[1:]])
    return pa.table(columns, schema=schema)


def fetch_alerts(context: ExtractionContext) -> pa.Table:
    from maillage.models.monitoring import MonitoringAlert as Alert
    from maillage.models.monitoring import MonitoringEnrolment as Enr
    from maillage.models.monitoring import MonitoringTeam

    session = _session(context, "monitoring_alert", "monitoring_enrolment")
    rows = session.execute(
        select(Alert.patient_id, Enr.programme, MonitoringTeam.name, Alert.opened_at, Alert.severity, Alert.silence)
        .join(Enr, Enr.id == Alert.enrolment_id)
        .join(MonitoringTeam, MonitoringTeam.id == Alert.team_id)
    ).all()
    schema = pa.schema([pa.field("patient_id", pa.string()), *list(ALERTS_SCHEMA)[1:]])
    return pa.table({
        "patient_id": [str(r[0]) for r in rows],
        "programme": [r[1] for r in rows],
        "equipe": [r[2] for r in rows],
        "date_ouverture": [_utc(r[3]).date() for r in rows],
        "gravite": [r[4] for r in rows],
        "absence_transmission": [bool(r[5]) for r in rows],
    }, schema=schema)


TELEEXPERTISE_ACTS_EXTRACTOR = Extractor(
    name="teleexpertise-actes", table=OP_TELEMEDICINE_TABLE, schema=OP_TELEMEDICINE_SCHEMA,
    fetch=fetch_teleexpertise_acts, patient_column="patient_id",
    description="Actes de téléexpertise du requis (TE2) : commune de résidence du patient, date, spécialité.",
)
TELEEXPERTISE_REQUESTS_EXTRACTOR = Extractor(
    name="teleexpertise-demandes", table=TE_REQUESTS_TABLE, schema=TE_REQUESTS_SCHEMA,
    fetch=fetch_teleexpertise_requests, patient_column="patient_id",
    description="Demandes de téléexpertise soumises : filière, établissement demandeur, délai, orientation.",
)
MONITORING_EXTRACTOR = Extractor(
    name="telesurveillance-suivi", table=MONITORING_TABLE, schema=MONITORING_SCHEMA,
    fetch=fetch_monitoring, patient_column="patient_id",
    description="Inclusions en télésurveillance par mois : jours suivis (pauses exclues), jours avec mesure.",
)
ALERTS_EXTRACTOR = Extractor(
    name="telesurveillance-alertes", table=ALERTS_TABLE, schema=ALERTS_SCHEMA,
    fetch=fetch_alerts, patient_column="patient_id",
    description="Alertes de télésurveillance : programme, équipe, jour d'ouverture, gravité.",
)


EXTRACTORS = (
    TELEEXPERTISE_ACTS_EXTRACTOR, TELEEXPERTISE_REQUESTS_EXTRACTOR, MONITORING_EXTRACTOR, ALERTS_EXTRACTOR,
)


# --- indicators ------------------------------------------------------------------------------------------------------
def expand_groups(frame: ir.Table, groups: tuple[str, ...], year: int) -> ir.Table:
    """Repeat each row once per published level: each group column as itself or ``ENSEMBLE``, the month or the
    year (``mois`` is an integer YYYYMM), so that every cell and margin comes out of one aggregation."""
    levels: dict[str, list[Any]] = {f"_tous_{g}": [] for g in groups}
    levels["niveau_periode"] = []
    for flags in itertools.product((False, True), repeat=len(groups)):
        for period in ind.PERIOD_LEVELS:
            for g, flag in zip(groups, flags, strict=True):
                levels[f"_tous_{g}"].append(flag)
            levels["niveau_periode"].append(period)
    expanded = frame.cross_join(ibis.memtable(levels))
    values: dict[str, ir.Value] = {
        g: ibis.ifelse(expanded[f"_tous_{g}"], ibis.literal(ind.TOTAL), expanded[g]) for g in groups
    }
    values["periode"] = ibis.ifelse(expanded.niveau_periode == "mois", ind._month_label(expanded.mois),
                                    ibis.literal(str(year)))
    return expanded.mutate(**values).view()


def _year_window(column: ir.DateValue, year: int) -> ir.BooleanValue:
    return (column >= ibis.date(dt.date(year, 1, 1))) & (column < ibis.date(dt.date(year + 1, 1, 1)))


def _ratio(num: ir.NumericValue, den: ir.NumericValue) -> ir.FloatingValue:
    return ibis.ifelse(den > 0, num.cast("float64") / den.cast("float64"), ibis.null("float64"))


def _require(tables: Mapping[str, ir.Table], name: str) -> ir.Table:
    if name not in tables:
        raise NotFound("Aucune donnée opérationnelle correspondante dans l'entrepôt : lancez l'extraction.")
    return tables[name]


def build_teleexpertise(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
    year = int(params["annee"])
    req = _require(tables, TE_REQUESTS_TABLE)
    req = req.filter(_year_window(req.date_demande, year))
    answered = req.repondue.fill_null(False)
    facts = req.select(
        pid=req[PSEUDONYM_COLUMN],
        ligne=req.ligne.fill_null(UNKNOWN),
        etablissement_demandeur=req.etablissement_demandeur.fill_null(UNKNOWN),
        mois=ind._month_key(req.date_demande),
        repondue=ibis.ifelse(answered, 1, 0),
        refusee=ibis.ifelse(req.statut == "declined", 1, 0),
        delai=ibis.ifelse(answered, req.delai_reponse_minutes, ibis.literal(0, "int64")),
        dans_les_delais=ibis.ifelse(answered & req.dans_les_delais.fill_null(False), 1, 0),
        **{name: ibis.ifelse(answered & (req.orientation == code), 1, 0) for code, name in ORIENTATIONS.items()},
    )
    groups = ("ligne", "etablissement_demandeur")
    x = expand_groups(facts, groups, year)
    cells = x.group_by([*groups, "niveau_periode", "periode"]).aggregate(
        patients=x.pid.nunique(),
        demandes=x.count(),
        repondues=x.repondue.sum(),
        refusees=x.refusee.sum(),
        delai_total=x.delai.sum(),
        dans_les_delais=x.dans_les_delais.sum(),
        **{name: x[name].sum() for name in ORIENTATIONS.values()},
    )
    return cells.mutate(
        delai_moyen_heures=_ratio(cells.delai_total, cells.repondues * 60),
        part_dans_les_delais=_ratio(cells.dans_les_delais, cells.repondues),
        annee=ibis.literal(year),
    ).drop("delai_total")


def build_telemonitoring(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
    year = int(params["annee"])
    follow = _require(tables, MONITORING_TABLE)
    follow = follow.filter(_year_window(follow.mois, year), follow.jours_suivis > 0)
    alerts = _require(tables, ALERTS_TABLE)
    alerts = alerts.filter(_year_window(alerts.date_ouverture, year))
    zero = ibis.literal(0, "int64")
    monitored = follow.select(
        pid=follow[PSEUDONYM_COLUMN], programme=follow.programme, mois=ind._month_key(follow.mois),
        pid_suivi=follow[PSEUDONYM_COLUMN],
        inclusions=ibis.ifelse(follow.debut_inclusion, 1, 0).cast("int64"),
        mois_suivis=ibis.literal(1, "int64"),
        jours_suivis=follow.jours_suivis.cast("int64"),
        jours_avec_mesure=follow.jours_avec_mesure.cast("int64"),
        alertes=zero, alertes_rouges=zero, alertes_absence=zero,
    )
    raised = alerts.select(
        pid=alerts[PSEUDONYM_COLUMN], programme=alerts.programme, mois=ind._month_key(alerts.date_ouverture),
        pid_suivi=ibis.null("string"),
        inclusions=zero, mois_suivis=zero, jours_suivis=zero, jours_avec_mesure=zero,
        alertes=ibis.literal(1, "int64"),
        alertes_rouges=ibis.ifelse(alerts.gravite == "red", 1, 0).cast("int64"),
        alertes_absence=ibis.ifelse(alerts.absence_transmission, 1, 0).cast("int64"),
    )
    facts = monitored.union(raised)
    x = expand_groups(facts, ("programme",), year)
    sums = ["inclusions", "mois_suivis", "jours_suivis", "jours_avec_mesure", "alertes", "alertes_rouges",
            "alertes_absence"]
    cells = x.group_by(["programme", "niveau_periode", "periode"]).aggregate(
        patients=x.pid_suivi.nunique(), **{name: x[name].sum() for name in sums}
    )
    return cells.mutate(
        observance=_ratio(cells.jours_avec_mesure, cells.jours_suivis),
        alertes_par_patient_mois=_ratio(cells.alertes, cells.mois_suivis),
        annee=ibis.literal(year),
    )


TELEEXPERTISE = ind.Indicator(
    code="teleexpertise-reponses",
    label="Téléexpertise : délais de réponse et orientations",
    description=(
        "Demandes de téléexpertise soumises dans Maillage par filière de spécialité et établissement demandeur, "
        "par mois : demandes, réponses, refus, délai moyen entre la soumission et l'avis signé (en heures, "
        "pauses de questions comprises), part des avis rendus dans le délai engagé par la filière, et "
        "orientations données par le requis. Source : extraction opérationnelle pseudonymisée."
    ),
    unit="demandes par mois",
    version="1.0",
    measures=(
        ind.Measure("patients", "Patients", "patients", "patients"),
        ind.Measure("demandes", "Demandes soumises", "demandes", "count"),
        ind.Measure("repondues", "Avis rendus", "demandes", "count"),
        ind.Measure("refusees", "Demandes refusées", "demandes", "count"),
        ind.Measure("delai_moyen_heures", "Délai moyen de réponse", "heures", "ratio", 1),
        ind.Measure("dans_les_delais", "Avis rendus dans le délai engagé", "demandes", "count"),
        ind.Measure("part_dans_les_delais", "Part des avis dans le délai engagé", "proportion", "ratio", 3),
        *(ind.Measure(name, ORIENTATION_LABELS[name], "demandes", "count") for name in ORIENTATIONS.values()),
    ),
    dimensions=("periode",),
    groups=("ligne", "etablissement_demandeur"),
    parameters=(ind.Parameter("annee", "Année de soumission", ind.CURRENT_YEAR_DEFAULT),),
    build=build_teleexpertise,
    tables=(TE_REQUESTS_TABLE,),
    patients=("patients",),
    # Each patient made at least one request; answers and refusals are requests; answers within the committed time
    # and orientations are answers.
    relations=(
        (("patients",), ("demandes",), 1.0),
        (("repondues", "refusees"), ("demandes",), 1.0),
        (("dans_les_delais",), ("repondues",), 1.0),
        (tuple(ORIENTATIONS.values()), ("repondues",), 1.0),
    ),
    chart="line",
    main_measure="delai_moyen_heures",
)

TELEMONITORING = ind.Indicator(
    code="telesurveillance",
    label="Télésurveillance : cohortes, alertes et observance",
    description=(
        "Patients télésurveillés par programme et par mois (au moins un jour suivi, pauses exclues), nouvelles "
        "inclusions, mois-patients de suivi, alertes ouvertes (dont rouges et absences de transmission) "
        "rapportées aux mois-patients, et observance : part des jours suivis avec au moins une mesure transmise. "
        "Source : extraction opérationnelle pseudonymisée."
    ),
    unit="patients par mois",
    version="1.0",
    measures=(
        ind.Measure("patients", "Patients suivis", "patients", "patients"),
        ind.Measure("inclusions", "Nouvelles inclusions", "inclusions", "count"),
        ind.Measure("mois_suivis", "Mois-patients de suivi", "mois-patients", "count"),
        ind.Measure("jours_suivis", "Jours suivis", "jours", "count"),
        ind.Measure("jours_avec_mesure", "Jours avec au moins une mesure", "jours", "count"),
        ind.Measure("observance", "Observance (jours avec mesure / jours suivis)", "proportion", "ratio", 3),
        ind.Measure("alertes", "Alertes", "alertes", "count"),
        ind.Measure("alertes_rouges", "Alertes rouges", "alertes", "count"),
        ind.Measure("alertes_absence", "Alertes d'absence de transmission", "alertes", "count"),
        ind.Measure("alertes_par_patient_mois", "Alertes par mois-patient", "alertes/mois-patient", "ratio", 3),
    ),
    dimensions=("periode",),
    groups=("programme",),
    parameters=(ind.Parameter("annee", "Année de suivi", ind.CURRENT_YEAR_DEFAULT),),
    build=build_telemonitoring,
    tables=(MONITORING_TABLE, ALERTS_TABLE),
    patients=("patients",),
    # A patient monitored has at least one patient-month, each of at least one and at most 31 days; alerts by kind
    # are among the alerts.
    relations=(
        (("patients",), ("mois_suivis",), 1.0),
        (("inclusions",), ("mois_suivis",), 1.0),
        (("mois_suivis",), ("jours_suivis",), 1.0),
        (("jours_suivis",), ("mois_suivis",), 31.0),
        (("jours_avec_mesure",), ("jours_suivis",), 1.0),
        (("alertes_rouges",), ("alertes",), 1.0),
        (("alertes_absence",), ("alertes",), 1.0),
    ),
    chart="line",
    main_measure="patients",
)
