"""Pure rules of the audit trail: canonical form, hashing, chain checks, retention, filters, input checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import uuid

import pytest

from maillage.audit import rules
from maillage.audit.rules import BreakKind, ChainStart
from maillage.exceptions import ValidationFailed

AT = dt.datetime(2026, 11, 28, 13, 23, 22, 5, tzinfo=dt.UTC)
ID = uuid.UUID("3f1c4b1e-0000-4000-8000-000000000001")


def entry(**overrides):
    base = {
        "id": ID, "seq": 1, "occurred_at": AT, "actor_id": "u-1", "actor_role": "physician",
        "establishment_id": None, "action": "read", "object_type": "patient", "object_id": "p-1",
        "patient_id": "p-1", "purpose": "care", "break_glass": False, "reason": None, "outcome": "success",
        "request_id": "req-1", "address": "127.0.0.1", "details": None, "prev_hash": rules.GENESIS_HASH,
    }
    base.update(overrides)
    return base


def chained(n):
    """n correctly chained entries."""
    out, prev = [], rules.GENESIS_HASH
    for seq in range(1, n + 1):
        e = entry(id=uuid.UUID(int=seq), seq=seq, prev_hash=prev)
        e["hash"] = prev = rules.entry_hash(e)
        out.append(e)
    return out


class TestCanonicalJson:
    def test_is_sorted_compact_utf8_json_of_every_field_but_the_hash(self):
        """ADR 0004: sorted keys, no spaces, UTF-8, ISO 8601 UTC with microseconds, UUIDs as strings."""
        text = rules.canonical_json(entry(reason="Urgence vitale à l'accueil", hash="ignored")).decode("utf-8")
        assert text.startswith('{"action":"read","actor_id":"u-1","actor_role":"physician","address":"127.0.0.1"')
        assert '"occurred_at":"2026-11-28T13:23:22.000005Z"' in text
        assert f'"id":"{ID}"' in text
        assert "Urgence vitale à l'accueil" in text
        assert " :" not in text and ", " not in text
        assert "hash\":\"ignored" not in text

    def test_is_the_same_whatever_the_order_of_fields_and_details(self):
        a = entry(details={"count": 2, "page": 1})
        b = dict(reversed(list(entry(details={"page": 1, "count": 2}).items())))
        assert rules.canonical_json(a) == rules.canonical_json(b)

    def test_is_the_same_for_an_equal_instant_in_another_timezone(self):
        paris = AT.astimezone(rules.PARIS)
        assert rules.canonical_json(entry(occurred_at=paris)) == rules.canonical_json(entry())

    def test_changes_with_any_field(self):
        base = rules.canonical_json(entry())
        for field, value in [("seq", 2), ("patient_id", "p-2"), ("break_glass", True), ("details", {"n": 1}),
                             ("prev_hash", "f" * 64), ("outcome", "denied"), ("id", uuid.uuid4())]:
            assert rules.canonical_json(entry(**{field: value})) != base, field

    def test_refuses_an_entry_missing_a_field(self):
        incomplete = entry()
        del incomplete["address"]
        with pytest.raises(KeyError):
            rules.canonical_json(incomplete)

    def test_refuses_values_without_a_canonical_form(self):
        with pytest.raises(TypeError):
            rules.canonical_json(entry(details={"ratio": 0.5}))

    def test_refuses_naive_timestamps(self):
        with pytest.raises(ValueError):
            rules.canonical_json(entry(occurred_at=dt.datetime(2026, 1, 1)))


class TestChainHash:
    def test_is_sha256_of_the_previous_hex_hash_followed_by_the_canonical_bytes(self):
        canonical = rules.canonical_json(entry())
        expected = hashlib.sha256(rules.GENESIS_HASH.encode("ascii") + canonical).hexdigest()
        assert rules.chain_hash(rules.GENESIS_HASH, canonical) == expected
        assert rules.entry_hash(entry()) == expected

    def test_depends_on_the_previous_hash(self):
        canonical = rules.canonical_json(entry())
        assert rules.chain_hash("a" * 64, canonical) != rules.chain_hash("b" * 64, canonical)


class TestCheckLink:
    def test_a_correct_chain_has_no_break(self):
        prev = rules.GENESIS_HASH
        for e in chained(5):
            assert rules.check_link(e, e["seq"], prev) is None
            prev = e["hash"]

    def test_a_modified_field_is_reported_on_that_entry(self):
        e = chained(1)[0]
        e["patient_id"] = "someone-else"
        broken = rules.check_link(e, 1, rules.GENESIS_HASH)
        assert broken is not None and broken.kind == BreakKind.MODIFIED and broken.seq == 1
        assert broken.entry_id == str(e["id"])
        assert "n° 1" in broken.message and str(e["id"]) in broken.message

    def test_a_gap_in_seq_is_reported_as_missing_entries(self):
        e = chained(3)[2]
        broken = rules.check_link(e, 2, "x" * 64)
        assert broken is not None and broken.kind == BreakKind.MISSING and broken.expected_seq == 2

    def test_a_seq_already_passed_is_reported_as_unexpected(self):
        e = chained(3)[0]
        broken = rules.check_link(e, 5, "x" * 64)
        assert broken is not None and broken.kind == BreakKind.UNEXPECTED

    def test_a_wrong_previous_hash_is_reported_as_relinked(self):
        entries = chained(3)
        broken = rules.check_link(entries[2], 3, entries[0]["hash"])
        assert broken is not None and broken.kind == BreakKind.RELINKED


class TestConfirmsAnchor:
    def test_the_purge_entry_of_the_anchor_confirms_it(self):
        start = ChainStart(seq=10, hash="a" * 64, anchor_id=3)
        purge = entry(action="purge", object_type="audit_anchor", object_id="3",
                      details={"through_seq": 10, "through_hash": "a" * 64, "purged": 10})
        assert rules.confirms_anchor(purge, start)

    def test_another_anchor_or_other_figures_do_not(self):
        start = ChainStart(seq=10, hash="a" * 64, anchor_id=3)
        for change in ({"object_id": "4"}, {"details": {"through_seq": 9, "through_hash": "a" * 64}},
                       {"details": {"through_seq": 10, "through_hash": "b" * 64}}, {"action": "read"}):
            fields = {"action": "purge", "object_type": "audit_anchor", "object_id": "3",
                      "details": {"through_seq": 10, "through_hash": "a" * 64}, **change}
            assert not rules.confirms_anchor(entry(**fields), start), change


class TestCheckRetention:
    def test_six_rolling_months_are_accepted(self):
        """CSP: traces kept « pendant une durée de six mois glissants » (DOMAIN.md §7.2) → 183 days."""
        rules.check_retention(183)
        rules.check_retention(3650)

    def test_less_is_refused_with_a_french_message(self):
        with pytest.raises(ValidationFailed, match="183 jours"):
            rules.check_retention(182)

    def test_less_is_accepted_when_forced_but_never_zero(self):
        rules.check_retention(30, force=True)
        with pytest.raises(ValidationFailed):
            rules.check_retention(0, force=True)


class TestParseFilters:
    def test_empty_filters_show_the_first_page_of_everything(self):
        f = rules.parse_filters()
        assert f == rules.AuditFilters(page=1, page_size=rules.DEFAULT_PAGE_SIZE)

    def test_days_are_paris_days_with_the_last_one_included(self):
        f = rules.parse_filters(since="2026-07-01", until="2026-07-01")
        assert f.since == dt.datetime(2026, 6, 30, 22, 0, tzinfo=dt.UTC)   # CEST, UTC+2
        assert f.until == dt.datetime(2026, 7, 1, 22, 0, tzinfo=dt.UTC)
        winter = rules.parse_filters(since="2026-01-15")
        assert winter.since == dt.datetime(2026, 1, 14, 23, 0, tzinfo=dt.UTC)  # CET, UTC+1

    def test_ids_break_glass_and_page(self):
        f = rules.parse_filters(patient=" p-1 ", actor="u-2", break_glass="1", page="3", size="20")
        assert (f.patient_id, f.actor_id, f.break_glass_only, f.page, f.page_size, f.offset) == (
            "p-1", "u-2", True, 3, 20, 40)

    def test_the_page_size_is_capped_at_200(self):
        assert rules.parse_filters(size="5000").page_size == 200

    @pytest.mark.parametrize("kwargs, message", [
        ({"since": "28/11/2026"}, "date de début"),
        ({"until": "2026-13-01"}, "date de fin"),
        ({"since": "2026-02-02", "until": "2026-02-01"}, "précéder"),
        ({"page": "0"}, "numéro de page"),
        ({"page": "deux"}, "numéro de page"),
        ({"size": "-5"}, "taille de page"),
        ({"patient": "a b"}, "patient"),
        ({"actor": "x" * 65}, "acteur"),
        ({"break_glass": "peut-être"}, "urgence"),
    ])
    def test_bad_input_gets_a_french_error(self, kwargs, message):
        with pytest.raises(ValidationFailed, match=message):
            rules.parse_filters(**kwargs)


class TestCheckDetails:
    def test_ids_counts_and_flags_pass(self):
        assert rules.check_details({"count": 3, "visit_id": ID, "first": True, "none": None}) == {
            "count": 3, "visit_id": str(ID), "first": True, "none": None}

    def test_empty_details_are_stored_as_none(self):
        assert rules.check_details({}) is None

    @pytest.mark.parametrize("details", [
        {"name": "Dupont"}, {"nir": "1850578006084"}, {"comment": "x"},
        {"Bad Key": 1}, {"ratio": 1.5}, {"nested": {"a": 1}}, {"long": "x" * 300}, {"big": 2**63},
    ])
    def test_personal_data_keys_and_untyped_values_are_refused(self, details):
        with pytest.raises((ValueError, TypeError)):
            rules.check_details(details)


class TestCheckReason:
    def test_break_the_glass_needs_a_reason(self):
        with pytest.raises(ValidationFailed, match="motif"):
            rules.check_reason(True, "   ")

    def test_the_reason_is_trimmed_and_bounded(self):
        assert rules.check_reason(True, "  Patient inconscient  ") == "Patient inconscient"
        with pytest.raises(ValidationFailed):
            rules.check_reason(True, "x" * 2001)


class TestCheckActionAndOutcome:
    def test_actions_are_short_lowercase_verbs(self):
        assert rules.check_action("break_glass") == "break_glass"
        for bad in ("Read", "", "read data", "x" * 33):
            with pytest.raises(ValueError):
                rules.check_action(bad)

    def test_outcomes_are_success_denied_or_failure(self):
        assert [rules.check_outcome(o) for o in ("success", "denied", "failure")] == ["success", "denied", "failure"]
        with pytest.raises(ValueError):
            rules.check_outcome("ok")


class TestLabels:
    def test_known_codes_read_in_french_and_unknown_ones_as_they_are(self):
        assert rules.action_label("break_glass") == "Accès en urgence"
        assert rules.action_label("admin_lock") == "admin_lock"
        assert rules.outcome_label("denied") == "Refusé"
        assert rules.purpose_label("teleexpertise") == "Téléexpertise"
        assert rules.purpose_label(None) == "—" and rules.purpose_label("other") == "other"


class TestListPatients:
    """The patients of a list read: distinct sorted ids, their digest in the entry's hashed details."""

    def test_ids_are_made_distinct_and_sorted_and_uuids_become_text(self):
        a, b = uuid.UUID(int=2), uuid.UUID(int=1)
        assert rules.check_list_patients([a, str(b), a]) == (str(b), str(a))

    def test_an_empty_list_is_a_list(self):
        assert rules.check_list_patients([]) == ()

    @pytest.mark.parametrize("bad", ["p-1", b"p-1", 7, None])
    def test_a_single_id_or_a_non_iterable_is_refused(self, bad):
        with pytest.raises(TypeError):
            rules.check_list_patients(bad)

    @pytest.mark.parametrize("bad", [[""], ["x" * 65], ["p\x00"], [3]])
    def test_an_empty_too_long_or_non_text_id_is_refused(self, bad):
        with pytest.raises((TypeError, ValueError)):
            rules.check_list_patients(bad)

    def test_the_digest_is_the_sha256_of_the_sorted_ids_one_per_line(self):
        assert rules.list_patients_digest(("b", "a")) == hashlib.sha256(b"a\nb").hexdigest()
        assert rules.list_patients_digest(("a", "b")) != rules.list_patients_digest(("a", "c"))

    def test_details_get_the_count_and_digest_next_to_the_callers(self):
        ids = ("p-1", "p-2")
        assert rules.list_details({"count": 5}, ids) == {
            "count": 5, "patients": 2, "patients_sha256": rules.list_patients_digest(ids)}

    @pytest.mark.parametrize("key", ["patients", "patients_sha256"])
    def test_a_caller_cannot_set_the_lists_own_keys(self, key):
        with pytest.raises(ValueError, match="set by the list read"):
            rules.list_details({key: 1}, ("p-1",))


