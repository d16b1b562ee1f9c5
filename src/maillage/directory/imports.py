"""The shared part of the public directory extract parsers: reading lines, the report, the import decision.

Two layouts are implemented, the RPPS extract (``rpps_extract``) and the FINESS extract (``finess_extract``),
each streaming over the lines of a text file (``str`` or raw ``bytes`` lines; UTF-8 with or without BOM, falling
back to Windows-1252 for files in the legacy encoding).

Each parser returns an ``ImportReport``: the valid rows as typed dataclasses, French errors per line with the
line number and the field, warnings, counts, and ``accept(threshold)``, which refuses a file whose share of
invalid lines exceeds the threshold (1 % unless told otherwise): nothing from such a file may be imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from maillage.directory import rules
from maillage.exceptions import ValidationFailed

DEFAULT_ERROR_THRESHOLD = 0.01
DEFAULT_MAX_KEPT_ISSUES = 1000
LEGACY_ENCODING = "cp1252"

T = TypeVar("T")


# --- Reading lines ---------------------------------------------------------------------------------------


def decode_lines(lines: Iterable[str | bytes]) -> Iterator[str]:
    """Yield text lines without their line ending and without a leading byte-order mark.

    ``bytes`` lines are decoded as UTF-8; from the first line that is not valid UTF-8 on, the rest of the file
    is read as Windows-1252, the encoding of the legacy FINESS extracts (a legacy file's first lines are
    usually plain ASCII, identical in both encodings).
    """
    encoding = "utf-8"
    first = True
    for raw in lines:
        if isinstance(raw, bytes):
            if first and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode(encoding)
            except UnicodeDecodeError:
                encoding = LEGACY_ENCODING
                text = raw.decode(encoding, errors="replace")
        else:
            text = raw
        if first and text.startswith("\ufeff"):
            text = text[1:]
        first = False
        yield text.rstrip("\r\n")


def read_lines(path: str | Path) -> Iterator[bytes]:
    """Stream a file's raw lines, to hand to ``parse_rpps`` or ``parse_finess``."""
    with open(path, "rb") as handle:
        yield from handle


# --- The report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportIssue:
    """One problem found in a file: line number (1 = first line of the file), column, French message."""

    line: int
    field: str
    message: str

    def as_detail(self) -> dict[str, str | int]:
        return {"line": self.line, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"ligne {self.line}, {self.field} : {self.message}"


@dataclass
class ImportReport(Generic[T]):
    """What a parser found: valid rows, problems, counts, and whether the file may be imported."""

    source: str
    rows: list[T] = field(default_factory=list)
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    file_errors: list[ImportIssue] = field(default_factory=list)
    lines_read: int = 0
    valid_count: int = 0
    invalid_count: int = 0
    skipped_count: int = 0
    error_count: int = 0
    warning_count: int = 0
    max_kept_issues: int = DEFAULT_MAX_KEPT_ISSUES

    @property
    def data_line_count(self) -> int:
        return self.valid_count + self.invalid_count

    @property
    def error_share(self) -> float:
        total = self.data_line_count
        return self.invalid_count / total if total else 0.0

    def add_error(self, line: int, field_name: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < self.max_kept_issues:
            self.errors.append(ImportIssue(line, field_name, message))

    def add_warning(self, line: int, field_name: str, message: str) -> None:
        self.warning_count += 1
        if len(self.warnings) < self.max_kept_issues:
            self.warnings.append(ImportIssue(line, field_name, message))

    def add_file_error(self, line: int, field_name: str, message: str) -> None:
        self.file_errors.append(ImportIssue(line, field_name, message))

    def accept(self, threshold: float = DEFAULT_ERROR_THRESHOLD) -> bool:
        """May this file be imported? Not when the file itself is malformed, when it holds no valid row, or when
        the share of invalid data lines exceeds ``threshold`` (0.01 = 1 %)."""
        check_threshold(threshold)
        if self.file_errors or self.valid_count == 0:
            return False
        return self.error_share <= threshold

    def raise_unless_accepted(self, threshold: float = DEFAULT_ERROR_THRESHOLD) -> None:
        """Raise ``ValidationFailed`` listing the problems when ``accept(threshold)`` is false."""
        if self.accept(threshold):
            return
        issues = self.file_errors + self.errors
        details = [issue.as_detail() for issue in issues[: self.max_kept_issues]]
        if self.file_errors:
            message = f"Fichier {self.source} refusé : {self.file_errors[0].message}"
        elif self.valid_count == 0:
            message = f"Fichier {self.source} refusé : aucune ligne valide."
        else:
            message = (
                f"Fichier {self.source} refusé : {self.invalid_count} ligne(s) invalide(s) sur {self.data_line_count} "
                f"({100 * self.error_share:.2f} %), au-delà du seuil de {100 * threshold:.2f} %."
            )
        raise ValidationFailed(message, details=details)

    def summary(self) -> str:
        """One French sentence for a person reading the outcome of an import."""
        return (
            f"{self.source} : {self.lines_read} ligne(s) lue(s), {self.valid_count} valide(s), "
            f"{self.invalid_count} invalide(s) ({100 * self.error_share:.2f} %), {self.skipped_count} ignorée(s), "
            f"{self.warning_count} avertissement(s)."
        )


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:
        raise rules.fail("threshold", f"Seuil d'erreurs : {threshold} doit être compris entre 0 et 1.")
    return threshold


# Outcomes of pure one-value validators, per parse: (validator, value) -> (valid value, error message).
ValueCache = dict[tuple[Callable[[str], str], str], tuple[str | None, str | None]]
VALUE_CACHE_SIZE = 200_000


class RowErrors:
    """Collects the problems of one line before deciding whether the line is valid."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []

    def check(self, field_name: str, validator: Callable[[], T]) -> T | None:
        try:
            return validator()
        except ValidationFailed as exc:
            self.errors.append((field_name, exc.message))
            return None

    def check_cached(
        self, field_name: str, cache: ValueCache, validator: Callable[[str], str], value: str
    ) -> str | None:
        """Like ``check`` for a pure validator of one value, remembering its outcome: in an extract the same
        sites (FINESS, SIRET) come back on thousands of lines."""
        key = (validator, value)
        outcome = cache.get(key)
        if outcome is None:
            try:
                outcome = (validator(value), None)
            except ValidationFailed as exc:
                outcome = (None, exc.message)
            if len(cache) < VALUE_CACHE_SIZE:
                cache[key] = outcome
        result, message = outcome
        if message is not None:
            self.errors.append((field_name, message))
        return result

    def error(self, field_name: str, message: str) -> None:
        self.errors.append((field_name, message))

    def warn(self, field_name: str, message: str) -> None:
        self.warnings.append((field_name, message))


def settle(report: ImportReport[T], line_no: int, problems: RowErrors, build: Callable[[], T]) -> None:
    """Count a parsed line in the report: its warnings, then either its errors or the row ``build`` makes."""
    for field_name, message in problems.warnings:
        report.add_warning(line_no, field_name, message)
    if problems.errors:
        report.invalid_count += 1
        for field_name, message in problems.errors:
            report.add_error(line_no, field_name, message)
        return
    report.rows.append(build())
    report.valid_count += 1


def optional(value: str) -> str | None:
    """The stripped value, or None for a blank field."""
    value = value.strip()
    return value or None
