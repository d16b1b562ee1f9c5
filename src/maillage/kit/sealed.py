"""A column type for free text that is encrypted before it reaches the database: ``SealedText``.

The rule: a column that can hold health data written by a person (a question, a clinical context, an opinion, a
reason, a comment) is declared ``SealedText("<table>.<column>")``. The value is a ``str`` in Python and an
envelope (``vault1:<key id>:<wrapped data key>:<nonce and ciphertext>``) in the database, on every path that
goes through SQLAlchemy with the column's type: ORM flushes, Core ``insert``/``update``/``select`` of the column.
Raw SQL strings bypass it (the callers that use them seal explicitly with ``text_cipher()``).

The kit knows no keys: the cipher is installed by ``maillage.vault`` when it is imported (every package whose
models hold a sealed column imports it). A sealed column can not be searched, sorted or compared in SQL: the
envelope is random. The scope ``table.column`` is the associated data, so an envelope copied into another
column does not open.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class TextCipher(Protocol):
    def seal(self, scope: str, plaintext: str) -> str: ...

    def open(self, scope: str, stored: str) -> str: ...


_cipher: TextCipher | None = None


def install_text_cipher(cipher: TextCipher) -> None:
    """Called once by ``maillage.vault`` at import."""
    global _cipher
    _cipher = cipher


def text_cipher() -> TextCipher:
    if _cipher is None:
        raise RuntimeError("no text cipher installed: import maillage.vault before using a SealedText column")
    return _cipher


class SealedText(TypeDecorator[str]):
    """Text encrypted at rest through the vault, bound to ``scope`` (``"table.column"``) as associated data."""

    impl = Text
    cache_ok = True

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{self.scope}: a sealed column takes text")
        return text_cipher().seal(self.scope, value)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return text_cipher().open(self.scope, value)

    def __repr__(self) -> str:
        return f"SealedText({self.scope!r})"
