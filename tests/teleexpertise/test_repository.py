"""Tele-expertise queries on SQLite and PostgreSQL: the worklist rank kept with the status, the worklist's order
(urgency then due time, open requests only, read from the partial index), "mes demandes", the coordinator's board
(checked against a direct computation over every row) and the migration that adds and backfills the rank."""

from __future__ import annotations

import datetime as dt
import os
import random
import uuid
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from maillage.exceptions import NotFound
from maillage.kit.clock import PARIS, frozen
from maillage.models.directory import Establishment, SpecialtyLineMember
from maillage.models.teleexpertise import TeleexpertiseRequest
from maillage.teleexpertise import repository as repo
from maillage.teleexpertise import service
from maillage.teleexpertise.rules import OPEN, Orientation, Status
from maillage.teleexpertise.schemas import MessageIn
from tests.conftest import postgres_url, run_migrations, skip_or_fail
from tests.fixtures.teleexpertise import OPINION, World, claimed, draft, make_line, submitted, world

NOW = dt.datetime(2026, 6, 15, 9, 30, 0, 123456, tzinfo=dt.UTC)
RANKS = {"very_urgent": 0, "urgent": 1, "routine": 2}


def rank_of(db: Any, request_id: uuid.UUID) -> int | None:
    return db.scalar(select(TeleexpertiseRequest.worklist_rank).where(TeleexpertiseRequest.id == request_id))


def row(w: World, *, line_id: uuid.UUID | None = None, status: str = "published", urgency: str = "routine",
        submitted_at: dt.datetime = NOW, **values: Any) -> TeleexpertiseRequest:
    """A request row written directly (the shapes the service produces), its rank set as the repository sets it."""
    return TeleexpertiseRequest(
        patient_id=w.patient_id, line_id=line_id or w.line.id, requester_id=w.requester.id, status=status,
        urgency=urgency, question="Question de test suffisamment longue.", submitted_at=submitted_at,
        due_at=submitted_at + dt.timedelta(hours=48), committed_minutes=48 * 60, created_at=submitted_at,
        updated_at=submitted_at, worklist_rank=repo.worklist_rank(status, urgency), **values)


class TestWorklistRank:
    @pytest.mark.parametrize("status", [s.value for s in Status])
    @pytest.mark.parametrize("urgency", ["routine", "urgent", "very_urgent"])
    def test_rank_is_the_urgency_while_open_and_none_otherwise(self, status: str, urgency: str) -> None:
        expected = RANKS[urgency] if Status(status) in OPEN else None
        assert repo.worklist_rank(status, urgency) == expected

    def test_the_service_keeps_the_rank_along_the_whole_workflow(self, db) -> None:
        w = world(db)
        req = draft(db, w, urgency="urgent")
        assert rank_of(db, req.id) is None
        req = submitted(db, w, urgency="urgent")
        assert rank_of(db, req.id) == 1
        service.claim(db, w.a(db, w.expert), req.id)
        assert rank_of(db, req.id) == 1
        service.ask(db, w.a(db, w.expert), req.id, MessageIn(body="Depuis quand la lésion saigne-t-elle ?"))
        assert (req.status, rank_of(db, req.id)) == ("awaiting_information", 1)
        service.reply(db, w.a(db, w.requester), req.id, MessageIn(body="Depuis deux semaines."))
        assert rank_of(db, req.id) == 1
        service.answer(db, w.a(db, w.expert), req.id, OPINION)
        assert (req.status, rank_of(db, req.id)) == ("completed", None)

    def test_hand_back_keeps_and_decline_or_cancel_clear_the_rank(self, db) -> None:
        w = world(db)
        req = claimed(db, w)
        service.hand_back(db, w.a(db, w.expert), req.id, "Absent la semaine prochaine.")
        assert (req.status, rank_of(db, req.id)) == ("published", 2)
        service.decline(db, w.a(db, w.colleague), req.id, "Hors du champ de la ligne.")
        assert rank_of(db, req.id) is None
        other = submitted(db, w)
        service.cancel(db, w.a(db, w.requester), other.id, "Patient vu entre-temps.")
        assert rank_of(db, other.id) is None


