"""Patient identity is read only through ``maillage.patient`` and ``maillage.authz`` (CONVENTIONS.md, house rule 3).

The identity tables (``maillage.models.patient``: the patient record with its names and INS, consents, identity
merges and reviewed pairs) are queried by those two packages only. Any other module reaches a patient through
them: ``authz.access_patient`` for one patient, ``patient.labels`` or the patient service for names, so that every
read is scoped by the actor and audited. The check reads the source (no import): a module breaks the rule when it
imports the identity models, or when one of its SQL strings names an identity table.

The patient package's repository (``maillage.patient.repository``) reads those tables with no actor and no audit: it
is the package's own. Another package asks a function of the patient package whose name says its scope (e.g.
``patient.labels.age_and_sex_for_audited_request_rows``); importing the repository from outside ``maillage.patient``
and ``maillage.authz`` breaks the rule too.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDENTITY_MODELS = "maillage.models.patient"
IDENTITY_TABLES = ("patient", "patient_consent", "identity_merge", "identity_pair_review")
# A SQL string naming an identity table: FROM / JOIN / UPDATE / INTO / TABLE followed by the table's name.
TABLES = "|".join(IDENTITY_TABLES)
SQL_NAMING = re.compile(rf"\b(?:from|join|update|into|table)\s+[\"`]?(?:{TABLES})\b(?!\.)", re.IGNORECASE)

OWNERS = ("maillage.patient", "maillage.authz")
# Modules outside the owners that may read the identity tables, each with the reason it cannot go through them.
ALLOWED = {
    "maillage.models": "the table definitions themselves, and the foreign keys that point at the patient",
    "maillage.demo": "demo and synthetic-data generation writes fictitious patients in bulk, with no actor",
    "maillage.analytics.clinical": "the pseudonymised extracts read the commune of residence (and the data-reuse "
                                   "objections) in bulk, outside any actor, behind the analytics gates (ADR 0006)",
    "maillage.audit.repository": "\"who saw this patient\" follows identity merges; the audit sits below the patient "
                                 "package in the layers and cannot call it",
}


PATIENT_REPOSITORY = "maillage.patient.repository"
# Modules outside the owners that may import the patient repository, each with the reason. None today: a new entry
# must say why a scoped function of the patient package would not do.
REPOSITORY_ALLOWED: dict[str, str] = {}


@dataclass(frozen=True)
class Violation:
    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def module_name(src: Path, path: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_allowed(module: str) -> bool:
    return any(module == owner or module.startswith(owner + ".") for owner in (*OWNERS, *ALLOWED))


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes (prose, not SQL)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def violations_in(source: str, module: str) -> list[Violation]:
    tree = ast.parse(source)
    prose = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
            if IDENTITY_MODELS in names:
                found.append(Violation(module, node.lineno, f"imports {IDENTITY_MODELS}"))
        elif isinstance(node, ast.Import):
            if any(alias.name == IDENTITY_MODELS for alias in node.names):
                found.append(Violation(module, node.lineno, f"imports {IDENTITY_MODELS}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            match = SQL_NAMING.search(node.value)
            if match:
                found.append(Violation(module, node.lineno, f"SQL names an identity table: {match.group(0)!r}"))
    return sorted(found, key=lambda v: v.line)


def repository_imports_in(source: str, module: str) -> list[Violation]:
    """Imports of the patient repository: ``from maillage.patient import repository``, ``from
    maillage.patient.repository import x``, ``import maillage.patient.repository``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: set[str] = set()
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        if any(n == PATIENT_REPOSITORY or n.startswith(PATIENT_REPOSITORY + ".") for n in names):
            found.append(Violation(module, node.lineno, f"imports {PATIENT_REPOSITORY}"))
    return found


def scan_repository_imports(src: Path) -> list[Violation]:
    found = []
    for path in sorted((src / "maillage").rglob("*.py")):
        module = module_name(src, path)
        if not any(module == owner or module.startswith(owner + ".") for owner in (*OWNERS, *REPOSITORY_ALLOWED)):
            found.extend(repository_imports_in(path.read_text(encoding="utf-8"), module))
    return found


def scan(src: Path) -> list[Violation]:
    found = []
    for path in sorted((src / "maillage").rglob("*.py")):
        module = module_name(src, path)
        if not is_allowed(module):
            found.extend(violations_in(path.read_text(encoding="utf-8"), module))
    return found


