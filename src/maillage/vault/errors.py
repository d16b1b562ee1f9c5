"""Typed errors of the vault, French messages, no secret and no content in them."""

from __future__ import annotations

from maillage.exceptions import MaillageError, ServiceUnavailable


class KeyConfigurationError(ServiceUnavailable):
    """The key-encryption keys cannot be loaded safely (missing, loose permissions, malformed)."""

    code = "vault_key_configuration"
    default_message = "Les clés de chiffrement ne sont pas disponibles."


class KeyUnavailable(ServiceUnavailable):
    """A data key refers to a key-encryption key that the key ring does not hold."""

    code = "vault_key_unavailable"
    default_message = "La clé de chiffrement nécessaire n'est pas disponible."


class CiphertextCorrupted(MaillageError):
    """Stored ciphertext, its hash or its tag does not verify: the bytes are never returned."""

    status_code = 500
    code = "vault_ciphertext_corrupted"
    default_message = "Le contenu chiffré est altéré ou n'appartient pas à cet objet : il ne peut pas être lu."