class TestWorklistOrder:
    def test_open_requests_of_the_line_by_urgency_then_due_time(self, db) -> None:
        w = world(db)
        rng = random.Random(3)
        rows = []
        for i in range(40):
            status = rng.choice(["published", "in_progress", "awaiting_information", "completed", "declined",
                                 "cancelled"])
            rows.append(row(w, status=status, urgency=rng.choice(list(RANKS)),
                            submitted_at=NOW - dt.timedelta(minutes=rng.randrange(10_000), seconds=i)))
        rows.append(row(w, line_id=w.other_line.id, urgency="very_urgent"))
        db.add_all(rows)
        db.flush()
        expected = sorted((r for r in rows if r.line_id == w.line.id and Status(r.status) in OPEN),
                          key=lambda r: (RANKS[r.urgency], r.due_at, r.id))
        got = repo.worklist(db, w.line.id, limit=100, offset=0)
        assert [r.id for r in got] == [r.id for r in expected]
        assert len(got) < 40
        assert [r.id for r in repo.worklist(db, w.line.id, limit=5, offset=5)] == [r.id for r in expected[5:10]]

    def test_the_service_worklist_orders_through_the_rank(self, db) -> None:
        w = world(db)
        routine = submitted(db, w)
        urgent = submitted(db, w, urgency="urgent")
        done = claimed(db, w, urgency="urgent")
        service.answer(db, w.a(db, w.expert), done.id, OPINION)
        got = service.worklist(db, w.a(db, w.expert), w.line.id, limit=10, offset=0)
        assert [r.id for r in got] == [urgent.id, routine.id]

    def test_the_worklist_query_reads_the_partial_index(self, db, backend) -> None:
        w = world(db)
        db.add_all([row(w, urgency="urgent"), row(w, status="completed")])
        db.flush()
        if backend == "postgresql":
            db.execute(text("SET LOCAL enable_seqscan = off"))
            plan = " ".join(r[0] for r in db.execute(text(
                "EXPLAIN SELECT id FROM teleexpertise_request WHERE line_id = :l AND worklist_rank IS NOT NULL "
                "ORDER BY worklist_rank, due_at, id LIMIT 200"), {"l": w.line.id}))
        else:
            plan = " ".join(str(r[-1]) for r in db.execute(text(
                "EXPLAIN QUERY PLAN SELECT id FROM teleexpertise_request WHERE line_id = :l "
                "AND worklist_rank IS NOT NULL ORDER BY worklist_rank, due_at, id LIMIT 200"), {"l": str(w.line.id)}))
        assert "ix_teleexpertise_request_worklist" in plan
        assert "TEMP B-TREE" not in plan.upper()  # SQLite: no sort step, the index gives the order


class TestMyRequests:
    def test_most_recently_changed_first(self, db) -> None:
        w = world(db)
        rows = [row(w, status="completed" if i % 2 else "published", submitted_at=NOW - dt.timedelta(hours=i))
                for i in range(6)]
        rows[4].updated_at = NOW + dt.timedelta(minutes=5)
        db.add_all(rows)
        db.flush()
        got = repo.of_requester(db, w.requester.id, limit=3, offset=0)
        assert [r.id for r in got] == [rows[4].id, rows[0].id, rows[1].id]


# --- The coordinator's board ----------------------------------------------------------------------------------


def direct_board(rows: list[TeleexpertiseRequest], since: dt.datetime, at: dt.datetime) -> dict[Any, dict[str, Any]]:
    """Every figure of the board, per line and per requesting establishment on each line, computed from every row
    one by one: the reference for the queries."""
    groups: dict[Any, dict[str, Any]] = {}

    def group(key: Any) -> dict[str, Any]:
        return groups.setdefault(key, {"volume": 0, "answered": 0, "delays": [], "open": 0, "overdue": 0,
                                       "orientations": {}})

    for r in rows:
        is_open = Status(r.status) in OPEN
        if r.submitted_at is None or not (r.submitted_at >= since or is_open):
            continue
        for key in (("line", r.line_id), ("establishment", (r.line_id, r.requester_establishment_id))):
            g = group(key)
            g["volume"] += 1
            g["open"] += is_open
            g["overdue"] += r.status in ("published", "in_progress") and r.due_at is not None and r.due_at < at
            if r.signed_at is not None:
                g["answered"] += 1
                g["delays"].append((r.signed_at - r.submitted_at).total_seconds())
            if r.orientation:
                g["orientations"][r.orientation] = g["orientations"].get(r.orientation, 0) + 1
    for g in groups.values():
        delays = sorted(g.pop("delays"))
        g["median"] = repo.nearest_rank(delays, 0.5)
        g["p90"] = repo.nearest_rank(delays, 0.9)
    return groups


