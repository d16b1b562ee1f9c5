"""The patient banner shown at the top of every page about a patient: name, birth date and age, sex, INS with its
status in French, médecin traitant.

Built from a ``PatientView`` the page already obtained through the patient service (so under ``authz`` and audited):
this module reads nothing itself. Capability pages sit below ``maillage.web`` and cannot import it, so the banner
reaches their templates as the Jinja filter ``patient_banner`` (``install`` registers it on the shared environment)::

    {% with banner = view | patient_banner %}{% include "web/_patient_banner.html" %}{% endwith %}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from maillage.kit.templating import format_date
from maillage.patient.views import PatientView

FILTER = "patient_banner"


@dataclass(frozen=True)
class PatientBanner:
    name: str
    born: str  # "Née le 12/03/1950"
    age: str  # "76 ans"
    sex: str  # "Féminin"
    ins: str | None  # "2 95 10 99 126 111 93" (masked unless the identity is qualified), None without an INS
    identity_status: str  # "Identité qualifiée"
    attending: str | None  # the médecin traitant's name when known


def banner(view: PatientView | None) -> PatientBanner | None:
    """The banner's facts for an already authorised patient view; None without one (the partial then shows nothing)."""
    if view is None:
        return None
    return PatientBanner(
        name=view.display_name, born=f"{view.born_label} {format_date(view.patient.birth_date)}",
        age=view.age_label, sex=view.sex_label, ins=view.matricule_display,
        identity_status=view.identity_status_label, attending=view.attending_name)


def install(env: Any) -> None:
    """Register the ``patient_banner`` filter on the shared Jinja environment (once, at application start)."""
    env.filters[FILTER] = banner
