"""Reading the public drug database (BDPM) files in their published format: pure, no database.

The ANSM publishes tab-separated text files without a header line (DOMAIN.md §6). Their encoding has been Latin-1
(in practice Windows-1252) for years and may become UTF-8, so each file's encoding is detected from its bytes:
a file that decodes as strict UTF-8 is UTF-8 (Latin-1 text with accents is practically never valid UTF-8, since an
accented Latin-1 byte is not followed by the continuation bytes UTF-8 requires); otherwise it is read as
Windows-1252, a superset of Latin-1's printable characters, and as Latin-1 if it holds one of the five bytes
Windows-1252 leaves undefined.

Every line is checked: the CIS code (8 digits), the CIP13 code (13 digits, EAN-13 check digit, prefix 3400), the
dates, the references between files (a presentation of an unknown CIS). A bad line is reported with its file, line
number and field, and skipped; the caller decides whether the share of bad lines is acceptable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from stdnum import ean

SPECIALITIES = "CIS_bdpm.txt"
PRESENTATIONS = "CIS_CIP_bdpm.txt"
COMPOSITIONS = "CIS_COMPO_bdpm.txt"
GENERICS = "CIS_GENER_bdpm.txt"
NOTICES = "CIS_InfoImportantes.txt"
FILES = (SPECIALITIES, PRESENTATIONS, COMPOSITIONS, GENERICS, NOTICES)
REQUIRED_FILES = (SPECIALITIES, PRESENTATIONS, COMPOSITIONS)
GENERIC_KINDS = {0: "princeps", 1: "générique", 2: "générique par complémentarité posologique",
                 4: "générique substituable"}
MARKETED = "Commercialisée"
PRESENTATION_MARKETED = "Déclaration de commercialisation"
_CIS = re.compile(r"\d{8}")
_CIP7 = re.compile(r"\d{7}")
_LINK = re.compile(r"""href=['"]([^'"]+)['"]""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_WORD = re.compile(r"[A-Z0-9]+")
STOP_WORDS = frozenset({"DE", "DU", "DES", "D", "LA", "LE", "LES", "L", "ET", "EN", "POUR", "A", "AU", "AUX"})


def detect_encoding(data: bytes) -> str:
    """``utf-8`` when the bytes are strict UTF-8, else ``cp1252``, else ``latin-1`` (which decodes anything)."""
    for encoding in ("utf-8", "cp1252"):
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def decode(data: bytes) -> tuple[str, str]:
    """The text of a file and the encoding it was read with (a UTF-8 byte-order mark is dropped)."""
    encoding = detect_encoding(data)
    text = data.decode(encoding)
    return text.removeprefix("\ufeff"), encoding