def as_dict(f: repo.BoardFigures) -> dict[str, Any]:
    return {"volume": f.volume, "answered": f.answered, "open": f.open, "overdue": f.overdue,
            "orientations": f.orientations, "median": f.median_seconds, "p90": f.p90_seconds}


def history(w: World, rng: random.Random, establishments: list[uuid.UUID | None], n: int) -> list[TeleexpertiseRequest]:
    """``n`` requests over 200 days on two lines: completed (with microsecond delays), declined, cancelled, open
    (some long forgotten, some overdue), from several establishments and from none."""
    rows = []
    for _ in range(n):
        submitted_at = NOW - dt.timedelta(seconds=rng.randrange(200 * 86400), microseconds=rng.randrange(10**6))
        status = rng.choices(["completed", "declined", "cancelled", "published", "in_progress",
                              "awaiting_information", "draft"], weights=[60, 6, 4, 10, 10, 5, 5])[0]
        values: dict[str, Any] = {"requester_establishment_id": rng.choice(establishments)}
        if status == "completed":
            signed = submitted_at + dt.timedelta(seconds=rng.randrange(1, 5 * 86400), microseconds=rng.randrange(10**6))
            values.update(signed_at=signed, closed_at=signed, orientation=rng.choice(list(Orientation)).value)
        elif status in ("declined", "cancelled"):
            values.update(closed_at=submitted_at + dt.timedelta(hours=3))
        rows.append(row(w, line_id=rng.choice([w.line.id, w.other_line.id]), status=status,
                        urgency=rng.choice(list(RANKS)), submitted_at=submitted_at, **values))
        if status == "draft":
            rows[-1].submitted_at = rows[-1].due_at = None
    return rows


