"""FHIR R4 ingestion: ``Observation`` and ``Bundle`` (batch or transaction) → the one ingestion pipeline.

Resources are validated with the ``fhir.resources.R4B`` models (fhir.resources 8 defaults to R5; the
Observation and Bundle structures used here are the same in R4 and R4B). Each Observation must carry the
device's own identifier for the reading (``identifier[0].value``): it is the idempotency key with the device.
A blood-pressure panel (LOINC 85354-9) gives one reading per component, keyed ``<identifier>#<code>``.

A ``batch`` Bundle is processed entry by entry (a refused entry does not stop the others); a ``transaction``
Bundle is all-or-nothing, as FHIR requires: one refused entry refuses the whole Bundle and nothing is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from pydantic import ValidationError

from maillage.exceptions import ValidationFailed
from maillage.monitoring.ingest import Incoming, Outcome
from maillage.monitoring.rules.measures import ReadingRejected, find_measure

ACCEPTED_STATUSES = frozenset({"final", "amended", "corrected"})
MAX_BUNDLE_ENTRIES = 5000
FHIR_JSON = "application/fhir+json"


@dataclass
class EntryReadings:
    """The readings one Observation gives, or why it was refused."""

    index: int
    readings: list[Incoming] = field(default_factory=list)
    error: ReadingRejected | None = None


def _problems(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{loc} : {err.get('msg', '')}" if loc else str(err.get("msg", "")))
    return "Ressource FHIR invalide : " + " ; ".join(parts)


def _subject(obs: Observation) -> uuid.UUID | None:
    reference = getattr(getattr(obs, "subject", None), "reference", None) or ""
    if reference.startswith("Patient/"):
        try:
            return uuid.UUID(reference.removeprefix("Patient/"))
        except ValueError:
            return None  # another identifier system (INS...): the device assignment decides
    return None


def _quantity(element: Any) -> tuple[Any, str | None] | None:
    quantity = getattr(element, "valueQuantity", None)
    if quantity is not None and quantity.value is not None:
        return float(quantity.value), quantity.code or quantity.unit
    integer = getattr(element, "valueInteger", None)
    if integer is not None:
        return integer, None
    return None


def _codes(concept: Any) -> list[tuple[str | None, str]]:
    return [(c.system, c.code) for c in (getattr(concept, "coding", None) or []) if c.code]


def readings_of(obs: Observation, index: int, counter: list[int]) -> list[Incoming]:
    """The readings of one validated Observation (raises ``ReadingRejected`` with a French reason)."""
    if obs.status not in ACCEPTED_STATUSES:
        raise ReadingRejected("status_not_accepted", f"Statut d'observation « {obs.status} » non accepté "
                                                     "(final, amended ou corrected).")
    identifier = next((i.value for i in (obs.identifier or []) if i.value), None)
    if not identifier or len(identifier) > 120:
        raise ReadingRejected("identifier_missing", "L'observation doit porter l'identifiant de la mesure attribué "
                                                    "par l'appareil (identifier.value, 120 caractères au plus).")
    at = obs.effectiveDateTime or obs.effectiveInstant or (obs.effectivePeriod.start if obs.effectivePeriod else None)
    if at is None:
        raise ReadingRejected("time_missing", "L'observation doit porter la date et l'heure de la mesure "
                                              "(effectiveDateTime).")
    device = None
    if obs.device is not None and obs.device.identifier is not None:
        device = obs.device.identifier.value
    subject = _subject(obs)
    out: list[Incoming] = []

    def known(concept: Any) -> tuple[str | None, str] | None:
        for system, code in _codes(concept):
            try:
                find_measure(code, system)
            except ReadingRejected:
                continue
            return system, code
        return None

    main = known(obs.code)
    value = _quantity(obs)
    if main is not None and value is not None:
        out.append(Incoming(counter[0], identifier, main[1], value[0], at, value[1], main[0], device, subject))
        counter[0] += 1
    for component in obs.component or []:
        code = known(component.code)
        comp_value = _quantity(component)
        if code is None or comp_value is None:
            continue
        out.append(Incoming(counter[0], f"{identifier}#{code[1]}", code[1], comp_value[0], at, comp_value[1],
                            code[0], device, subject))
        counter[0] += 1
    if not out:
        codes = ", ".join(c for _, c in _codes(obs.code)) or "aucun"
        raise ReadingRejected("unknown_code", f"Aucune mesure reconnue dans l'observation (codes : {codes}).")
    return out


def parse_observation(body: Any) -> list[Incoming]:
    if not isinstance(body, dict) or body.get("resourceType") != "Observation":
        raise ValidationFailed("Une ressource Observation est attendue.")
    try:
        obs = Observation.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(_problems(exc)) from None
    try:
        return readings_of(obs, 0, [0])
    except ReadingRejected as exc:
        raise ValidationFailed(exc.message, details=[{"field": "Observation", "message": exc.message,
                                                      "code": exc.code}]) from None


def parse_bundle(body: Any) -> tuple[str, list[EntryReadings]]:
    """Validate a batch or transaction Bundle of Observations; return its type and each entry's readings."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        raise ValidationFailed("Une ressource Bundle est attendue.")
    entries = body.get("entry") or []
    if not isinstance(entries, list) or not entries:
        raise ValidationFailed("Le Bundle ne contient aucune entrée.")
    if len(entries) > MAX_BUNDLE_ENTRIES:
        raise ValidationFailed(f"Le Bundle contient plus de {MAX_BUNDLE_ENTRIES} entrées.")
    shell = {**body, "entry": [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                               for e in entries]}
    try:
        bundle = Bundle.model_validate(shell)
    except ValidationError as exc:
        raise ValidationFailed(_problems(exc)) from None
    if bundle.type not in ("batch", "transaction"):
        raise ValidationFailed("Seuls les Bundle de type batch ou transaction sont acceptés.")
    counter = [0]
    out: list[EntryReadings] = []
    for index, entry in enumerate(entries):
        item = EntryReadings(index)
        resource = entry.get("resource") if isinstance(entry, dict) else None
        request = entry.get("request") if isinstance(entry, dict) else None
        try:
            if not isinstance(resource, dict) or resource.get("resourceType") != "Observation":
                raise ReadingRejected("not_an_observation", "Seules les ressources Observation sont acceptées.")
            if isinstance(request, dict) and (request.get("method") != "POST" or
                                              not str(request.get("url", "")).startswith("Observation")):
                raise ReadingRejected("request_not_supported", "Seule la création d'Observation (POST) est acceptée.")
            try:
                obs = Observation.model_validate(resource)
            except ValidationError as exc:
                raise ReadingRejected("invalid_resource", _problems(exc)) from None
            item.readings = readings_of(obs, index, counter)
        except ReadingRejected as exc:
            item.error = exc
        out.append(item)
    return str(bundle.type), out


