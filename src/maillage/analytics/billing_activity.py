"""Billed telemedicine activity and its value per site (FINESS), partner type and modality, per month (issue 23,
steering indicators fed by billing).

One operational extract (``OP_FACTURATION_TELEMEDECINE``), one row per act of the billing ledger marked **billed**
by the billing office (``billing_entry`` with status ``billed``): its site is the place of the act as billing
records it (the establishment and its FINESS), the partner type is the kind of that establishment in the directory
(``activity.partner_type``), the modality follows the NGAP code (TE2 and RQD: tele-expertise; TCG, TC and the
nurse's accompaniment TLS/TLL/TLD: teleconsultation; the operator forfaits: telesurveillance), and the amount is the
ledger's, in cents. The patient is pseudonymised by the extraction, as every extract; acts not (yet) billed, rejected
or corrected are not counted, so the value is what the establishment claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from sqlalchemy import select

from maillage.analytics import indicators as ind
from maillage.analytics.activity import partner_type
from maillage.analytics.clinical import UNKNOWN, _require, _session, _year_window, expand_groups
from maillage.analytics.extract import PSEUDONYM_COLUMN, ExtractionContext, Extractor
from maillage.billing import rules as billing_rules

BILLED_TABLE = "OP_FACTURATION_TELEMEDECINE"
# The modality of a code, from billing's own code families (nurse assistance is part of a teleconsultation).
MODALITY_OF_FAMILY = ((billing_rules.TE_CODES, "te"),
                      (billing_rules.TELECONSULTATION_CODES | billing_rules.ASSISTANCE_CODES, "tc"),
                      (billing_rules.FORFAIT_CODES, "ts"))


def modality_of(code: str) -> str:
    return next((modality for codes, modality in MODALITY_OF_FAMILY if code in codes), "autre")

BILLED_SCHEMA = pa.schema([
    pa.field(PSEUDONYM_COLUMN, pa.string()),
    pa.field("finess", pa.string()),
    pa.field("type_partenaire", pa.string()),
    pa.field("modalite", pa.string()),
    pa.field("code", pa.string()),
    pa.field("date_acte", pa.date32()),
    pa.field("montant_centimes", pa.int64()),
])


def fetch_billed(context: ExtractionContext) -> pa.Table:
    from maillage.models.billing import BillingEntry
    from maillage.models.directory import Establishment

    session = _session(context, "billing_entry", "establishment")
    rows = session.execute(
        select(BillingEntry.patient_id, BillingEntry.finess, Establishment.kind, Establishment.ght_role,
               BillingEntry.code, BillingEntry.act_date, BillingEntry.amount)
        .outerjoin(Establishment, Establishment.id == BillingEntry.establishment_id)
        .where(BillingEntry.status == "billed")).all()
    schema = pa.schema([pa.field("patient_id", pa.string()), *list(BILLED_SCHEMA)[1:]])
    return pa.table({
        "patient_id": [str(r[0]) for r in rows],
        "finess": [r[1] or UNKNOWN for r in rows],
        "type_partenaire": [partner_type(r[2], r[3]) for r in rows],
        "modalite": [modality_of(r[4]) for r in rows],
        "code": [r[4] for r in rows],
        "date_acte": [r[5] for r in rows],
        "montant_centimes": [int(Decimal(r[6]) * 100) for r in rows],
    }, schema=schema)


BILLED_EXTRACTOR = Extractor(
    name="facturation-telemedecine", table=BILLED_TABLE, schema=BILLED_SCHEMA, fetch=fetch_billed,
    patient_column="patient_id",
    description="Actes de télémédecine facturés (registre de la facturation) : FINESS du site, type de partenaire, "
                "modalité, code NGAP, date et montant.",
)


def _builder(groups: tuple[str, ...]) -> Any:
    def build(tables: Mapping[str, ir.Table], params: dict[str, Any]) -> ir.Table:
        year = int(params["annee"])
        acts = _require(tables, BILLED_TABLE)
        acts = acts.filter(_year_window(acts.date_acte, year))
        facts = acts.select(
            pid=acts[PSEUDONYM_COLUMN],
            finess=acts.finess.fill_null(UNKNOWN),
            type_partenaire=acts.type_partenaire.fill_null("other"),
            modalite=acts.modalite,
            mois=ind._month_key(acts.date_acte),
            centimes=acts.montant_centimes,
        )
        x = expand_groups(facts, groups, year)
        cells = x.group_by([*groups, "niveau_periode", "periode"]).aggregate(
            patients=x.pid.nunique(), actes=x.count(), centimes=x.centimes.sum())
        # Whole euros, rounded half up in integer arithmetic (the same on every engine): a published amount is a
        # count the gate rounds and its attacker models, not a decimal that would escape both.
        return cells.mutate(montant_euros=((cells.centimes + 50) // 100).cast("int64"),
                            annee=ibis.literal(year)).drop("centimes")
    return build


MEASURES = (
    ind.Measure("patients", "Patients", "patients", "patients"),
    ind.Measure("actes", "Actes facturés", "actes", "count"),
    ind.Measure("montant_euros", "Montant facturé (euros arrondis)", "euros", "count"),
)
# Each patient had at least one billed act.
RELATIONS = ((("patients",), ("actes",), 1.0),)
DESCRIPTION = ("Actes de télémédecine facturés par l'établissement, par mois, et leur montant (tarif NGAP à la date "
               "de l'acte) : téléexpertise (TE2, RQD), téléconsultation (TCG, TC et accompagnement infirmier), "
               "forfaits de télésurveillance. Le site est le lieu de l'acte (FINESS), le type de partenaire celui de "
               "l'établissement dans l'annuaire. Seuls les actes marqués facturés comptent. Source : registre de "
               "facturation, extraction opérationnelle pseudonymisée.")


def _indicator(code: str, label: str, groups: tuple[str, ...]) -> ind.Indicator:
    return ind.Indicator(
        code=code, label=label, description=DESCRIPTION, unit="actes facturés par mois", version="1.0",
        measures=MEASURES, dimensions=("periode",), groups=groups,
        parameters=(ind.Parameter("annee", "Année de l'acte", ind.CURRENT_YEAR_DEFAULT),),
        build=_builder(groups), tables=(BILLED_TABLE,), patients=("patients",), relations=RELATIONS,
        chart="line", main_measure="actes",
    )


BY_PARTNER = _indicator("facturation-partenaires",
                        "Activité de télémédecine facturée et sa valeur par type de partenaire et modalité",
                        ("type_partenaire", "modalite"))
BY_SITE = _indicator("facturation-sites",
                     "Activité de télémédecine facturée et sa valeur par site (FINESS) et modalité",
                     ("finess", "modalite"))
