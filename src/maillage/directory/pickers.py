"""Pickers: a person types a commune's name or a professional's name and chooses among suggestions; the form still
submits the code (INSEE code, RPPS number), which the API keeps. The choices come from the communes file (public)
and the directory (professional data, read by those who may read the directory).

A picker works without JavaScript: its "Chercher" button submits the form as a search step, and the page comes back
with everything typed kept and the choices listed; with htmx, the choices refresh as one types
(web/_picker.html, web/_picker_choices.html).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from sqlalchemy.orm import Session

from maillage.directory import communes
from maillage.directory import repository as repo
from maillage.directory.service import display_name
from maillage.directory.specialties import profession_label, specialty_label
from maillage.exceptions import ValidationFailed
from maillage.models.directory import Professional

PHYSICIAN = "10"  # RPPS profession code of a médecin
FIELD = re.compile(r"^[a-z][a-z_]{0,39}$")  # a form field's name, as the search endpoints accept it
LIMIT = 12


@dataclass
class Picker:
    """One picker of a form: ``field`` is the submitted code's name, ``query`` what was typed (sent as
    ``<field>_q``), ``choices`` (code, label) pairs, ``selected`` the chosen code (shown checked, with its label,
    even when it is not among the choices)."""

    field: str
    legend: str
    search_label: str
    search_url: str
    query: str = ""
    selected: str = ""
    selected_label: str = ""
    choices: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    searched: bool = False
    optional: bool = True
    none_label: str = "Non renseigné"
    nothing_found: str = "Aucun résultat : vérifiez l'orthographe."
    error: str | None = None
    multiple: bool = False
    chosen: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def listed(self) -> list[tuple[str, str]]:
        """The choices, with the selected code first when the search did not bring it; with ``multiple``, every
        chosen (code, label) first, then the choices not already chosen."""
        if self.multiple:
            codes = {code for code, _ in self.chosen}
            return [*self.chosen, *((code, label) for code, label in self.choices if code not in codes)]
        if self.selected and self.selected not in {code for code, _ in self.choices}:
            return [(self.selected, self.selected_label or self.selected), *self.choices]
        return self.choices

    def is_chosen(self, code: str) -> bool:
        return code in {c for c, _ in self.chosen} if self.multiple else code == self.selected


def commune_choices(query: str) -> list[tuple[str, str]]:
    return [(c.insee, communes.commune_label(c)) for c in communes.search_communes(query, LIMIT)]


def commune_name(insee: str) -> str | None:
    """The label of a commune code, None when no current commune has it."""
    try:
        return communes.commune_label(communes.get_commune(insee))
    except ValidationFailed:
        return None


def _what(p: Professional) -> str:
    """The specialty, or else the profession, in French."""
    if p.specialty_label or p.specialty_code:
        return specialty_label(p.specialty_code, p.specialty_label)
    return profession_label(p.profession_code, p.profession_label)


def professional_choices(session: Session, query: str, profession: str | None = PHYSICIAN) -> list[tuple[str, str]]:
    """Active professionals with an RPPS number whose name matches: ``Dr Paul DUPONT — Médecine générale — Cabinet
    X (Ambazac)``. Fewer than two letters finds nothing; a number is not searched (the person sees names)."""
    text = query.strip()[:100]
    if len(text) < 2 or re.sub(r"\s", "", text).isdigit():
        return []
    found = [p for p in repo.search_professionals(session, query=text, profession_code=profession, limit=LIMIT * 2)
             if p.rpps][:LIMIT]
    places = repo.places_of_professionals(session, (p.id for p in found))
    choices = []
    for p in found:
        what = _what(p)
        where = places.get(p.id, [])
        place = f"{where[0].name}{f' ({where[0].commune_name})' if where[0].commune_name else ''}" if where else ""
        choices.append((p.rpps or "", " — ".join(part for part in (display_name(p), what, place) if part)))
    return choices


def professional_name(session: Session, rpps: str) -> str | None:
    """The label of an RPPS number in the directory, None when no professional has it."""
    number = re.sub(r"\s", "", rpps)
    p = repo.professional_by_rpps(session, number) if number.isdigit() else None
    if p is None:
        return None
    what = _what(p)
    return " — ".join(part for part in (display_name(p), what) if part)