KEY = bytes(range(32))


def keyed(n, key=KEY, key_id="k1", start=1, prev=rules.GENESIS_HASH):
    """n entries sealed under ``key``, from seq ``start``."""
    out = []
    for seq in range(start, start + n):
        e = entry(id=uuid.UUID(int=seq), seq=seq, prev_hash=prev, key_id=key_id)
        e["hash"] = prev = rules.entry_hash(e, key)
        out.append(e)
    return out


class TestKeyedChainHash:
    def test_is_hmac_sha256_under_the_chain_key_of_the_previous_hash_and_the_keyed_canonical_bytes(self):
        e = entry(key_id="k1")
        canonical = rules.canonical_json(e)
        assert b'"key_id":"k1"' in canonical
        expected = hmac.new(KEY, rules.GENESIS_HASH.encode("ascii") + canonical, hashlib.sha256).hexdigest()
        assert rules.entry_hash(e, KEY) == rules.keyed_chain_hash(KEY, rules.GENESIS_HASH, canonical) == expected

    def test_an_unkeyed_entry_keeps_the_canonical_form_and_hash_of_before_the_key(self):
        assert b"key_id" not in rules.canonical_json(entry())
        assert b"key_id" not in rules.canonical_json(entry(key_id=None))
        assert rules.entry_hash(entry(key_id=None)) == rules.entry_hash(entry())

    def test_depends_on_the_key_and_on_the_key_id(self):
        e = entry(key_id="k1")
        assert rules.entry_hash(e, KEY) != rules.entry_hash(e, b"\x01" * 32)
        assert rules.entry_hash(e, KEY) != rules.entry_hash(entry(key_id="k2"), KEY)

    def test_a_keyed_entry_without_its_key_cannot_be_hashed(self):
        with pytest.raises(ValueError, match="chain key"):
            rules.entry_hash(entry(key_id="k1"))


