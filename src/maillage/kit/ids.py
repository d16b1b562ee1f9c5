"""Identifiers as callers send them: a UUID object, or its text in a path, a form or a job payload.

An identifier that is not a UUID names nothing: by default it is ``NotFound`` (404), the same answer as a
well-formed identifier of a missing or out-of-scope object, so a malformed id tells a caller nothing more than a
missing one (house rule 3). Where the text is a choice the user typed or picked in a form, pass the error to
raise instead (a ``ValidationFailed`` saying what to choose).
"""

from __future__ import annotations

import uuid

from maillage.exceptions import MaillageError, NotFound


def as_uuid(value: uuid.UUID | str, *, invalid: MaillageError | None = None) -> uuid.UUID:
    """``value`` as a UUID; text that is not one raises ``invalid``, or ``NotFound`` when none is given."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise (invalid if invalid is not None else NotFound()) from None
