"""Patient documents: uploads checked by content, stored encrypted through the vault, read under authorization."""

import maillage.vault  # noqa: F401  (installs the cipher of this package's SealedText columns)
