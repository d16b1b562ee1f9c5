"""Reading one uploaded file from a multipart request, shared by every route that takes a file (patient documents,
tele-expertise attachments).

The multipart body is parsed in memory (it is already held there, capped by ``max_upload_bytes``): an uploaded
health document is never spooled to a temporary file in clear. One file per request, in the field ``file``, with
an optional ``title``; anything else is refused in French.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from maillage.document import rules
from maillage.document.rules import FileRefused, Reason
from maillage.exceptions import ValidationFailed

FILE_FIELD = "file"
MAX_FILE_PARTS = 10   # parsed at most; more than one is refused with a French message
MAX_FORM_FIELDS = 10

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {
                        FILE_FIELD: {"type": "string", "format": "binary",
                                     "description": "Un seul fichier : PDF, JPEG, PNG ou WebP."},
                        "title": {"type": "string", "maxLength": rules.MAX_TITLE_CHARS,
                                  "description": "Titre facultatif"},
                    },
                }
            }
        },
    }
}

class _InMemoryMultiPartParser(MultiPartParser):
    spool_max_size = 1 << 40  # a file part never rolls over to disk


@dataclass(frozen=True)
class Upload:
    filename: str | None
    declared_type: str | None
    data: bytes
    title: str | None

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this upload for Idempotency-Key (the content by its hash)."""
        return {"filename": self.filename, "declared_type": self.declared_type, "title": self.title,
                "sha256": hashlib.sha256(self.data).hexdigest()}


async def _form(request: Request) -> FormData:
    try:
        body = await request.body()
    except RuntimeError:  # the CSRF check already parsed the form (token sent as a form field)
        return await request.form()

    async def chunks() -> AsyncGenerator[bytes, None]:
        yield body

    parser = _InMemoryMultiPartParser(request.headers, chunks(), max_files=MAX_FILE_PARTS,
                                      max_fields=MAX_FORM_FIELDS)
    try:
        return await parser.parse()
    except MultiPartException:
        raise ValidationFailed("Envoi multipart invalide ou trop de parties : envoyez un fichier dans le champ "
                               "« file » et, au besoin, un titre dans « title ».") from None


async def read_upload(request: Request) -> Upload:
    """The one file of a multipart upload, and its optional title."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise FileRefused(Reason.NO_FILE, "Aucun fichier reçu : envoyez-le en multipart/form-data, dans le champ "
                                          "« file ».")
    form = await _form(request)
    try:
        files = [(key, value) for key, value in form.multi_items() if isinstance(value, UploadFile)]
        if len(files) > 1:
            raise FileRefused(Reason.TOO_MANY_FILES, f"{len(files)} fichiers reçus : envoyez un seul fichier par "
                                                     "envoi, les autres ensuite.")
        if not files or files[0][0] != FILE_FIELD:
            raise FileRefused(Reason.NO_FILE, "Aucun fichier reçu dans le champ « file ».")
        upload = files[0][1]
        title = form.get("title")
        return Upload(filename=upload.filename, declared_type=upload.content_type, data=await upload.read(),
                      title=title if isinstance(title, str) else None)
    finally:
        await form.close()



async def read_form_with_upload(request: Request,
                                fields: tuple[str, ...]) -> tuple[dict[str, list[str]], Upload | None]:
    """A page's multipart form: the values of the text ``fields`` it names (a list each: a field may repeat), and at
    most one file in ``file`` (None when the person chose none). Parsed in memory, like ``read_upload``."""
    form = await _form(request)
    try:
        values = {name: [v for v in form.getlist(name) if isinstance(v, str)] for name in fields}
        chosen = [(key, f) for key, f in form.multi_items() if isinstance(f, UploadFile) and f.filename]
        if len(chosen) > 1:
            raise FileRefused(Reason.TOO_MANY_FILES, f"{len(chosen)} fichiers reçus : envoyez un seul fichier par "
                                                     "envoi, les autres ensuite.")
        if not chosen:
            return values, None
        key, upload = chosen[0]
        if key != FILE_FIELD:
            raise FileRefused(Reason.NO_FILE, "Aucun fichier reçu dans le champ « file ».")
        return values, Upload(filename=upload.filename, declared_type=upload.content_type, data=await upload.read(),
                              title=None)
    finally:
        await form.close()
