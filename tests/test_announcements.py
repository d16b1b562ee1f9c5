"""What the platform says it does, it does: the CLI's help, the home page and the navigation name no capability
whose package does not exist (issue 15, finding 11: ``serve --help`` said "API FHIR", ``worker --help``
"facturation, exports", the home page offered teleconsultation).

When a package lands (``maillage.teleconsultation``, ``maillage.billing``…), its words become allowed here by
themselves; until then, announcing it fails this test.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from maillage import cli
from maillage.web.nav import NAV

SRC = Path(__file__).resolve().parents[1] / "src" / "maillage"

# A capability's words (French and English) → the package that must exist for them to be said.
CAPABILITIES: dict[str, str] = {
    r"t[ée]l[ée]consultation": "maillage.teleconsultation",
    r"messagerie|messaging": "maillage.messaging",
    r"e-prescription|ordonnance|prescription [ée]lectronique": "maillage.prescription",
    r"factur|billing": "maillage.billing",
    r"API FHIR|FHIR API|serveur FHIR|FHIR server": "maillage.fhir",
    r"programme pluriannuel|multi-year programme": "maillage.programme",
}


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def announced_but_missing(text: str) -> list[str]:
    """The packages ``text`` announces that do not exist."""
    return [module for pattern, module in CAPABILITIES.items()
            if re.search(pattern, text, re.IGNORECASE) and not _exists(module)]


def _help_texts(command: Any, path: str = "maillage") -> list[tuple[str, str]]:
    texts = [(path, " ".join(filter(None, [command.help, command.short_help])))]
    texts += [(f"{path} {p.name}", getattr(p, "help", None) or "") for p in command.params]
    for name, sub in getattr(command, "commands", {}).items():  # a group (typer's or click's)
        texts += _help_texts(sub, f"{path} {name}")
    return texts


HELP_TEXTS = _help_texts(typer.main.get_command(cli.app))


class TestTheCheckItself:
    def test_a_missing_package_is_reported(self, monkeypatch):
        # Every capability the table names exists now: the check is shown failing on one that does not.
        monkeypatch.setitem(CAPABILITIES, r"t[ée]l[ée]chirurgie|telesurgery", "maillage.telesurgery")
        assert announced_but_missing("rappels, échéances, téléchirurgie") == ["maillage.telesurgery"]

    def test_an_existing_package_may_be_named(self):
        assert announced_but_missing("téléexpertise et télésurveillance") == []
        assert announced_but_missing("Démarre le serveur web (pages, API JSON, API FHIR).") == []


class TestHelpTexts:
    def test_every_command_is_read(self):
        paths = {path for path, _ in HELP_TEXTS}
        assert {"maillage serve", "maillage worker", "maillage audit export"} <= paths

    @pytest.mark.parametrize(("path", "text"), HELP_TEXTS, ids=[p for p, _ in HELP_TEXTS])
    def test_no_help_text_announces_a_missing_capability(self, path, text):
        assert announced_but_missing(text) == [], f"{path}: {text}"


class TestPages:
    def test_the_home_page_announces_no_missing_capability(self):
        text = (SRC / "web" / "templates" / "web" / "home.html").read_text(encoding="utf-8")
        assert announced_but_missing(text) == []

    def test_the_navigation_announces_no_missing_capability(self):
        assert announced_but_missing(" ".join(f"{item.label} {item.href}" for item in NAV)) == []