class TestCheckKeyedLink:
    def test_a_keyed_chain_after_an_unkeyed_one_has_no_break(self):
        old = chained(2)
        new = keyed(2, start=3, prev=old[-1]["hash"])
        prev = rules.GENESIS_HASH
        for e in [*old, *new]:
            assert rules.check_link(e, e["seq"], prev, {"k1": KEY}, keyed_since=3) is None
            prev = e["hash"]

    def test_an_unkeyed_entry_from_the_keyed_epoch_on_is_reported(self):
        e = chained(1)[0]
        broken = rules.check_link(e, 1, rules.GENESIS_HASH, {"k1": KEY}, keyed_since=1)
        assert broken is not None and (broken.kind, broken.expected_seq) == (BreakKind.UNKEYED, 1)
        assert "entrée réécrite avec l'ancienne formule" in broken.message
        assert rules.check_link(e, 1, rules.GENESIS_HASH, {"k1": KEY}, keyed_since=2) is None

    def test_an_entry_under_a_key_not_held_is_reported(self):
        e = keyed(1)[0]
        broken = rules.check_link(e, 1, rules.GENESIS_HASH, {"other": KEY})
        assert broken is not None and broken.kind == BreakKind.UNKNOWN_KEY

    def test_an_entry_sealed_under_another_key_is_modified(self):
        e = keyed(1, key=b"\x02" * 32)[0]
        broken = rules.check_link(e, 1, rules.GENESIS_HASH, {"k1": KEY})
        assert broken is not None and broken.kind == BreakKind.MODIFIED


