"""The audit trail: every access to patient data, append-only and hash-chained (docs/adr/0004-audit-hash-chain.md).

Other packages call ``maillage.audit.service.record`` (same transaction) and ``record_denied`` (own transaction).
"""

import maillage.vault  # noqa: F401  (installs the cipher of this package's SealedText columns)
