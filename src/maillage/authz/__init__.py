"""Authorization: the role policy table, care relationships, break-the-glass, and the only way to patient data."""

import maillage.vault  # noqa: F401  (installs the cipher of this package's SealedText columns)
