"""Authentication use cases, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

import pyotp
import pytest
from sqlalchemy import select

from maillage.auth import second_factor as auth_second_factor
from maillage.auth import service
from maillage.auth import tokens as auth_tokens
from maillage.config import Settings
from maillage.exceptions import Conflict, NotFound, TooManyRequests, ValidationFailed
from maillage.kit import clock
from maillage.models.audit import AuditEntry
from maillage.models.auth import AuthSession, RecoveryCode, UserAccount
from tests.conftest import postgresql_only
from tests.fixtures.factories import DEFAULT_PASSWORD, make_user
from tests.fixtures.scratch import scratch_postgres_engine

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T0 = dt.datetime(2026, 11, 28, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def s(tmp_path):
    return Settings(environment="test", var_dir=tmp_path, secret_key="s" * 40)


class TestCreateUser:
    def test_a_valid_account_is_created_with_an_argon2id_hash(self, db):
        user = make_user(db, "nurse", username="Ide.Leroy")
        assert user.username == "ide.leroy"
        assert user.password_hash.startswith("$argon2id$")
        assert DEFAULT_PASSWORD not in user.password_hash

    def test_invalid_fields_are_all_reported_and_nothing_is_created(self, db):
        with pytest.raises(ValidationFailed) as err:
            service.create_user(db, username="x", display_name=" ", role="wizard", password="court")
        fields = {d["field"] for d in err.value.details}
        assert fields == {"username", "password", "role", "display_name"}
        assert db.scalar(select(UserAccount)) is None

    def test_a_taken_username_is_a_conflict(self, db):
        make_user(db, username="dr.martin")
        with pytest.raises(Conflict):
            make_user(db, username="DR.MARTIN")


class TestAuthenticatePassword:
    def test_the_right_password_succeeds(self, db, s):
        user = make_user(db)
        result = service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="10.0.0.1", settings=s)
        assert result.ok and result.user is user

    def test_unknown_user_wrong_password_and_disabled_get_the_same_answer(self, db, s):
        active = make_user(db)
        disabled = make_user(db)
        service.disable_user(db, disabled)
        answers = {
            service.authenticate_password(db, "nobody", DEFAULT_PASSWORD, settings=s).message,
            service.authenticate_password(db, active.username, "wrong-password-1A", settings=s).message,
            service.authenticate_password(db, disabled.username, DEFAULT_PASSWORD, settings=s).message,
        }
        assert answers == {service.LOGIN_FAILED}

    def test_five_failures_lock_the_account_even_for_the_right_password_until_an_admin_unlocks(self, db, s):
        user = make_user(db)
        with clock.frozen(T0):
            for _ in range(5):
                assert not service.authenticate_password(db, user.username, "bad-Password-9", settings=s).ok
            assert user.locked_until == T0 + dt.timedelta(minutes=15)
            assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, settings=s).ok
            service.unlock_user(db, user)
            assert service.authenticate_password(db, user.username, DEFAULT_PASSWORD, settings=s).ok

    def test_the_lock_expires_and_the_next_one_lasts_twice_as_long(self, db, s):
        user = make_user(db)
        with clock.frozen(T0) as c:
            for _ in range(5):
                service.authenticate_password(db, user.username, "bad-Password-9", settings=s)
            c.advance(dt.timedelta(minutes=16))
            assert service.authenticate_password(db, user.username, DEFAULT_PASSWORD, settings=s).ok
            for _ in range(5):
                service.authenticate_password(db, user.username, "bad-Password-9", settings=s)
            assert user.locked_until == c.now + dt.timedelta(minutes=30)

    def test_too_many_failures_from_one_address_are_refused_with_a_retry_delay(self, db, tmp_path):
        s = Settings(environment="test", var_dir=tmp_path, secret_key="s" * 40, login_address_max_failures=3)
        with clock.frozen(T0) as c:
            for i in range(3):
                service.authenticate_password(db, f"ghost{i}", "x", address="192.0.2.7", settings=s)
            c.advance(dt.timedelta(minutes=5))
            with pytest.raises(TooManyRequests) as err:
                service.authenticate_password(db, "ghost", "x", address="192.0.2.7", settings=s)
            assert err.value.retry_after == 600
            # another address is not affected
            service.authenticate_password(db, "ghost", "x", address="192.0.2.8", settings=s)

    def test_failures_are_audited_without_the_password(self, db, s):
        user = make_user(db)
        service.authenticate_password(db, user.username, "bad-Password-9", settings=s)
        db.commit()
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "login")).all()
        assert [e.outcome for e in entries] == ["failure"]
        assert "bad-Password" not in str(entries[0].details)


class TestSessions:
    def test_a_session_expires_after_the_idle_timeout(self, db, s):
        user = make_user(db)
        with clock.frozen(T0) as c:
            token, _ = service.start_session(db, user, mfa_passed=True, settings=s)
            c.advance(dt.timedelta(minutes=29))
            assert service.resolve_session(db, token, settings=s) is not None
            c.advance(dt.timedelta(minutes=29))  # activity 29 min ago, touched then
            assert service.resolve_session(db, token, settings=s) is not None
            c.advance(dt.timedelta(minutes=31))
            assert service.resolve_session(db, token, settings=s) is None

    def test_a_session_ends_at_its_absolute_timeout_even_when_active(self, db, s):
        user = make_user(db)
        with clock.frozen(T0) as c:
            token, _ = service.start_session(db, user, mfa_passed=True, settings=s)
            for _ in range(12 * 4):
                c.advance(dt.timedelta(minutes=15))
                service.resolve_session(db, token, settings=s)
            assert service.resolve_session(db, token, settings=s) is None

    def test_log_out_everywhere_revokes_every_session(self, db, s):
        user = make_user(db)
        tokens = [service.start_session(db, user, mfa_passed=True, settings=s)[0] for _ in range(3)]
        assert service.revoke_all_sessions(db, user) == 3
        assert all(service.resolve_session(db, t, settings=s) is None for t in tokens)

    def test_only_the_hash_of_the_token_is_stored(self, db, s):
        from maillage.models.auth import AuthSession

        user = make_user(db)
        token, row = service.start_session(db, user, mfa_passed=True, settings=s)
        assert token not in {row.token_hash} and len(row.token_hash) == 64
        assert db.scalar(select(AuthSession).where(AuthSession.token_hash == token)) is None


class TestSecondFactor:
    """RFC 6238 TOTP (30 s steps, 6 digits), one step of drift allowed, no replay."""

    def test_enrolment_requires_a_valid_code_and_returns_ten_single_use_recovery_codes(self, db, s):
        user = make_user(db, totp_secret=None)
        enrolment = auth_second_factor.begin_totp_enrolment(db, user, s)
        assert "<svg" in enrolment.qr_svg and enrolment.uri.startswith("otpauth://totp/")
        with pytest.raises(ValidationFailed):
            auth_second_factor.confirm_totp_enrolment(db, user, "000000")
        codes = auth_second_factor.confirm_totp_enrolment(db, user, pyotp.TOTP(enrolment.secret).now())
        assert len(codes) == 10 and len(set(codes)) == 10
        assert user.totp_enrolled_at is not None
        stored = db.scalars(select(RecoveryCode).where(RecoveryCode.user_id == user.id)).all()
        assert all(c.code_hash not in codes for c in stored)
        assert auth_second_factor.verify_second_factor(db, user, codes[0]) == "recovery"
        assert auth_second_factor.verify_second_factor(db, user, codes[0]) is None

    def test_a_code_is_accepted_once_and_a_replay_is_refused(self, db):
        user = make_user(db, totp_secret=SECRET)
        with clock.frozen(T0):
            code = pyotp.TOTP(SECRET).at(T0)
            assert auth_second_factor.verify_second_factor(db, user, code) == "totp"
            with pytest.raises(auth_second_factor.CodeAlreadyUsed, match="déjà été utilisé"):
                auth_second_factor.verify_second_factor(db, user, code)

    def test_one_step_of_clock_drift_is_tolerated_but_not_two(self, db):
        user = make_user(db, totp_secret=SECRET)
        with clock.frozen(T0):
            two_steps_ago = pyotp.TOTP(SECRET).at(T0 - dt.timedelta(seconds=60))
            one_step_ago = pyotp.TOTP(SECRET).at(T0 - dt.timedelta(seconds=30))
            assert auth_second_factor.verify_second_factor(db, user, two_steps_ago) is None
            assert auth_second_factor.verify_second_factor(db, user, one_step_ago) == "totp"

    def test_reset_by_an_administrator_clears_the_factor_and_ends_sessions(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        token, _ = service.start_session(db, user, mfa_passed=True, settings=s)
        auth_second_factor.reset_second_factor(db, user)
        assert user.totp_enrolled_at is None
        assert service.resolve_session(db, token, settings=s) is None
        assert auth_second_factor.verify_second_factor(db, user, pyotp.TOTP(SECRET).now()) is None


class TestTokens:
    def test_a_personal_token_acts_as_its_owner_with_its_scopes(self, db, s):
        user = make_user(db, "physician")
        issued = auth_tokens.create_personal_token(db, user, name="script", scopes=["patient.read"], days=30,
                                                   settings=s)
        actor = auth_tokens.resolve_token(db, issued.secret)
        assert actor is not None and actor.user_id == user.id and actor.scopes == frozenset({"patient.read"})

    def test_scopes_beyond_the_role_are_refused(self, db, s):
        user = make_user(db, "nurse")
        with pytest.raises(ValidationFailed):
            auth_tokens.create_personal_token(db, user, name="x", scopes=["users.admin"], settings=s)

    def test_expired_revoked_and_disabled_owner_tokens_do_not_work(self, db, s):
        user = make_user(db)
        with clock.frozen(T0) as c:
            short = auth_tokens.create_personal_token(db, user, name="a", scopes=[], days=1, settings=s)
            revoked = auth_tokens.create_personal_token(db, user, name="b", scopes=[], days=30, settings=s)
            auth_tokens.revoke_token(db, revoked.id, owner=user)
            assert auth_tokens.resolve_token(db, revoked.secret) is None
            c.advance(dt.timedelta(days=1, seconds=1))
            assert auth_tokens.resolve_token(db, short.secret) is None
        live = auth_tokens.create_personal_token(db, user, name="c", scopes=[], days=30, settings=s)
        assert auth_tokens.resolve_token(db, live.secret) is not None
        service.disable_user(db, user)
        assert auth_tokens.resolve_token(db, live.secret) is None

    def test_a_token_lifetime_is_bounded(self, db, s):
        user = make_user(db)
        with pytest.raises(ValidationFailed):
            auth_tokens.create_personal_token(db, user, name="forever", scopes=[], days=10_000, settings=s)

    def test_a_device_secret_resolves_to_a_device_never_to_an_actor(self, db):
        issued = auth_tokens.create_device_credential(db, device_identifier="balance-42", label="Balance")
        assert auth_tokens.resolve_device(db, issued.secret).device_identifier == "balance-42"
        assert auth_tokens.resolve_token(db, issued.secret) is None
        auth_tokens.revoke_device(db, "balance-42")
        assert auth_tokens.resolve_device(db, issued.secret) is None


def wrong_code(at: dt.datetime) -> str:
    """A six-digit code that is none of the three codes accepted at ``at`` (current step ±1)."""
    accepted = {pyotp.TOTP(SECRET).at(at + dt.timedelta(seconds=d)) for d in (-30, 0, 30)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


class TestSecondFactorLockout:
    def test_wrong_codes_lock_the_second_factor_although_the_password_is_entered_again_between_them(self, db, s):
        """The attack of issue #15 (finding 5): four wrong codes, the password again, four codes, and so on."""
        user = make_user(db, totp_secret=SECRET)
        wrong_tried = 0
        with clock.frozen(T0):
            for _ in range(3):
                if not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="a",
                                                     settings=s).ok:
                    break
                _, pending = service.start_session(db, user, mfa_passed=False, address="a", settings=s)
                for _ in range(4):
                    if auth_second_factor.verify_second_factor(db, user, wrong_code(T0)) is not None:
                        break
                    wrong_tried += 1
                    if auth_second_factor.record_second_factor_failure(db, user, pending, settings=s) == "locked":
                        break
                if pending.revoked_at is not None:
                    break
            assert wrong_tried == s.login_max_failures
            assert user.second_factor_locked_until is not None
            # Locked: neither the password step nor the right code passes, from any address.
            assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="b", settings=s).ok
            assert auth_second_factor.verify_second_factor(db, user, pyotp.TOTP(SECRET).at(T0)) is None

    def test_the_second_factor_lock_expires_and_a_right_code_resets_the_count(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        with clock.frozen(T0) as c:
            _, pending = service.start_session(db, user, mfa_passed=False, settings=s)
            for _ in range(s.login_max_failures):
                auth_second_factor.record_second_factor_failure(db, user, pending, settings=s)
            c.advance(dt.timedelta(minutes=s.lockout_base_minutes, seconds=1))
            assert auth_second_factor.verify_second_factor(db, user, pyotp.TOTP(SECRET).at(clock.now())) == "totp"
            _, pending = service.start_session(db, user, mfa_passed=False, settings=s)
            auth_second_factor.record_second_factor_failure(db, user, pending, settings=s)
            service.complete_login(db, pending, user, method="totp", settings=s)
            assert user.second_factor_failures == 0

    def test_a_replayed_code_is_not_counted_as_a_failure(self, db, s):
        """Issue 17: signing in twice within a minute is not a guess."""
        user = make_user(db, totp_secret=SECRET)
        with clock.frozen(T0):
            code = pyotp.TOTP(SECRET).at(T0)
            auth_second_factor.verify_second_factor(db, user, code)
            for _ in range(s.login_max_failures + 1):
                with pytest.raises(auth_second_factor.CodeAlreadyUsed):
                    auth_second_factor.verify_second_factor(db, user, code)
        assert user.second_factor_failures == 0 and user.second_factor_locked_until is None


@pytest.fixture
def scratch_postgres(backend: str):
    """A freshly migrated PostgreSQL database of its own, dropped afterwards: the concurrency test commits for real
    and must leave nothing in the shared test database."""
    assert backend == "postgresql"  # concurrent writers need PostgreSQL (SQLite serialises the whole database)
    yield from scratch_postgres_engine("codes")


class TestConcurrentCodes:
    @postgresql_only
    def test_wrong_codes_sent_at_once_are_all_counted(self, scratch_postgres, s):
        """The variant attack of finding 5: wrong codes sent in parallel (from several pending sessions) each read
        the same failure count and write it back plus one, so a burst of guesses counts as one and the lock never
        comes. Every wrong code must count."""
        from sqlalchemy.orm import sessionmaker

        make = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
        attempts = 2
        with make() as setup, clock.frozen(T0):
            user = make_user(setup, totp_secret=SECRET)
            pending_ids = [service.start_session(setup, user, mfa_passed=False, address="a", settings=s)[1].id
                           for _ in range(attempts)]  # the password entered once per pending session
            setup.commit()
        barrier = threading.Barrier(attempts)
        errors: list[BaseException] = []

        def guess(pending_id: uuid.UUID) -> None:
            try:
                with make() as db:
                    mine = db.get(UserAccount, user.id)
                    pending = db.get(AuthSession, pending_id)
                    assert mine is not None and pending is not None and mine.second_factor_failures == 0
                    barrier.wait(timeout=10)  # both have read the count before either writes
                    if auth_second_factor.verify_second_factor(db, mine, wrong_code(T0)) is None:
                        auth_second_factor.record_second_factor_failure(db, mine, pending, settings=s)
                    db.commit()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=guess, args=(pending_id,)) for pending_id in pending_ids]
        with clock.frozen(T0):  # frozen once, here: the clock is process-wide, threads must not restore it
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
        assert errors == []
        with make() as check:
            row = check.get(UserAccount, user.id)
            assert row is not None and row.second_factor_failures == attempts


    @postgresql_only
    def test_wrong_passwords_sent_at_once_are_all_counted(self, scratch_postgres, s):
        """The same race on the password step: parallel wrong passwords must each count, per account and per
        address."""
        from sqlalchemy.orm import sessionmaker

        from maillage.models.auth import LoginThrottle

        make = sessionmaker(bind=scratch_postgres, expire_on_commit=False)
        with make() as setup:
            user = make_user(setup, totp_secret=SECRET)
            setup.commit()
        attempts = 2
        barrier = threading.Barrier(attempts)
        errors: list[BaseException] = []

        def guess() -> None:
            try:
                with make() as db:
                    mine = db.get(UserAccount, user.id)
                    assert mine is not None and mine.failed_logins == 0
                    barrier.wait(timeout=10)
                    service.authenticate_password(db, user.username, "wrong-password-1A", address="10.0.0.9",
                                                  settings=s)
                    db.commit()
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=guess) for _ in range(attempts)]
        with clock.frozen(T0):  # frozen once, here: the clock is process-wide, threads must not restore it
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=30)
        assert errors == []
        with make() as check:
            row = check.get(UserAccount, user.id)
            assert row is not None and row.failed_logins == attempts
            throttles = check.scalars(select(LoginThrottle).where(LoginThrottle.username == user.username)).all()
            assert [t.failures for t in throttles] == [attempts]


