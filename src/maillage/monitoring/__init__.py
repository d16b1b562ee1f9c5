"""Telesurveillance: programmes per indication, enrolment, device ingestion, alert rules and triage."""

import maillage.vault  # noqa: F401  (installs the cipher of this package's SealedText columns)
