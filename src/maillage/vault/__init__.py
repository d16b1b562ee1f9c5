"""Encryption at rest: envelope encryption of free-text bodies and documents (see docs/adr/0005).

Every object gets its own random data key; data keys are wrapped by a key-encryption key kept outside the
database (``var/keys/`` or ``MAILLAGE_VAULT_KEYS``). Other packages call ``maillage.vault.service``.

Importing this package installs the cipher of ``SealedText`` columns (``maillage.vault.columns``): every package
whose models hold a sealed column imports it.
"""

from maillage.vault import columns as _columns

_columns.install()
