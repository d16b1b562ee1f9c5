"""Pure rules of the MSSanté exchange: addresses, document codes, what a received message may carry, and why one is
set aside (French reasons for the reception inbox).

Sources: Référentiel socle MSSanté #2 (ECO.2.4.1 ``X-MSS-CODECDA`` = the CDA header ``code``, multi-valued, absent
without a CDA; ECO.2.4.2 ``X-MSS-INS`` when a CDA carrying the INS is attached, value ``O``), as quoted in DOMAIN.md
§5.1; LOINC document codes; INS OIDs of FR Core (DOMAIN §1.2).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from maillage.exceptions import ValidationFailed

INS_OIDS = frozenset({"1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10",
                      "1.2.250.1.213.1.4.11"})
LOCAL_PATIENT_OID = "1.2.250.1.999.1.1"  # the platform's own patient identifiers (non-qualified identities)

_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}$")


def check_address(value: str | None, trusted_domains: tuple[str, ...]) -> str:
    """A typed MSSanté address: well formed, in a domain of the trust space (``*.mssante.fr`` in production)."""
    address = (value or "").strip()
    if not address:
        raise ValidationFailed("Indiquez l'adresse MSSanté du destinataire.")
    if len(address) > 254 or not _ADDRESS.match(address):
        raise ValidationFailed("Adresse MSSanté invalide : elle s'écrit prenom.nom@domaine.mssante.fr.")
    domain = address.rpartition("@")[2].lower()
    if not any(domain == d or domain.endswith("." + d) for d in trusted_domains):
        allowed = ", ".join(trusted_domains)
        raise ValidationFailed(f"Cette adresse n'appartient pas à l'espace de confiance MSSanté ({allowed}) : "
                               "un document de santé ne part pas vers une messagerie ordinaire.")
    return address.lower()


@dataclass(frozen=True)
class DocCode:
    code: str
    system: str
    display: str


LOINC = "2.16.840.1.113883.6.1"
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"  # JDV classCode of the CI-SIS (XDS classCode)

# The tele-expertise compte rendu; a patient document goes out with its own LOINC type (document.rules), this
# generic summary when it has none.
TELEEXPERTISE_REPORT = DocCode("11488-4", LOINC, "Compte rendu de consultation")
GENERIC_DOCUMENT = DocCode("34133-9", LOINC, "Synthèse d'épisode de soins")
CLASS_REPORT = DocCode("11", CLASS_SYSTEM, "Compte rendu")


def mss_headers(cda_codes: list[str], cda_carries_ins: bool) -> dict[str, str]:
    """The ``X-MSS-*`` headers of a message (ECO.2.4.1 and ECO.2.4.2)."""
    headers: dict[str, str] = {}
    if cda_codes:
        headers["X-MSS-CODECDA"] = ", ".join(cda_codes)
        if cda_carries_ins:
            headers["X-MSS-INS"] = "O"
    return headers


class Refusal(enum.StrEnum):
    OVERSIZE = "oversize"
    DANGEROUS = "dangerous"
    MALFORMED = "malformed"
    NO_DOCUMENT = "no_document"
    UNSUPPORTED = "unsupported"
    REFUSED_CONTENT = "refused_content"


class Waiting(enum.StrEnum):
    NO_INS = "no_ins"
    INS_NOT_QUALIFIED = "ins_not_matched"
    SEVERAL_PATIENTS = "several_patients"
    NO_FILING_ACCOUNT = "no_filing_account"


WAITING_TEXT = {
    Waiting.NO_INS: "Le message ne porte pas d'INS : rattachez le document au bon patient.",
    Waiting.INS_NOT_QUALIFIED: "L'INS transmis ne correspond à aucune identité qualifiée : vérifiez l'identité "
                               "avant de rattacher.",
    Waiting.SEVERAL_PATIENTS: "Les documents du message concernent plusieurs patients : rattachez-les un par un.",
    Waiting.NO_FILING_ACCOUNT: "Classement automatique désactivé (aucun compte de classement désigné).",
}


def oversize_text(size: int, limit: int) -> str:
    return (f"Message trop volumineux ({size // 1_048_576 + 1} Mo ; {limit // 1_048_576} Mo au plus) : "
            "rien n'a été classé.")


# Executables, scripts and documents that can carry macros (by extension and by leading bytes).
DANGEROUS_EXTENSIONS = frozenset({
    "exe", "dll", "com", "scr", "pif", "msi", "msp", "bat", "cmd", "ps1", "vbs", "vbe", "js", "jse", "wsf", "wsh",
    "hta", "jar", "sh", "app", "lnk", "cpl", "reg", "iso", "img",
    "docm", "dotm", "xlsm", "xltm", "xlam", "pptm", "potm", "ppsm", "ppam", "sldm", "doc", "xls", "ppt",
})
DANGEROUS_MAGIC = (
    b"MZ",  # Windows PE
    b"\x7fELF",
    b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe",  # Mach-O / Java class
    b"#!",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",  # OLE2 compound file: legacy Office documents, macros included
)


def extension(filename: str | None) -> str:
    name = (filename or "").strip().lower()
    return name.rpartition(".")[2] if "." in name else ""


def is_dangerous(filename: str | None, data: bytes) -> bool:
    """An executable, a script or a document able to carry macros, by name or by content."""
    if extension(filename) in DANGEROUS_EXTENSIONS:
        return True
    if any(data.startswith(magic) for magic in DANGEROUS_MAGIC):
        return True
    # OOXML with a VBA project (a .docx renamed from .docm still holds vbaProject.bin).
    return data.startswith(b"PK") and b"vbaProject.bin" in data


DANGEROUS_TEXT = ("Pièce jointe dangereuse (exécutable, script ou document à macros) : message mis de côté, "
                  "rien n'a été classé.")
NO_DOCUMENT_TEXT = "Aucun document joint : rien à classer."
UNSUPPORTED_TEXT = "Type de document non accepté (PDF, JPEG ou PNG seulement) : rien n'a été classé."

FILABLE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})


def status_label(status: str) -> str:
    return {"filed": "Classé automatiquement", "pending": "À rattacher", "refused": "Refusé",
            "matched": "Rattaché", "dismissed": "Écarté"}.get(status, status)
