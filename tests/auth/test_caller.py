"""Who is calling, resolved on every request in one statement: what it opens, and that nothing it resolved outlives
a revocation — a revoked token or session, a disabled account, a role or an establishment taken away all hold from
the very next request (nothing is cached between requests: docs/adr/0015-web-tier-who-is-calling-and-the-stack.md).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import update

from maillage.auth import caller
from maillage.auth import service as auth
from maillage.auth import tokens as auth_tokens
from maillage.kit import clock
from maillage.models.auth import UserAccount, UserEstablishment
from maillage.web.metrics import DbUse, _current, install_statement_counter
from tests.fixtures.factories import make_user
from tests.fixtures.web import sign_in

HTML = {"accept": "text/html"}
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def token_of(db, user) -> str:  # type: ignore[no-untyped-def]
    issued = auth_tokens.create_personal_token(db, user, name="t", scopes=[], days=30)
    db.commit()
    return issued.secret


class TestRevocationHoldsOnTheNextRequest:
    def test_a_revoked_token_opens_nothing_on_the_next_request(self, client, db):
        user = make_user(db)
        secret = token_of(db, user)
        assert client.get("/api/auth/me", headers=bearer(secret)).status_code == 200
        auth_tokens.revoke_token(db, auth_tokens.resolve_token(db, secret).token_id, owner=user)  # type: ignore[union-attr]
        db.commit()
        assert client.get("/api/auth/me", headers=bearer(secret)).status_code == 401

    def test_a_revoked_session_opens_nothing_on_the_next_request(self, client, db):
        user = make_user(db)
        sign_in(client, db, user)
        assert client.get("/api/auth/me").status_code == 200
        auth.revoke_all_sessions(db, user)
        db.commit()
        assert client.get("/api/auth/me").status_code == 401

    def test_a_disabled_account_is_refused_on_the_next_request_by_session_and_by_token(self, client, db):
        user = make_user(db)
        secret = token_of(db, user)
        sign_in(client, db, user)
        assert client.get("/api/auth/me").status_code == 200
        db.execute(update(UserAccount).where(UserAccount.id == user.id).values(status="disabled"))
        db.commit()
        assert client.get("/api/auth/me").status_code == 401
        client.cookies.clear()
        assert client.get("/api/auth/me", headers=bearer(secret)).status_code == 401

    def test_a_role_taken_away_takes_its_permissions_on_the_next_request(self, client, db):
        admin = make_user(db, "administrator")
        sign_in(client, db, admin)
        assert client.get("/admin/comptes", headers=HTML).status_code == 200
        db.execute(update(UserAccount).where(UserAccount.id == admin.id).values(role="physician"))
        db.commit()
        assert client.get("/admin/comptes", headers=HTML).status_code == 403
        assert client.get("/api/auth/me").json()["role"] == "physician"

    def test_an_establishment_taken_away_is_gone_on_the_next_request(self, client, db):
        user = make_user(db)
        kept, removed = uuid.uuid4(), uuid.uuid4()
        db.add_all([UserEstablishment(user_id=user.id, establishment_id=kept, is_default=True),
                    UserEstablishment(user_id=user.id, establishment_id=removed)])
        secret = token_of(db, user)
        assert client.get("/api/auth/me", headers=bearer(secret)).json()["establishment_ids"] == [str(kept),
                                                                                                 str(removed)]
        db.query(UserEstablishment).filter_by(user_id=user.id, establishment_id=removed).delete()
        db.commit()
        assert client.get("/api/auth/me", headers=bearer(secret)).json()["establishment_ids"] == [str(kept)]


class TestOneStatement:
    def test_who_is_calling_is_one_statement_and_the_last_use_an_update_once_a_minute(self, db):
        install_statement_counter()
        user = make_user(db)
        with clock.frozen(T0) as c:
            secret = token_of(db, user)
            token_session, _ = auth.start_session(db, user, mfa_passed=True)
            db.commit()
            conn = db.connection()
            for resolve in (lambda: caller.token_actor(conn, secret),
                            lambda: caller.session_caller(conn, token_session, idle_minutes=30).actor):
                counted = [DbUse(), DbUse(), DbUse()]
                for use in counted:
                    reset = _current.set(use)
                    try:
                        assert resolve() is not None
                    finally:
                        _current.reset(reset)
                    c.advance(dt.timedelta(seconds=30))
                # the first use writes the last use; 30 s later nothing; 60 s after the write, again
                assert [use.statements for use in counted] == [2, 1, 2]

    def test_the_default_establishment_comes_first_and_is_the_current_one_of_a_token(self, db):
        user = make_user(db)
        first, default = sorted((uuid.uuid4(), uuid.uuid4()))
        db.add_all([UserEstablishment(user_id=user.id, establishment_id=first),
                    UserEstablishment(user_id=user.id, establishment_id=default, is_default=True)])
        secret = token_of(db, user)
        actor = caller.token_actor(db.connection(), secret)
        assert actor is not None
        assert actor.establishment_ids == (default, first) and actor.current_establishment_id == default

    def test_a_session_waiting_for_its_second_factor_opens_only_that_step(self, db):
        user = make_user(db)
        token, pending = auth.start_session(db, user, mfa_passed=False)
        db.commit()
        found = caller.session_caller(db.connection(), token, idle_minutes=30)
        assert found.actor is None and found.pending == (pending.id, user.id) and found.password_change is None

    def test_an_unknown_or_oversized_credential_opens_nothing(self, db):
        conn = db.connection()
        assert caller.session_caller(conn, "x" * 201, idle_minutes=30) == caller.NOBODY
        assert caller.session_caller(conn, "inconnu", idle_minutes=30) == caller.NOBODY
        assert caller.token_actor(conn, "mlg_pat_inconnu") is None
        assert caller.token_actor(conn, "mlg_dev_pas-un-jeton-de-personne") is None


class TestOnAnEngineOfItsOwn:
    """The serve process's own path: ``create_app`` owns its engine; on PostgreSQL who is calling is awaited on the
    event loop (its own autocommit pool), so a request hands work to a thread once, for its route; on SQLite it runs
    in a thread. Either way a revocation holds on the next request."""

    def test_a_request_by_token_and_its_revocation(self, empty_engine, tmp_path, monkeypatch):
        import anyio.to_thread
        from fastapi.testclient import TestClient
        from sqlalchemy.orm import Session

        from maillage.app import create_app
        from maillage.config import Settings
        from tests.conftest import run_migrations

        with empty_engine.begin() as conn:
            run_migrations(conn)
        with Session(empty_engine) as db:
            user = make_user(db)
            issued = auth_tokens.create_personal_token(db, user, name="t", scopes=[], days=30)
            db.commit()
            user_id, username = user.id, user.username
        url = empty_engine.url.render_as_string(hide_password=False)
        app = create_app(Settings(environment="test", var_dir=tmp_path / "var", secret_key="t" * 40,
                                  database_url=url))
        on_the_loop = empty_engine.dialect.name == "postgresql"
        assert (app.state.caller_engine is not None) is on_the_loop
        hops: list[str] = []
        original = anyio.to_thread.run_sync

        async def counting(func, *args, **kwargs):  # type: ignore[no-untyped-def]
            hops.append(getattr(getattr(func, "func", func), "__qualname__", repr(func)))
            return await original(func, *args, **kwargs)

        with TestClient(app, base_url="http://127.0.0.1") as client:
            assert client.get("/api/auth/me", headers=bearer(issued.secret)).status_code == 200
            monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
            me = client.get("/api/auth/me", headers=bearer(issued.secret))
            assert me.status_code == 200 and me.json()["username"] == username
            assert len(hops) == (1 if on_the_loop else 2), hops
            with Session(empty_engine) as db:
                auth_tokens.revoke_token(db, issued.id, owner=db.get(UserAccount, user_id))  # type: ignore[arg-type]
                db.commit()
            assert client.get("/api/auth/me", headers=bearer(issued.secret)).status_code == 401