def operation_outcome(severity: str, code: str, text: str) -> dict[str, Any]:
    """A FHIR ``OperationOutcome`` with one issue (``severity`` and ``code`` from the FHIR issue value sets)."""
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": text}]}


def invalid(text: str) -> dict[str, Any]:
    """The outcome of a refused resource: every FHIR refusal of the platform (422) carries this one."""
    return operation_outcome("error", "invalid", text)


def entry_status(item: EntryReadings, outcomes: dict[int, Outcome]) -> tuple[str, dict[str, Any] | None]:
    if item.error is not None:
        return "422 Unprocessable Entity", invalid(item.error.message)
    results = [outcomes[r.index] for r in item.readings]
    refused = [o for o in results if o.outcome == "rejected"]
    if refused:
        return "422 Unprocessable Entity", invalid(" ; ".join(o.message or "" for o in refused))
    if all(o.outcome == "duplicate" for o in results):
        return "200 OK", operation_outcome("information", "duplicate",
                                           "Mesure déjà reçue : enregistrée une seule fois.")
    return "201 Created", None


def response_bundle(kind: str, items: Sequence[EntryReadings], outcomes: dict[int, Outcome]) -> dict[str, Any]:
    entries = []
    for item in items:
        status, outcome = entry_status(item, outcomes)
        response: dict[str, Any] = {"status": status}
        if outcome is not None:
            response["outcome"] = outcome
        entries.append({"response": response})
    return {"resourceType": "Bundle", "type": f"{kind}-response", "entry": entries}
