"""Provenance of every result: code version, parameters, data vintage, engine, and the suppression applied."""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from maillage import __version__


@lru_cache(maxsize=1)
def code_version() -> str:
    """The package version, plus the git commit of the source tree when it is a checkout."""
    root = Path(__file__).resolve().parents[3]
    commit = ""
    if (root / ".git").exists():
        try:
            commit = subprocess.run(
                ["git", "rev-parse", "--short=12", "HEAD"],  # noqa: S607
                cwd=root, capture_output=True, text=True, timeout=5, check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def params_digest(params: dict[str, Any]) -> str:
    canonical = json.dumps(params, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class Provenance:
    indicator: str
    indicator_version: str
    parameters: dict[str, Any]
    engine: str
    code_version: str
    data_vintage: dict[str, Any]
    computed_at: str
    duration_seconds: float
    rows: int
    suppression: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        stamp = self.computed_at.replace(":", "").replace("-", "").replace("+", "")[:15]
        return f"{stamp}-{self.engine}-{params_digest(self.parameters)}"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["run_id"] = self.run_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**fields)


def vintage_of(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a result says about its data: source, synthetic or not, flux months, when the data was produced."""
    keys = ("source", "synthetic", "care_year", "flux_months", "generated_at", "extracted_at", "seed", "rows",
            "pseudonym_key_version", "territory")
    return {k: manifest[k] for k in keys if k in manifest}