def signed(n, key=KEY):
    out, prev = [], rules.CHECKPOINT_GENESIS
    for number in range(1, n + 1):
        c = rules.Checkpoint(n=number, at=f"2026-12-07T0{number}:00:00.000000Z", seq=10 * number, hash="a" * 64,
                             keyed_since=1, key_id="k1", prev=prev)
        c = dataclasses.replace(c, sig=rules.checkpoint_signature(key, c))
        prev = c.sig
        out.append(c.record())
    return out


class TestCheckCheckpoints:
    def test_a_register_signed_and_chained_reads_whole(self):
        checkpoints, fault = rules.check_checkpoints(signed(3), {"k1": KEY})
        assert fault is None and [c.seq for c in checkpoints] == [10, 20, 30]

    @pytest.mark.parametrize("tamper, detail", [
        (lambda r: r[1].update(seq=15), "signature invalide"),
        (lambda r: r.pop(1), "numéro 3 au lieu de 2"),
        (lambda r: r.insert(1, dict(r[0])), "numéro 1 au lieu de 2"),
        (lambda r: r[1].update(extra=1), "enregistrement illisible"),
        (lambda r: r.__setitem__(1, {"unreadable": "{"}), "enregistrement illisible"),
        (lambda r: r[1].update(key_id="k9"), "clé d'audit inconnue"),
    ])
    def test_an_altered_register_is_reported_at_the_first_bad_record(self, tamper, detail):
        records = signed(3)
        tamper(records)
        checkpoints, fault = rules.check_checkpoints(records, {"k1": KEY})
        assert fault is not None and fault.kind == BreakKind.CHECKPOINT_LOG and fault.checkpoint == 2
        assert detail in fault.message and len(checkpoints) == 1

    def test_a_checkpoint_that_goes_back_in_the_chain_is_reported(self):
        records = signed(2)
        back = rules.Checkpoint(n=3, at="x", seq=5, hash="b" * 64, keyed_since=1, key_id="k1", prev=records[1]["sig"])
        records.append(dataclasses.replace(back, sig=rules.checkpoint_signature(KEY, back)).record())
        _, fault = rules.check_checkpoints(records, {"k1": KEY})
        assert fault is not None and "inférieur au précédent" in fault.message


class TestObjectTypeAndStepLabels:
    def test_object_types_read_in_french_and_an_unknown_one_as_itself(self):
        assert rules.object_type_label("teleexpertise_request") == "Demande de téléexpertise"
        assert rules.object_type_label("monitoring_enrolment") == "Inclusion en télésurveillance"
        assert rules.object_type_label("new_thing") == "new_thing"
        assert rules.object_type_label(None) == "—"

    def test_the_tele_expertise_steps_and_account_events_have_french_labels(self):
        for action in ("claim", "assign", "hand_back", "ask", "reply", "decline", "acknowledge", "password_change",
                       "admin_reset_2fa"):
            assert rules.action_label(action) != action


class TestActorFilter:
    def test_a_display_name_keeps_its_inner_spaces_once(self):
        assert rules.parse_filters(actor="  Claire   Martin ").actor_id == "Claire Martin"