class TestBoard:
    def test_board_queries_equal_the_direct_computation(self, db) -> None:
        w = world(db)
        rng = random.Random(17)
        establishments: list[uuid.UUID | None] = [uuid.uuid4() for _ in range(4)] + [None]
        rows = history(w, rng, establishments, 400)
        db.add_all(rows)
        db.flush()
        for days in (1, 30, 90, 365):
            since = NOW - dt.timedelta(days=days)
            expected = direct_board(rows, since, NOW)
            got = repo.board_figures(db, [w.line.id, w.other_line.id], since, NOW, service.WATCHED)
            flat = {("line", k): as_dict(f) for k, f in got.lines.items()}
            flat |= {("establishment", k): as_dict(f) for k, f in got.establishments.items()}
            assert flat == expected, days
            one = repo.board_figures(db, [w.line.id], since, NOW, service.WATCHED)
            only = direct_board([r for r in rows if r.line_id == w.line.id], since, NOW)
            assert {("establishment", k): as_dict(f) for k, f in one.establishments.items()} == {
                k: v for k, v in only.items() if k[0] == "establishment"}, days
        assert expected[("line", w.line.id)]["overdue"] > 0
        assert expected[("establishment", (w.line.id, None))]["volume"] > 0

    def test_a_line_without_requests_has_an_empty_board(self, db) -> None:
        w = world(db)
        got = repo.board_figures(db, [w.line.id], NOW - dt.timedelta(days=90), NOW, service.WATCHED)
        assert {k: as_dict(f) for k, f in got.lines.items()} == {w.line.id: as_dict(repo.BoardFigures())}
        assert got.establishments == {}
        assert repo.board_figures(db, [], NOW, NOW, service.WATCHED) == repo.BoardResult()

    def test_the_service_board_per_line_and_per_requesting_establishment(self, db) -> None:
        w = world(db)
        ehpad = Establishment(kind="ehpad", name="EHPAD Les Tilleuls")
        db.add(ehpad)
        db.flush()
        hours = [2, 4, 6, 30]
        rows = [row(w, status="completed", submitted_at=NOW - dt.timedelta(days=3),
                    signed_at=NOW - dt.timedelta(days=3) + dt.timedelta(hours=h), closed_at=NOW,
                    orientation="urgent_transfer" if h == 30 else "advice_only",
                    requester_establishment_id=ehpad.id if h < 30 else None) for h in hours]
        rows.append(row(w, urgency="urgent", submitted_at=NOW - dt.timedelta(days=400),
                        requester_establishment_id=ehpad.id))  # forgotten: open, overdue, before the period
        rows.append(row(w, status="completed", submitted_at=NOW - dt.timedelta(days=120), signed_at=NOW,
                        closed_at=NOW, orientation="consultation"))  # before the period: not counted
        db.add_all(rows)
        db.flush()
        with frozen(NOW):
            board = service.coordination(db, w.a(db, w.expert))
            assert service.board(db, w.a(db, w.expert)) == board.lines
        assert [b.line.id for b in board.lines] == [w.line.id]
        b = board.lines[0]
        assert (b.volume, b.answered, b.open, b.overdue) == (5, 4, 1, 1)
        assert (b.median_hours, b.p90_hours) == (4.0, 30.0)
        assert b.orientations == {"Conseil, sans autre suite": 3, "Transfert urgent": 1}
        by_name = {e.name: e for e in b.establishments}
        assert list(by_name) == ["EHPAD Les Tilleuls", service.UNKNOWN_ESTABLISHMENT]
        tilleuls = by_name["EHPAD Les Tilleuls"]
        assert (tilleuls.volume, tilleuls.answered, tilleuls.median_hours, tilleuls.p90_hours, tilleuls.overdue) \
            == (4, 3, 4.0, 6.0, 1)
        assert by_name[service.UNKNOWN_ESTABLISHMENT].orientations == {"Transfert urgent": 1}

    def test_a_line_member_sees_only_the_lines_they_belong_to(self, db) -> None:
        w = world(db)
        third = make_line(db, answering=[w.outsider], title="Pneumologie", requirements=[])
        db.add(SpecialtyLineMember(line_id=third.id, professional_id=w.expert.person_id, role="backup"))
        db.flush()
        titles = [b.line.title for b in service.board(db, w.a(db, w.expert))]
        assert titles == ["Dermatologie", "Pneumologie"]
        db.add_all([row(w, line_id=line_id) for line_id in (w.line.id, third.id)])
        db.flush()
        service.refresh_board(db)
        for detailed in (w.line.id, third.id):  # one line at a time per requesting establishment
            board = service.coordination(db, w.a(db, w.expert), line_id=detailed)
            assert board.detailed == detailed
            assert [len(b.establishments) for b in board.lines] == [int(b.line.id == detailed) for b in board.lines]
        with pytest.raises(NotFound):
            service.coordination(db, w.a(db, w.expert), line_id=w.other_line.id)


def snapshot_flat(rows: list[Any]) -> dict[Any, dict[str, Any]]:
    return {("line", r.line_id) if r.whole_line else ("establishment", (r.line_id, r.establishment_id)):
            as_dict(repo.figures_of(r)) for r in rows}


