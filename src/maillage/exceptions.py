"""Typed errors with their HTTP status. Services raise these; one handler renders them.

Messages are French because people read them; the ``code`` is English because code reads it.
"""

from __future__ import annotations

from typing import Any


class MaillageError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    default_message: str = "La demande ne peut pas être traitée."

    def __init__(self, message: str | None = None, *, details: Any = None, status_code: int | None = None):
        self.message = message or self.default_message
        self.details = details
        if status_code is not None:
            self.status_code = status_code
        super().__init__(self.message)


class ValidationFailed(MaillageError):
    status_code = 422
    code = "validation_failed"
    default_message = "Les données envoyées ne sont pas valides."


class NotAuthenticated(MaillageError):
    status_code = 401
    code = "not_authenticated"
    default_message = "Vous devez vous connecter."


class PermissionDenied(MaillageError):
    status_code = 403
    code = "permission_denied"
    default_message = "Vous n'avez pas le droit d'effectuer cette action."


class NotFound(MaillageError):
    """Missing, or outside the actor's scope: the two answers are identical on purpose."""

    status_code = 404
    code = "not_found"
    default_message = "Introuvable."


class Conflict(MaillageError):
    status_code = 409
    code = "conflict"
    default_message = "L'opération est en conflit avec l'état actuel."


class InvalidTransition(Conflict):
    code = "invalid_transition"
    default_message = "Ce changement d'état n'est pas permis."


class PayloadTooLarge(MaillageError):
    status_code = 413
    code = "payload_too_large"
    default_message = "Le contenu envoyé est trop volumineux."


class TooManyRequests(MaillageError):
    status_code = 429
    code = "too_many_requests"
    default_message = "Trop de tentatives. Réessayez plus tard."

    def __init__(self, message: str | None = None, *, retry_after: int = 60, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServiceUnavailable(MaillageError):
    status_code = 503
    code = "service_unavailable"
    default_message = "Le service est momentanément indisponible."
