"""The package dependency order of CONVENTIONS.md holds (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def test_import_contracts_are_kept():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _tree_copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path / "src" / "maillage"


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["contracts"][0]["layers"]


def test_the_layer_contract_would_catch_an_upward_import(tmp_path):
    """The contract is not vacuous: in a copy of the tree, a kit module importing the web shell breaks it."""
    layers = _layers()
    assert layers[-1] == "maillage.kit" and layers[0] == "maillage.cli"
    package = _tree_copy(tmp_path)
    (package / "kit" / "_layer_probe.py").write_text("import maillage.web.pages  # noqa\n")
    result = lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_the_security_core_is_untied():
    """auth and authz are independent of each other, audit sits below both, and what the three share
    (actor, roles, permissions, audit context, request dependencies) is in maillage.security, below them."""
    layers = _layers()
    assert "(maillage.auth) | (maillage.authz)" in layers
    auth_and_authz = layers.index("(maillage.auth) | (maillage.authz)")
    assert layers[auth_and_authz + 1] == "(maillage.audit)"
    assert layers[auth_and_authz + 2] == "(maillage.security)"
    assert not any(":" in layer and ("auth" in layer or "audit" in layer) for layer in layers)


@pytest.mark.parametrize(("importer", "imported"), [
    ("auth", "maillage.authz.service"),
    ("authz", "maillage.auth.service"),
    ("audit", "maillage.auth.service"),
    ("audit", "maillage.authz.service"),
    ("security", "maillage.audit.service"),
])
def test_the_contract_would_catch_a_knot_in_the_security_core(tmp_path, importer, imported):
    """In a copy of the tree, one package of the security core importing another it must not breaks the contract."""
    package = _tree_copy(tmp_path)
    (package / importer / "_layer_probe.py").write_text(f"import {imported}  # noqa\n")
    result = lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert f"maillage.{importer}._layer_probe -> {imported}" in result.stdout