class TestBoardSnapshot:
    def test_the_snapshot_equals_the_direct_computation(self, db) -> None:
        w = world(db)
        rows = history(w, random.Random(23), [uuid.uuid4() for _ in range(3)] + [None], 300)
        db.add_all(rows)
        db.flush()
        with frozen(NOW):
            assert service.refresh_board(db) == 2  # the worker's job: every tele-expertise line
            service.refresh_board(db)  # a second run replaces the rows, it does not add to them
        snapshot = repo.board_snapshot(db, [w.line.id, w.other_line.id], service.BOARD_DAYS)
        expected = direct_board(rows, NOW - dt.timedelta(days=service.BOARD_DAYS), NOW)
        assert snapshot_flat(snapshot) == expected
        assert len(snapshot) == len(expected) and {r.computed_at for r in snapshot} == {NOW}
        assert sum(1 for k in expected if k[0] == "establishment") > 4

    def test_the_page_reads_the_snapshot_and_recomputes_it_once_stale(self, db) -> None:
        w = world(db)
        db.add(row(w, status="completed", submitted_at=NOW - dt.timedelta(days=2), signed_at=NOW, closed_at=NOW,
                   orientation="advice_only"))
        db.flush()
        coordinator = w.a(db, w.expert)
        with frozen(NOW) as clock:
            first = service.coordination(db, coordinator)
            assert first.computed_at == NOW and first.lines[0].volume == 1
            db.add(row(w, submitted_at=NOW - dt.timedelta(hours=1)))
            db.flush()
            clock.advance(service.BOARD_STALE_AFTER - dt.timedelta(seconds=1))
            assert service.coordination(db, coordinator) == first  # fresh enough: read as computed
            clock.advance(dt.timedelta(seconds=2))
            later = service.coordination(db, coordinator)
        assert later.computed_at == NOW + service.BOARD_STALE_AFTER + dt.timedelta(seconds=1)
        assert (later.lines[0].volume, later.lines[0].open) == (2, 1)
        assert later.computed_time == (NOW + service.BOARD_STALE_AFTER).astimezone(PARIS).strftime("%H:%M")

    def test_the_worker_refreshes_the_snapshot_every_few_minutes(self) -> None:
        from maillage.teleexpertise import tasks
        from maillage.worker import registry

        specs = {s.name: s for s in registry.periodic_specs()}
        assert specs["teleexpertise.refresh_board"].every == service.BOARD_REFRESH_EVERY < service.BOARD_STALE_AFTER
        assert registry.get("teleexpertise.refresh_board").handler is tasks.refresh_board  # type: ignore[union-attr]


# --- The migration's backfill -----------------------------------------------------------------------------------

BEFORE = "20261128_1408"
AFTER = "20261128_1655"


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_connection(request, tmp_path):
    """A connection to an empty database without foreign-key enforcement (rows are written with raw SQL)."""
    if request.param == "sqlite":
        eng = create_engine(f"sqlite:///{tmp_path / 'backfill.sqlite3'}")
        with eng.begin() as conn:
            yield conn
        eng.dispose()
        return
    url = postgres_url()
    if url is None:
        skip_or_fail("MAILLAGE_REQUIRE_POSTGRES", "PostgreSQL non configuré : MAILLAGE_TEST_DATABASE_URL absent")
    schema = f"backfill_{os.getpid()}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = create_engine(f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}")
    with eng.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield conn
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def test_the_migration_backfills_the_rank_from_status_and_urgency(bare_connection) -> None:
    conn = bare_connection
    run_migrations(conn, BEFORE)
    cases = [(s.value, u) for s in Status for u in RANKS]
    ids = []
    for status, urgency in cases:
        ids.append(uuid.uuid4())
        conn.execute(text(
            "INSERT INTO teleexpertise_request (id, patient_id, line_id, requester_id, status, urgency, question, "
            "clinical_context, provided, patient_inpatient, version, created_at, updated_at) VALUES (:id, :p, :l, "
            ":r, :s, :u, 'q', '', '[]', false, 1, :t, :t)"),
            {"id": str(ids[-1]), "p": str(uuid.uuid4()), "l": str(uuid.uuid4()), "r": str(uuid.uuid4()),
             "s": status, "u": urgency, "t": NOW})
    run_migrations(conn, AFTER)
    got = {str(i): r for i, r in conn.execute(text("SELECT id, worklist_rank FROM teleexpertise_request"))}
    for (status, urgency), request_id in zip(cases, ids, strict=True):
        assert got[str(request_id)] == repo.worklist_rank(status, urgency), (status, urgency)
    run_migrations(conn, BEFORE, down=True)
    columns = list(conn.execute(text("SELECT * FROM teleexpertise_request")).keys())
    assert "worklist_rank" not in columns and "urgency" in columns
