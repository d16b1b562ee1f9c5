"""Pure rules of the room: the typical consultation length and the estimated wait, the late notice, the third
participant's states and invitations, the TURN credentials (coturn's use-auth-secret scheme), the quality samples'
bounds and summary."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from pydantic import SecretStr

from maillage.config import Settings
from maillage.exceptions import InvalidTransition, ValidationFailed
from maillage.teleconsultation import ice, quality, rules
from maillage.teleconsultation.rules import GuestState, Status

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def minutes(*values: float) -> list[dt.timedelta]:
    return [dt.timedelta(minutes=v) for v in values]


class TestTypicalLength:
    def test_the_median_of_the_last_ten_held_consultations(self):
        assert rules.typical_minutes(minutes(12, 30, 14), 20) == (14, True)
        assert rules.typical_minutes(minutes(10, 12, 14, 16), 20) == (13, True)  # even count: the mean of the two
        # Only the last ten count (newest first): the eleventh, very long, is not read.
        assert rules.typical_minutes(minutes(*[10] * 10, 200, 200, 200), 20) == (10, True)

    def test_without_enough_history_the_slot_length_stands_in(self):
        assert rules.typical_minutes([], 20) == (20, False)
        assert rules.typical_minutes(minutes(5, 6), 15) == (15, False)

    def test_a_forgotten_end_is_clamped(self):
        assert rules.typical_minutes(minutes(600, 600, 600), 20) == (120, True)
        assert rules.typical_minutes([dt.timedelta(seconds=5)] * 3, 20) == (1, True)


class TestEstimatedWait:
    def test_what_remains_of_the_consultation_in_course_plus_one_length_per_patient_ahead(self):
        e = rules.estimate_wait(at=T0, starts_at=T0 - dt.timedelta(minutes=10), ahead=2,
                                current_since=T0 - dt.timedelta(minutes=5), typical=15)
        assert (e.place, e.minutes, e.typical_minutes) == (3, 10 + 2 * 15, 15)

    def test_a_consultation_that_runs_over_still_counts_one_minute(self):
        e = rules.estimate_wait(at=T0, starts_at=T0 - dt.timedelta(minutes=30), ahead=0,
                                current_since=T0 - dt.timedelta(minutes=40), typical=15)
        assert (e.place, e.minutes) == (1, 1)

    def test_nobody_ahead_and_nobody_in_consultation_waits_for_the_slot_only(self):
        assert rules.estimate_wait(at=T0, starts_at=T0 - dt.timedelta(minutes=1), ahead=0, current_since=None,
                                   typical=15).minutes == 0
        assert rules.estimate_wait(at=T0, starts_at=T0 + dt.timedelta(minutes=7, seconds=30), ahead=0,
                                   current_since=None, typical=15).minutes == 8  # rounded up

    def test_an_announced_delay_is_a_floor(self):
        e = rules.estimate_wait(at=T0, starts_at=T0, ahead=0, current_since=None, typical=15,
                                late_until=T0 + dt.timedelta(minutes=20))
        assert e.minutes == 20
        assert rules.estimate_wait(at=T0, starts_at=T0, ahead=3, current_since=None, typical=15,
                                   late_until=T0 + dt.timedelta(minutes=20)).minutes == 45

    def test_the_sentence(self):
        first = rules.estimate_wait(at=T0, starts_at=T0, ahead=0, current_since=None, typical=15)
        assert rules.wait_text(first) == ("Vous êtes le prochain patient. Votre médecin devrait vous faire entrer "
                                          "d'un instant à l'autre.")
        third = rules.estimate_wait(at=T0, starts_at=T0, ahead=2, current_since=None, typical=15)
        assert rules.wait_text(third) == "2 patients passent avant vous. Attente estimée : environ 30 minutes."
        second = rules.estimate_wait(at=T0, starts_at=T0, ahead=1, current_since=None, typical=12)
        assert rules.wait_text(second).startswith("1 patient passe avant vous.")


class TestLateNotice:
    @pytest.mark.parametrize("value", rules.LATE_CHOICES)
    def test_a_delay_of_the_list_has_its_sentence(self, value):
        assert f"environ {value} minutes de retard" in rules.late_notice_text(value)

    @pytest.mark.parametrize("value", [0, 7, -5, 61, 240])
    def test_any_other_delay_is_refused_in_french(self, value):
        with pytest.raises(ValidationFailed, match="Choisissez le retard dans la liste"):
            rules.late_notice_text(value)


class TestThirdParticipant:
    def test_states(self):
        at = T0
        assert rules.guest_state(consent_at=None, patient_decision=None, revoked=False) is GuestState.INVITED
        assert rules.guest_state(consent_at=at, patient_decision=None, revoked=False) is GuestState.ASKING
        assert rules.guest_state(consent_at=at, patient_decision="accepted", revoked=False) is GuestState.ADMITTED
        assert rules.guest_state(consent_at=at, patient_decision="refused", revoked=False) is GuestState.REFUSED
        assert rules.guest_state(consent_at=at, patient_decision="accepted", revoked=True) is GuestState.REVOKED

    @pytest.mark.parametrize("status", list(Status))
    def test_an_invitation_before_or_during_the_consultation_only(self, status):
        if status in (Status.BOOKED, Status.WAITING, Status.IN_CONSULTATION):
            rules.check_invite(status, 0)
        else:
            with pytest.raises(InvalidTransition, match="Impossible d'inviter un tiers"):
                rules.check_invite(status, 0)

    def test_one_third_participant_at_a_time(self):
        with pytest.raises(InvalidTransition, match="déjà invité"):
            rules.check_invite(Status.IN_CONSULTATION, rules.MAX_GUESTS)

    @pytest.mark.parametrize("state", list(GuestState))
    @pytest.mark.parametrize("status", list(Status))
    def test_media_passes_once_the_patient_accepted_and_during_the_consultation(self, state, status):
        expected = state is GuestState.ADMITTED and status is Status.IN_CONSULTATION
        assert rules.guest_may_exchange(state=state, status=status) is expected


class TestIceServers:
    def test_the_credential_follows_coturns_use_auth_secret(self):
        # Computed with `openssl dgst -sha1 -hmac north -binary | base64` over the username.
        expires = dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
        assert ice.turn_credential("north", expires_at=expires, user="patient") == (
            "1700000000:patient", "oS0vCP48XwSQ33YnYJaR3gTbq6w=")

    def test_none_by_default(self):
        assert ice.ice_servers(Settings(), at=T0) == []

    def test_stun_as_is_turn_with_a_credential_valid_for_the_setting(self):
        settings = Settings(teleconsultation_ice_servers="stun:stun.example:3478 turn:turn.example:3478 "
                                                         "http://ignored turns:turn.example:5349",
                            teleconsultation_turn_secret=SecretStr("s3cret"),
                            teleconsultation_turn_ttl_seconds=6 * 3600)
        at = dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
        assert ice.ice_servers(settings, at=at) == [
            {"urls": ["stun:stun.example:3478"]},
            {"urls": ["turn:turn.example:3478", "turns:turn.example:5349"], "username": "1700021600",
             "credential": "2vVy4YNzKkhELRc8+RgKlKQkdmo="}]

    def test_turn_without_a_secret_gets_no_credential(self):
        settings = Settings(teleconsultation_ice_servers="turn:turn.example:3478")
        assert ice.ice_servers(settings, at=T0) == [{"urls": ["turn:turn.example:3478"]}]


class TestQualitySamples:
    def test_figures_within_their_range_are_kept_the_others_dropped(self):
        sample = quality.parse({"rtt_ms": 42.123, "loss_pct": 150, "jitter_ms": "3", "width": 640.0,
                                "height": 480, "extra": 1})
        assert sample == quality.Sample(rtt_ms=42.12, loss_pct=None, jitter_ms=None, width=640, height=480)
        assert quality.parse({"rtt_ms": float("nan"), "loss_pct": True}) is None
        assert quality.parse({}) is None

    def test_the_summary(self):
        rows = [SimpleNamespace(at=T0 + dt.timedelta(seconds=5 * i), rtt_ms=float(10 + i), loss_pct=float(i % 2),
                                jitter_ms=2.0, width=640 if i < 12 else 1280, height=480 if i < 12 else 720)
                for i in range(20)]
        s = quality.summarise(rows)  # type: ignore[arg-type]
        assert s is not None
        assert (s.count, s.first_at, s.last_at) == (20, T0, T0 + dt.timedelta(seconds=95))
        assert (s.rtt_median, s.rtt_p95) == (19.0, 28.0)  # nearest rank over 10..29
        assert (s.loss_mean, s.loss_max, s.jitter_median) == (0.5, 1.0, 2.0)
        assert s.resolution == "640 × 480"
        assert quality.summarise([]) is None

    def test_a_tie_of_resolutions_goes_to_the_larger(self):
        rows = [SimpleNamespace(at=T0, rtt_ms=None, loss_pct=None, jitter_ms=None, width=w, height=h)
                for w, h in ((640, 480), (1280, 720))]
        s = quality.summarise(rows)  # type: ignore[arg-type]
        assert s is not None and s.resolution == "1280 × 720" and s.rtt_median is None
