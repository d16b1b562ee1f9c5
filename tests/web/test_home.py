"""What waits for a signed-in person: each item from its capability's reading function, only for the roles allowed."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from maillage.authz import service as authz
from maillage.security.context import AuditContext
from maillage.teleexpertise import service as teleexpertise
from maillage.teleexpertise.schemas import MessageIn
from maillage.web.home import HomeItem, indicators_refreshed, waiting_items
from tests.fixtures.factories import make_patient_id, make_user
from tests.fixtures.teleexpertise import actor, claimed, submitted, world

CONTEXT = AuditContext(request_id="test", address="testclient")


@contextmanager
def counted_selects(db):
    """Count the SELECT statements sent through the session's connection while the block runs."""
    found: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            found.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", record)


def labels(items: list[HomeItem]) -> dict[str, tuple[int, str]]:
    return {item.label: (item.count, item.href) for item in items}


class TestWaitingItems:
    def test_the_specialist_sees_the_requests_of_their_line_to_answer(self, db):
        w = world(db)
        submitted(db, w)
        found = labels(waiting_items(db, actor(db, w.expert), CONTEXT))
        assert found[f"demande à traiter — {w.line.title}"] == (1, f"/teleexpertise/lignes/{w.line.id}")

    def test_the_requester_sees_the_question_asked_of_them_linked_to_the_request(self, db):
        w = world(db)
        req = claimed(db, w)
        teleexpertise.ask(db, actor(db, w.expert), req.id, MessageIn(body="Depuis quand la lésion saigne-t-elle ?"))
        found = labels(waiting_items(db, actor(db, w.requester), CONTEXT))
        assert found["question d'un spécialiste à laquelle répondre"] == (1, f"/teleexpertise/demandes/{req.id}")

    def test_nothing_waiting_gives_no_item(self, db):
        w = world(db)
        assert waiting_items(db, actor(db, w.requester), CONTEXT) == []

    def test_a_role_without_a_capability_gets_none_of_its_items(self, db):
        w = world(db)
        submitted(db, w)
        assert waiting_items(db, actor(db, make_user(db, "analyst")), CONTEXT) == []

    def test_the_administrator_sees_the_emergency_accesses_to_review(self, db):
        physician = make_user(db, "physician")
        authz.break_glass(db, actor(db, physician), make_patient_id(db),
                          "Patient inconscient aux urgences, médecin traitant injoignable")
        found = labels(waiting_items(db, actor(db, make_user(db, "administrator")), CONTEXT))
        assert found["accès en urgence à revoir"] == (1, "/admin/audit")

    def test_the_number_of_queries_does_not_grow_with_the_requests_waiting(self, db):
        w = world(db)
        submitted(db, w)
        with counted_selects(db) as one:
            waiting_items(db, actor(db, w.expert), CONTEXT)
        for _ in range(3):
            submitted(db, w)
        with counted_selects(db) as four:
            found = labels(waiting_items(db, actor(db, w.expert), CONTEXT))
        assert found[f"demandes à traiter — {w.line.title}"][0] == 4
        assert len(four) == len(one)

    def test_an_item_says_singular_or_plural_from_its_count(self):
        assert HomeItem(1, "alerte rouge", "alertes rouges", "/").label == "alerte rouge"
        assert HomeItem(3, "alerte rouge", "alertes rouges", "/").label == "alertes rouges"


class TestIndicatorsRefreshed:
    def test_counts_the_indicators_with_a_stored_result(self, tmp_path):
        (tmp_path / "apl").mkdir()
        (tmp_path / "apl" / "run.json").write_text("{}")
        (tmp_path / "empty").mkdir()
        assert indicators_refreshed(tmp_path) == 1
        assert indicators_refreshed(tmp_path / "missing") == 0
