"""Reference values and per-patient overrides of a programme's rules, checked, then resolved into the
patient's effective rules. No I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from maillage.exceptions import ValidationFailed
from maillage.monitoring.rules.alerting import REFERENCES, ReferenceGainRule, Rule, SilenceRule, ThresholdRule
from maillage.monitoring.rules.measures import MEASURES, format_value
from maillage.monitoring.rules.programmes import Programme

PARAM_BOUNDS: dict[str, tuple[float, float]] = {"days": (1, 14)}
MIN_SILENCE_HOURS = 12.0  # shorter than half a day would raise an alert between two normal daily transmissions


def check_references(programme: Programme, values: Mapping[str, Any]) -> dict[str, float]:
    """The reference values of an enrolment: required ones present, each within its measure's plausible range."""
    problems: list[dict[str, str]] = []
    out: dict[str, float] = {}
    for key, raw in values.items():
        if key not in programme.references:
            problems.append({"field": f"references.{key}", "message": "Valeur de référence inconnue pour ce "
                                                                        "programme."})
            continue
        if raw is None:
            continue
        spec = REFERENCES[key]
        measure = MEASURES[spec.measure]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(float(raw)):
            problems.append({"field": f"references.{key}", "message": "Valeur numérique attendue."})
            continue
        if not measure.low <= float(raw) <= measure.high:
            problems.append({"field": f"references.{key}",
                             "message": f"{spec.label} hors de la plage plausible ({format_value(measure, measure.low)}"
                                        f" à {format_value(measure, measure.high)})."})
            continue
        out[key] = float(raw)
    for key in programme.references:
        if REFERENCES[key].required and key not in out:
            problems.append({"field": f"references.{key}", "message": f"{REFERENCES[key].label} : valeur obligatoire "
                                                                      "pour ce programme."})
    if problems:
        raise ValidationFailed("Valeurs de référence invalides.", details=problems)
    return out


def check_overrides(programme: Programme, overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-patient overrides: ``{rule_key: {"enabled": bool, <param>: number}}``; mandatory rules stay on."""
    problems: list[dict[str, str]] = []
    out: dict[str, dict[str, Any]] = {}
    known = {r.key: r for r in programme.rules}
    for key, change in overrides.items():
        rule = known.get(key)
        if rule is None:
            problems.append({"field": f"overrides.{key}", "message": "Règle inconnue pour ce programme."})
            continue
        if not isinstance(change, Mapping):
            problems.append({"field": f"overrides.{key}", "message": "Objet attendu."})
            continue
        clean: dict[str, Any] = {}
        for param, raw in change.items():
            if param == "enabled":
                if not isinstance(raw, bool):
                    problems.append({"field": f"overrides.{key}.enabled", "message": "Vrai ou faux attendu."})
                elif not raw and (rule.mandatory or (isinstance(rule, SilenceRule)
                                                     and programme.requires_silence_alert)):
                    problems.append({"field": f"overrides.{key}.enabled",
                                     "message": "Cette alerte est obligatoire et ne peut pas être désactivée."})
                else:
                    clean["enabled"] = raw
                continue
            if param not in rule.params:
                problems.append({"field": f"overrides.{key}.{param}", "message": "Paramètre inconnu pour cette règle."})
                continue
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(float(raw)):
                problems.append({"field": f"overrides.{key}.{param}", "message": "Valeur numérique attendue."})
                continue
            number = float(raw)
            low, high = param_bounds(programme, rule, param)
            if isinstance(rule, SilenceRule) and param == "hours" and not low <= number <= high:
                problems.append({"field": f"overrides.{key}.{param}", "message": f"Délai hors limites ({low:g} "
                                 f"à {high:g} h pour ce programme) : {programme.silence_bound}."})
                continue
            if not low <= number <= high:
                problems.append({"field": f"overrides.{key}.{param}",
                                 "message": f"Valeur hors limites ({low:g} à {high:g})."})
                continue
            clean[param] = int(number) if param == "days" else number
        if clean:
            out[key] = clean
    if problems:
        raise ValidationFailed("Réglages d'alerte invalides.", details=problems)
    return out


def param_bounds(programme: Programme, rule: Rule, param: str) -> tuple[float, float]:
    """The bounds an operator may set a rule's parameter within, for this programme (shown by the settings page)."""
    if isinstance(rule, SilenceRule) and param == "hours":
        return MIN_SILENCE_HOURS, programme.max_silence_hours
    if param in PARAM_BOUNDS:
        return PARAM_BOUNDS[param]
    measure = MEASURES[rule.measure]
    if param == "value":
        return measure.low, measure.high
    return 0.1, (measure.high - measure.low) / 2  # a gain


def resolve_rules(programme: Programme, references: Mapping[str, float],
                  overrides: Mapping[str, Mapping[str, Any]]) -> tuple[Rule, ...]:
    """The patient's effective rules: defaults, then reference values, then the operator's overrides."""
    out: list[Rule] = []
    for rule in programme.rules:
        change: dict[str, Any] = dict(overrides.get(rule.key, {}))
        if isinstance(rule, ThresholdRule) and rule.reference:
            ref = references.get(rule.reference)
            if ref is None and rule.reference in programme.references:
                ref = REFERENCES[rule.reference].default
            if ref is not None and "value" not in change:
                change["value"] = ref
        if isinstance(rule, ReferenceGainRule):
            change["reference_value"] = references.get(rule.reference)
        if isinstance(rule, SilenceRule) and programme.requires_silence_alert:
            change["enabled"] = True
        if isinstance(rule, SilenceRule) and change.get("hours", 0) > programme.max_silence_hours:
            change["hours"] = programme.max_silence_hours  # a period stored before the bound existed
        out.append(replace(rule, **change) if change else rule)
    return tuple(out)


def settings_changes(references_before: Mapping[str, Any], overrides_before: Mapping[str, Any],
                     references_after: Mapping[str, Any],
                     overrides_after: Mapping[str, Any]) -> dict[str, str | int | bool | None]:
    """What a change of an enrolment's settings changed, old → new, as flat audit details (numbers and switches
    only, both checked): ``{"dry_weight": "62.0 → 60.0", "weight_gain_3d": "{} → {'kg': 1.5}"}``, so that whoever
    asks later why an alert did not fire finds when its threshold moved and by whom."""
    out: dict[str, str | int | bool | None] = {}
    for before, after in ((references_before, references_after), (overrides_before, overrides_after)):
        for key in sorted(set(before) | set(after)):
            old, new = before.get(key), after.get(key)
            if old != new:
                out[key[:64]] = f"{old if old is not None else '—'} → {new if new is not None else '—'}"[:256]
    return out