def search_key(text: str) -> str:
    """Upper case, no accents, single spaces: the form names are searched in (``Paracétamol`` → ``PARACETAMOL``)."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SPACES.sub(" ", bare).strip().upper()


def search_terms(text: str) -> set[str]:
    """The words a name is found by: its search key split on anything but letters and digits, stop words left out."""
    return {word[:60] for word in _WORD.findall(search_key(text)) if word not in STOP_WORDS}


def is_cis(value: str) -> bool:
    return bool(_CIS.fullmatch(value))


def is_cip13(value: str) -> bool:
    """A CIP13 is an EAN-13 (check digit) in the range the French drug codes use (prefix 3400)."""
    return len(value) == 13 and value.startswith("3400") and ean.is_valid(value)


def parse_date(value: str) -> dt.date | None:
    """BDPM dates: JJ/MM/AAAA (most files), AAAA-MM-JJ (important information) or AAAAMMJJ (HAS files)."""
    value = value.strip()
    if not value:
        return None
    for pattern in ("%d/%m/%Y", "%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise ValueError(value)


def parse_price(value: str) -> Decimal | None:
    """A French price (``1 234,56``; an older form ``1,234,56`` has thousands commas): None when empty."""
    value = value.replace("\xa0", "").replace(" ", "").strip()
    if not value:
        return None
    if value.count(",") > 1:
        head, _, tail = value.rpartition(",")
        value = head.replace(",", "") + "." + tail
    try:
        return Decimal(value.replace(",", "."))
    except InvalidOperation as exc:
        raise ValueError(value) from exc


@dataclass(frozen=True)
class LineIssue:
    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} : {self.field} : {self.message}"


@dataclass
class Release:
    """What a directory of BDPM files holds, checked: rows ready to insert and the lines refused."""

    specialities: list[dict[str, Any]] = field(default_factory=list)
    presentations: list[dict[str, Any]] = field(default_factory=list)
    compositions: list[dict[str, Any]] = field(default_factory=list)
    generics: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    terms: list[dict[str, Any]] = field(default_factory=list)
    issues: list[LineIssue] = field(default_factory=list)
    encodings: dict[str, str] = field(default_factory=dict)
    checksum: str = ""
    line_count: int = 0

    @property
    def error_share(self) -> float:
        return len(self.issues) / self.line_count if self.line_count else 0.0

    @property
    def encoding(self) -> str:
        """The encoding of the files, or ``mixte`` when they differ."""
        found = set(self.encodings.values())
        return found.pop() if len(found) == 1 else "mixte"


def _rows(name: str, text: str, release: Release) -> Iterator[tuple[int, list[str]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        release.line_count += 1
        yield number, [cell.strip() for cell in line.split("\t")]


def _cells(cells: list[str], count: int) -> list[str]:
    return cells + [""] * (count - len(cells))


def _specialities(name: str, text: str, release: Release) -> None:
    seen: set[str] = set()
    for number, cells in _rows(name, text, release):
        if len(cells) < 7:
            release.issues.append(LineIssue(name, number, "colonnes", f"{len(cells)} colonnes au lieu de 12"))
            continue
        cis, label, form, routes, status, _procedure, marketing, amm, bdm, _eu, holders, monitoring = \
            _cells(cells, 12)[:12]
        if not is_cis(cis):
            release.issues.append(LineIssue(name, number, "code CIS", f"« {cis} » n'a pas 8 chiffres"))
            continue
        if cis in seen:
            release.issues.append(LineIssue(name, number, "code CIS", f"{cis} déjà présent plus haut"))
            continue
        if not label:
            release.issues.append(LineIssue(name, number, "dénomination", "vide"))
            continue
        try:
            authorised_on = parse_date(amm)
        except ValueError:
            release.issues.append(LineIssue(name, number, "date d'AMM", f"« {amm} » n'est pas une date JJ/MM/AAAA"))
            continue
        seen.add(cis)
        release.specialities.append({
            "cis": cis, "name": label, "name_key": search_key(label)[:300], "form": form, "routes": routes,
            "authorisation_status": status[:120], "marketed": marketing == MARKETED, "authorised_on": authorised_on,
            "bdm_status": bdm[:60], "holders": holders.strip(), "enhanced_monitoring": monitoring == "Oui",
        })


def _presentations(name: str, text: str, release: Release, known: set[str]) -> None:
    seen: set[str] = set()
    for number, cells in _rows(name, text, release):
        if len(cells) < 7:
            release.issues.append(LineIssue(name, number, "colonnes", f"{len(cells)} colonnes au lieu d'au moins 7"))
            continue
        cis, cip7, label, _status, marketing, _declared, cip13, _agreement, rates, price = _cells(cells, 10)[:10]
        issue = None
        if not is_cis(cis):
            issue = ("code CIS", f"« {cis} » n'a pas 8 chiffres")
        elif cis not in known:
            issue = ("code CIS", f"{cis} absent de {SPECIALITIES}")
        elif not is_cip13(cip13):
            issue = ("code CIP13", f"« {cip13} » n'est pas un EAN-13 valide commençant par 3400")
        elif cip13 in seen:
            issue = ("code CIP13", f"{cip13} déjà présent plus haut")
        elif cip7 and not _CIP7.fullmatch(cip7):
            issue = ("code CIP7", f"« {cip7} » n'a pas 7 chiffres")
        if issue is None:
            try:
                price_eur = parse_price(price)
            except ValueError:
                issue = ("prix", f"« {price} » n'est pas un prix")
        if issue is not None:
            release.issues.append(LineIssue(name, number, *issue))
            continue
        seen.add(cip13)
        release.presentations.append({
            "cip13": cip13, "cip7": cip7, "cis": cis, "label": label,
            "marketed": marketing == PRESENTATION_MARKETED, "reimbursement_rates": rates[:60], "price_eur": price_eur,
        })


def _compositions(name: str, text: str, release: Release, known: set[str]) -> None:
    for number, cells in _rows(name, text, release):
        if len(cells) < 4:
            release.issues.append(LineIssue(name, number, "colonnes", f"{len(cells)} colonnes au lieu de 8"))
            continue
        cis, element, code, substance, dosage, reference, nature, _link = _cells(cells, 8)[:8]
        if not is_cis(cis) or cis not in known:
            release.issues.append(LineIssue(name, number, "code CIS", f"« {cis} » inconnu ou mal formé"))
            continue
        if not substance:
            release.issues.append(LineIssue(name, number, "substance", "vide"))
            continue
        if nature not in ("SA", "ST"):
            release.issues.append(LineIssue(name, number, "nature", f"« {nature} » au lieu de SA ou ST"))
            continue
        release.compositions.append({
            "cis": cis, "element": element, "substance_code": code[:12], "substance": substance,
            "substance_key": search_key(substance)[:300], "dosage": dosage, "dosage_reference": reference,
            "nature": nature,
        })


def _generics(name: str, text: str, release: Release, known: set[str]) -> None:
    seen: set[tuple[str, str]] = set()
    for number, cells in _rows(name, text, release):
        if len(cells) < 4:
            release.issues.append(LineIssue(name, number, "colonnes", f"{len(cells)} colonnes au lieu de 5"))
            continue
        group_id, label, cis, kind, rank = _cells(cells, 5)[:5]
        issue = None
        if not group_id.isdigit():
            issue = ("groupe", f"« {group_id} » n'est pas un identifiant de groupe")
        elif not is_cis(cis) or cis not in known:
            issue = ("code CIS", f"« {cis} » inconnu ou mal formé")
        elif not kind.isdigit() or int(kind) not in GENERIC_KINDS:
            issue = ("type de générique", f"« {kind} » au lieu de 0, 1, 2 ou 4")
        elif (cis, group_id) in seen:
            issue = ("code CIS", f"{cis} déjà dans le groupe {group_id}")
        if issue is not None:
            release.issues.append(LineIssue(name, number, *issue))
            continue
        seen.add((cis, group_id))
        release.generics.append({"cis": cis, "group_id": group_id[:12], "group_label": label, "kind": int(kind),
                                 "rank": int(rank) if rank.isdigit() else 0})


def _notices(name: str, text: str, release: Release, known: set[str]) -> None:
    for number, cells in _rows(name, text, release):
        if len(cells) < 4:
            release.issues.append(LineIssue(name, number, "colonnes", f"{len(cells)} colonnes au lieu de 4"))
            continue
        cis, start, end = cells[:3]
        raw = "\t".join(cells[3:])
        if not is_cis(cis) or cis not in known:
            release.issues.append(LineIssue(name, number, "code CIS", f"« {cis} » inconnu ou mal formé"))
            continue
        try:
            starts_on, ends_on = parse_date(start), parse_date(end)
        except ValueError as exc:
            release.issues.append(LineIssue(name, number, "dates", f"« {exc} » n'est pas une date"))
            continue
        link = _LINK.search(raw)
        release.notices.append({
            "cis": cis, "starts_on": starts_on, "ends_on": ends_on,
            "text": _SPACES.sub(" ", html.unescape(_TAG.sub(" ", raw))).strip(),
            "link": link.group(1) if link else "",
        })


def read_release(directory: Path) -> Release:
    """Read and check the BDPM files of ``directory`` (the three required files must be there)."""
    missing = [name for name in REQUIRED_FILES if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError(", ".join(missing))
    release = Release()
    digest = hashlib.sha256()
    texts: dict[str, str] = {}
    for name in FILES:
        path = directory / name
        if not path.is_file():
            continue
        data = path.read_bytes()
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        texts[name], release.encodings[name] = decode(data)
    release.checksum = digest.hexdigest()
    _specialities(SPECIALITIES, texts[SPECIALITIES], release)
    known = {row["cis"] for row in release.specialities}
    _presentations(PRESENTATIONS, texts[PRESENTATIONS], release, known)
    _compositions(COMPOSITIONS, texts[COMPOSITIONS], release, known)
    if GENERICS in texts:
        _generics(GENERICS, texts[GENERICS], release, known)
    if NOTICES in texts:
        _notices(NOTICES, texts[NOTICES], release, known)
    words: dict[str, set[str]] = {row["cis"]: search_terms(row["name"]) for row in release.specialities}
    for row in release.compositions:
        words[row["cis"]] |= search_terms(row["substance"])
    order = {row["cis"]: (row["marketed"], row["name_key"]) for row in release.specialities}
    release.terms = sorted(({"term": term, "cis": cis, "marketed": order[cis][0], "name_key": order[cis][1]}
                            for cis, terms in words.items() for term in terms), key=lambda t: (t["term"], t["cis"]))
    return release
