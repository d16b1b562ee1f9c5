"""The permissions table's French descriptions (what the account page shows of a token's scopes)."""

from __future__ import annotations

from maillage.security.policy import PERMISSION_LABELS, Permission, permission_label


class TestPermissionLabel:
    def test_every_permission_has_a_french_description(self):
        assert set(PERMISSION_LABELS) == set(Permission)
        assert len(set(PERMISSION_LABELS.values())) == len(Permission), "two permissions read the same"

    def test_a_scope_reads_as_its_description_and_an_unknown_one_as_itself(self):
        assert permission_label("break_glass.use") == "Accéder en urgence à un dossier (bris de glace)"
        assert permission_label("old.scope") == "old.scope"