def test_no_module_outside_patient_and_authz_reads_the_identity_tables():
    found = scan(ROOT / "src")
    assert not found, "\n".join(map(str, found))


def test_no_module_outside_patient_and_authz_imports_the_patient_repository():
    found = scan_repository_imports(ROOT / "src")
    assert not found, "\n".join(map(str, found))


def test_every_module_allowed_the_repository_still_imports_it():
    src = ROOT / "src"
    for allowed in REPOSITORY_ALLOWED:
        paths = [p for p in (src / "maillage").rglob("*.py") if module_name(src, p) == allowed]
        assert paths and any(repository_imports_in(p.read_text(encoding="utf-8"), allowed) for p in paths), \
            f"{allowed} no longer imports the patient repository: remove its exception"


def test_every_allowed_module_exists_and_still_needs_its_exception():
    """An exception that is no longer used is removed, so the list says the truth."""
    src = ROOT / "src"
    for allowed in ALLOWED:
        if allowed == "maillage.models":
            continue
        paths = [p for p in (src / "maillage").rglob("*.py")
                 if module_name(src, p) == allowed or module_name(src, p).startswith(allowed + ".")]
        assert paths, f"{allowed} is allowed but does not exist"
        assert any(violations_in(p.read_text(encoding="utf-8"), "probe") for p in paths), \
            f"{allowed} no longer reads the identity tables: remove its exception"


class TestTheCheckCatchesAPlantedViolation:
    """The check is not vacuous: in a copy of the tree, a capability that reads the identity tables breaks it."""

    def _copy(self, tmp_path: Path) -> Path:
        shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        return tmp_path / "src"

    def test_an_import_of_the_identity_models_fails(self, tmp_path):
        src = self._copy(tmp_path)
        (src / "maillage" / "document" / "_probe.py").write_text(
            "from maillage.models.patient import Patient\n\n\ndef names(session):\n"
            "    return session.query(Patient.birth_name).all()\n")
        assert [str(v) for v in scan(src)] == ["maillage.document._probe:1: imports maillage.models.patient"]

    def test_a_module_import_of_the_identity_models_fails(self, tmp_path):
        src = self._copy(tmp_path)
        (src / "maillage" / "monitoring" / "_probe.py").write_text("from maillage.models import patient\n")
        assert [v.module for v in scan(src)] == ["maillage.monitoring._probe"]

    def test_raw_sql_on_an_identity_table_fails(self, tmp_path):
        src = self._copy(tmp_path)
        (src / "maillage" / "teleexpertise" / "_probe.py").write_text(
            '"""Reads from patient records (prose: not a query)."""\n\nfrom sqlalchemy import text\n\n'
            'QUERY = text("SELECT birth_name FROM patient WHERE id = :id")\n'
            'JOINED = "select 1 from teleexpertise_request r join patient_consent c on c.patient_id = r.patient_id"\n')
        found = scan(src)
        assert [(v.module, v.line) for v in found] == [("maillage.teleexpertise._probe", 5),
                                                       ("maillage.teleexpertise._probe", 6)]

    def test_a_column_named_after_the_patient_is_no_violation(self):
        assert violations_in('Q = "SELECT patient_id FROM monitoring_alert JOIN patient_id_map m ON true"', "m") == []
        assert violations_in('FK = "patient.id"', "m") == []

    def test_an_import_of_the_patient_repository_fails(self, tmp_path):
        src = self._copy(tmp_path)
        (src / "maillage" / "teleexpertise" / "_probe.py").write_text(
            "from maillage.patient import repository as patient_repo\n")
        (src / "maillage" / "monitoring" / "_probe.py").write_text(
            "import maillage.patient.repository\nfrom maillage.patient.repository import patients_by_ids\n"
            "from maillage.patient import labels, views\n")
        found = [str(v) for v in scan_repository_imports(src)]
        assert found == ["maillage.monitoring._probe:1: imports maillage.patient.repository",
                         "maillage.monitoring._probe:2: imports maillage.patient.repository",
                         "maillage.teleexpertise._probe:1: imports maillage.patient.repository"]

    def test_the_patient_package_and_authz_may_import_their_repository(self):
        assert repository_imports_in("from maillage.patient import repository as repo\n", "m")  # found...
        src = ROOT / "src"
        assert all(not v.module.startswith(("maillage.patient", "maillage.authz"))
                   for v in scan_repository_imports(src))  # ...but the owners are not scanned
