"""Patients: national health identity (INS), identity status and strict traits, NIR and NIA."""

import maillage.vault  # noqa: F401  (installs the cipher of this package's SealedText columns)
