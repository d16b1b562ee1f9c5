"""Tele-expertise: a requester's question to a specialty line of the support hospital, the specialist's
structured opinion, the patient's orientation, and the billable acts."""

import maillage.vault  # noqa: F401  (installs the cipher of this package's SealedText columns)