def signed_in_before(db, user, address, s):
    """A completed sign-in of ``user`` from ``address`` (a session whose second factor was passed)."""
    service.start_session(db, user, mfa_passed=True, address=address, settings=s)


class TestLockoutPerAccountAndAddress:
    def test_a_stranger_guessing_a_user_name_does_not_lock_the_clinician_out_of_their_usual_address(self, db, s):
        """Finding 5: a predictable user name let anyone lock a clinician out for 24 h."""
        user = make_user(db, totp_secret=SECRET)
        with clock.frozen(T0 - dt.timedelta(days=3)):
            signed_in_before(db, user, "10.1.1.1", s)
        with clock.frozen(T0):
            for _ in range(s.login_max_failures):
                assert not service.authenticate_password(db, user.username, "Wrong-Password-42",
                                                         address="203.0.113.9", settings=s).ok
            # The stranger's address is locked out of the account, right password or not...
            assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="203.0.113.9",
                                                     settings=s).ok
            # ...and so is any address the account was never used from...
            assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="198.51.100.4",
                                                     settings=s).ok
            # ...but the clinician at their usual workstation signs in.
            assert service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="10.1.1.1",
                                                 settings=s).ok

    def test_failures_from_a_known_address_lock_that_address_out_progressively(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        with clock.frozen(T0 - dt.timedelta(days=1)):
            signed_in_before(db, user, "10.1.1.1", s)
        with clock.frozen(T0) as c:
            for _ in range(s.login_max_failures):
                service.authenticate_password(db, user.username, "Wrong-Password-42", address="10.1.1.1", settings=s)
            assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="10.1.1.1",
                                                     settings=s).ok
            c.advance(dt.timedelta(minutes=s.lockout_base_minutes, seconds=1))
            for _ in range(s.login_max_failures):
                service.authenticate_password(db, user.username, "Wrong-Password-42", address="10.1.1.1", settings=s)
            c.advance(dt.timedelta(minutes=s.lockout_base_minutes, seconds=1))
            assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="10.1.1.1",
                                                     settings=s).ok  # the second lock lasts twice as long
            c.advance(dt.timedelta(minutes=s.lockout_base_minutes))
            assert service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="10.1.1.1",
                                                 settings=s).ok

    def test_an_administrator_unlock_lifts_every_lock(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        with clock.frozen(T0):
            for _ in range(s.login_max_failures):
                service.authenticate_password(db, user.username, "Wrong-Password-42", address="a", settings=s)
            _, pending = service.start_session(db, user, mfa_passed=False, address="a", settings=s)
            for _ in range(s.login_max_failures):
                auth_second_factor.record_second_factor_failure(db, user, pending, settings=s)
            service.unlock_user(db, user)
            assert service.authenticate_password(db, user.username, DEFAULT_PASSWORD, address="a", settings=s).ok


class TestPasswords:
    def test_an_administrator_reset_gives_a_one_time_password_and_ends_sessions(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        token, _ = service.start_session(db, user, mfa_passed=True, settings=s)
        with clock.frozen(T0):
            one_time = service.reset_password(db, user, s)
        assert service.resolve_session(db, token, settings=s) is None
        assert user.must_change_password
        with clock.frozen(T0 + dt.timedelta(hours=23)):
            assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, settings=s).ok
            assert service.authenticate_password(db, user.username, one_time, settings=s).ok

    @pytest.mark.parametrize("reset", ["password", "second_factor"])
    def test_an_administrator_reset_revokes_the_personal_tokens(self, db, s, reset):
        """The variant attack of findings 6 and 7: whoever took the account with the initial password mints a
        personal token on /compte; the administrator resets the password (or the second factor) to take the account
        back, and the token keeps opening the API. A reset is an account recovery: the account's tokens end."""
        user = make_user(db, totp_secret=SECRET)
        issued = auth_tokens.create_personal_token(db, user, name="intrus", scopes=["patient.read"], settings=s)
        assert auth_tokens.resolve_token(db, issued.secret) is not None
        if reset == "password":
            service.reset_password(db, user, s)
        else:
            auth_second_factor.reset_second_factor(db, user)
        assert auth_tokens.resolve_token(db, issued.secret) is None

    def test_a_one_time_password_is_refused_after_24_hours(self, db, s):
        """Finding 6: the password printed by ``maillage user create`` never expired."""
        with clock.frozen(T0):
            user = service.create_user(db, username="dr.nouveau", display_name="Dr Nouveau", role="physician",
                                       password="Initial-Password-42", one_time_password=True, settings=s)
        with clock.frozen(T0 + dt.timedelta(hours=24, seconds=1)):
            result = service.authenticate_password(db, user.username, "Initial-Password-42", settings=s)
        assert not result.ok and result.message == service.LOGIN_FAILED
        assert user.failed_logins == 0  # the right (expired) password is not a guess
        db.commit()
        entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "login")).all()
        assert [e.details["reason"] for e in entries] == ["password_expired"]

    def test_a_change_needs_the_current_password_and_a_code_and_ends_every_session(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        token, _ = service.start_session(db, user, mfa_passed=True, settings=s)
        new = "Nouveau-Mot-2026!"
        with clock.frozen(T0):
            with pytest.raises(ValidationFailed, match="actuel incorrect"):
                service.change_password(db, user, current_password="Wrong-Password-42",
                                        code=pyotp.TOTP(SECRET).at(T0), new_password=new, confirmation=new, settings=s)
            assert user.failed_logins == 1
            with pytest.raises(ValidationFailed, match="Code incorrect"):
                service.change_password(db, user, current_password=DEFAULT_PASSWORD, code=wrong_code(T0),
                                        new_password=new, confirmation=new, settings=s)
            assert user.second_factor_failures == 1
            service.change_password(db, user, current_password=DEFAULT_PASSWORD, code=pyotp.TOTP(SECRET).at(T0),
                                    new_password=new, confirmation=new, settings=s)
        assert service.resolve_session(db, token, settings=s) is None
        assert service.authenticate_password(db, user.username, new, settings=s).ok
        assert not service.authenticate_password(db, user.username, DEFAULT_PASSWORD, settings=s).ok

    def test_the_password_change_form_is_no_unlimited_password_oracle(self, db, s):
        """The variant attack of finding 5: a stolen session (second factor already passed) guesses the current
        password on the change form. Wrong guesses lock the account as at sign-in, but the form went on checking
        guesses while locked, so the guessing never stopped. Locked, the form checks nothing: even the right
        password and code are refused until the lock ends."""
        user = make_user(db, totp_secret=SECRET)
        before = user.password_hash
        new = "Nouveau-Mot-2026!"
        with clock.frozen(T0) as c:
            for _ in range(s.login_max_failures):
                with pytest.raises(ValidationFailed):
                    service.change_password(db, user, current_password="Wrong-Password-42", code=wrong_code(T0),
                                            new_password=new, confirmation=new, settings=s)
            assert user.locked_until is not None and user.locked_until > T0
            c.advance(dt.timedelta(seconds=31))
            with pytest.raises(ValidationFailed, match="verrouillé"):
                service.change_password(db, user, current_password=DEFAULT_PASSWORD,
                                        code=pyotp.TOTP(SECRET).at(clock.now()), new_password=new, confirmation=new,
                                        settings=s)
            assert user.password_hash == before
            c.advance(dt.timedelta(minutes=s.lockout_base_minutes))
            service.change_password(db, user, current_password=DEFAULT_PASSWORD,
                                    code=pyotp.TOTP(SECRET).at(clock.now()), new_password=new, confirmation=new,
                                    settings=s)
            assert user.password_hash != before
        assert service.authenticate_password(db, user.username, new, settings=s).ok

    def test_a_bad_new_password_changes_nothing(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        before = user.password_hash
        for new, confirmation in (("court", "court"), ("Nouveau-Mot-2026!", "Autre-Mot-2026!"),
                                  (DEFAULT_PASSWORD, DEFAULT_PASSWORD)):
            with pytest.raises(ValidationFailed):
                service.change_password(db, user, current_password=DEFAULT_PASSWORD, code=pyotp.TOTP(SECRET).now(),
                                        new_password=new, confirmation=confirmation, settings=s)
        assert user.password_hash == before and user.totp_last_step is None

    def test_the_forced_change_clears_the_one_time_state(self, db, s):
        user = make_user(db, totp_secret=SECRET)
        one_time = service.reset_password(db, user, s)
        with pytest.raises(ValidationFailed):
            service.complete_forced_change(db, user, new_password=one_time, confirmation=one_time)
        service.complete_forced_change(db, user, new_password="Nouveau-Mot-2026!", confirmation="Nouveau-Mot-2026!")
        assert not user.must_change_password and user.password_expires_at is None
        with pytest.raises(Conflict):
            service.complete_forced_change(db, user, new_password="Encore-Un-2026!", confirmation="Encore-Un-2026!")


class TestTokenOwnership:
    def test_revoking_needs_the_owner(self, db, s):
        """Finding 7: a service token (no owner) could revoke anyone's token."""
        user = make_user(db)
        other = make_user(db)
        issued = auth_tokens.create_personal_token(db, user, name="script", scopes=[], settings=s)
        svc = auth_tokens.create_service_token(db, service_name="dpi", role="physician", name="dpi",
                                           scopes=["directory.read"], settings=s)
        with pytest.raises(NotFound):
            auth_tokens.revoke_token(db, issued.id, owner=other)
        with pytest.raises(NotFound):
            auth_tokens.revoke_token(db, svc.id, owner=user)
        assert auth_tokens.resolve_token(db, issued.secret) is not None

    def test_demo_accounts_keep_their_published_password(self, db, s):
        """The demo password is published on purpose: its accounts are not asked to change it (see demo.py)."""
        from maillage.demo.accounts import DEMO_PASSWORD, seed_accounts

        accounts = seed_accounts(db)
        users = [service.get_user(db, a.username) for a in accounts]
        assert users and not any(u.must_change_password or u.password_expires_at for u in users)
        assert service.authenticate_password(db, accounts[-1].username, DEMO_PASSWORD, settings=s).ok
