"""What a received message holds, read without I/O: its documents (from IHE XDM archives, or attached directly), the
patient identifiers they declare, or the French reason it is set aside.

A message is refused whole, with nothing filed, when it is too large, carries anything dangerous (executables,
scripts, documents with macros, at the top level or inside an archive), carries a malformed archive, or holds no
document of an accepted type.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage

from maillage.exchange import rules
from maillage.integrations.mssante import xdm


@dataclass(frozen=True)
class Part:
    filename: str
    media_type: str
    data: bytes
    title: str | None
    type_code: str | None = None  # the entry's LOINC type as the sender declared it (kept when the platform knows it)


@dataclass
class Reading:
    message_id: str
    sender: str
    subject: str
    parts: list[Part] = field(default_factory=list)
    patient_ids: set[tuple[str, str]] = field(default_factory=set)
    declared_name: str = ""
    declared_family: str = ""
    declared_birth_date: dt.date | None = None
    refusal: rules.Refusal | None = None
    reason: str | None = None

    def refuse(self, code: rules.Refusal, reason: str) -> Reading:
        self.refusal, self.reason, self.parts = code, reason, []
        return self


def _header(message: EmailMessage, name: str, limit: int) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # a header the parser can not decode
        return ""
    return " ".join(str(value or "").split())[:limit]


def _sniffed_type(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return None


def _name_for(index: int, media_type: str) -> str:
    return f"document-{index}.{ {'application/pdf': 'pdf', 'image/jpeg': 'jpg', 'image/png': 'png'}[media_type] }"


def read(raw: bytes, *, uid_fallback_id: str, max_bytes: int) -> Reading:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    reading = Reading(message_id=_header(parsed, "Message-ID", 250) or uid_fallback_id,
                      sender=_header(parsed, "From", 254), subject=_header(parsed, "Subject", 500))
    if len(raw) > max_bytes:
        return reading.refuse(rules.Refusal.OVERSIZE, rules.oversize_text(len(raw), max_bytes))
    attachments = []
    for part in parsed.walk():
        if part.is_multipart():
            continue
        if part.get_content_disposition() != "attachment" and part.get_filename() is None:
            continue  # the message's own text
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        attachments.append((part.get_filename() or "", part.get_content_type(), payload))
    if not attachments:
        return reading.refuse(rules.Refusal.NO_DOCUMENT, rules.NO_DOCUMENT_TEXT)
    for filename, media_type, data in attachments:
        if rules.is_dangerous(filename, data):
            return reading.refuse(rules.Refusal.DANGEROUS, rules.DANGEROUS_TEXT)
        is_zip = data.startswith(b"PK") or rules.extension(filename) == "zip" or media_type == "application/zip"
        if is_zip:
            try:
                archive = xdm.read(data)
            except xdm.XdmError as exc:
                return reading.refuse(rules.Refusal.MALFORMED, str(exc))
            if any(rules.is_dangerous(e.uri, e.data) for e in archive.entries):
                return reading.refuse(rules.Refusal.DANGEROUS, rules.DANGEROUS_TEXT)
            reading.patient_ids |= archive.patient_ids()
            plain = [e for e in archive.entries if _sniffed_type(e.data) in rules.FILABLE_TYPES]
            for entry in archive.entries:
                if not reading.declared_name and entry.declared_name:
                    reading.declared_name, reading.declared_birth_date = entry.declared_name, entry.declared_birth_date
                    reading.declared_family = entry.declared_family
                kind = _sniffed_type(entry.data)
                if kind is not None:
                    reading.parts.append(Part(_name_for(len(reading.parts) + 1, kind), kind, entry.data,
                                              entry.title or None, entry.type_code or None))
                elif entry.format_code == xdm.PDF_IN_CDA or entry.media_type in ("text/xml", "application/xml"):
                    if not plain:  # a CDA alone: its PDF is the document; next to the PDF it only wraps it
                        pdf = xdm.cda_pdf(entry.data)
                        if pdf is None or _sniffed_type(pdf) != "application/pdf":
                            return reading.refuse(rules.Refusal.UNSUPPORTED, rules.UNSUPPORTED_TEXT)
                        reading.parts.append(Part(_name_for(len(reading.parts) + 1, "application/pdf"),
                                                  "application/pdf", pdf, entry.title or None,
                                                  entry.type_code or None))
                else:
                    return reading.refuse(rules.Refusal.UNSUPPORTED, rules.UNSUPPORTED_TEXT)
        else:
            kind = _sniffed_type(data)
            if kind is None:
                if media_type.startswith("text/") and not filename:
                    continue  # the message's own text
                return reading.refuse(rules.Refusal.UNSUPPORTED, rules.UNSUPPORTED_TEXT)
            reading.parts.append(Part(_name_for(len(reading.parts) + 1, kind), kind, data, filename or None))
    if not reading.parts:
        return reading.refuse(rules.Refusal.NO_DOCUMENT, rules.NO_DOCUMENT_TEXT)
    return reading
