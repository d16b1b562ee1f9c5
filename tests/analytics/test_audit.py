"""The warehouse journal of analysts' queries and exports."""

from __future__ import annotations

import stat

from maillage.analytics import audit


class TestRecord:
    def test_appends_entries_with_ids_only_readable_by_the_owner(self, fresh_warehouse):
        audit.record(fresh_warehouse, actor="u-1", action="export", indicator="apl-mg", parameters={"annee": 2025},
                     rows=12, fmt="csv")
        audit.record(fresh_warehouse, actor="u-2", action="consultation", indicator="telemedecine", parameters={})
        entries = audit.entries(fresh_warehouse)
        assert [(e["actor"], e["action"], e["rows"]) for e in entries] == [("u-1", "export", 12),
                                                                            ("u-2", "consultation", 0)]
        assert stat.S_IMODE(fresh_warehouse.audit_path.stat().st_mode) == 0o600

    def test_no_journal_means_no_entries(self, fresh_warehouse):
        assert audit.entries(fresh_warehouse) == []
