"""The resource types of the door, each registered when its module is imported (``maillage.fhir.registry``).

A capability that lands adds its module here: a pure mapping from its rows to the resource, a read and a search
that go through ``authz``, and one ``register`` call."""

from maillage.fhir.resources import (
    audit,
    communication,
    consent,
    directory,
    document,
    group,
    monitoring,
    observation,
    offer,
    patient,
    prescription,
    teleconsultation,
    teleexpertise,
    telemonitoring,
)

__all__ = ["audit", "communication", "consent", "directory", "document", "group", "monitoring", "observation",
           "offer", "patient", "prescription", "teleconsultation", "teleexpertise", "telemonitoring"]
