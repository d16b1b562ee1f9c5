"""The package dependency order of CONVENTIONS.md holds (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_layer_contract_would_catch_an_upward_import(tmp_path):
    """The contract is not vacuous: a kit module importing the web shell breaks it."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    layers = config["tool"]["importlinter"]["contracts"][0]["layers"]
    assert layers[-1] == "maillage.kit" and layers[0] == "maillage.cli"
    offender = ROOT / "src" / "maillage" / "kit" / "_layer_probe.py"
    offender.write_text("import maillage.web.pages  # noqa\n")
    try:
        exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
        result = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode != 0
        assert "BROKEN" in result.stdout
    finally:
        offender.unlink()
