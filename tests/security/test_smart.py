"""SMART App Launch v2 scopes, pure (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html): the
grammar ``context/Type.cruds`` (letters in that order), the v1 forms, what a scope grants and to which caller."""

from __future__ import annotations

import pytest

from maillage.security import smart as rules


class TestParseScope:
    @pytest.mark.parametrize(("text", "context", "resource", "letters"), [
        ("patient/Observation.rs", "patient", "Observation", "rs"),
        ("user/*.cruds", "user", "*", "cruds"),
        ("system/Patient.r", "system", "Patient", "r"),
        ("user/Patient.read", "user", "Patient", "rs"),      # SMART v1 form
        ("user/Patient.write", "user", "Patient", "cud"),
        ("system/*.*", "system", "*", "cruds"),
    ])
    def test_a_v2_or_v1_scope_is_read(self, text, context, resource, letters):
        scope = rules.parse_scope(text)
        assert (scope.context, scope.resource, scope.permissions) == (context, resource, frozenset(letters))

    @pytest.mark.parametrize("text", [
        "user/Observation.sr",      # letters out of order (SMART v2: c, r, u, d, s in that order)
        "user/Observation.rr",      # repeated
        "user/Observation.x",       # not a permission letter
        "admin/Observation.rs",     # unknown context
        "user/observation.rs",      # not a resource type
        "user/Observation",         # no permissions
        "patient/Observation.rs?category=laboratory",  # finer scopes not supported
    ])
    def test_a_malformed_or_unsupported_scope_is_refused_in_french(self, text):
        with pytest.raises(rules.ScopeProblem, match="Portée"):
            rules.parse_scope(text)

    def test_permissions_and_openid_scopes_are_left_aside(self):
        found = rules.smart_scopes({"patient.read", "openid", "fhirUser", "launch/patient", "user/Patient.rs"})
        assert [str(s) for s in found] == ["user/Patient.rs"]


class TestScopeAllows:
    def test_read_needs_r_and_search_needs_s(self):
        scopes = [rules.parse_scope("user/Observation.r")]
        assert rules.scope_allows(scopes, "Observation", "read", contexts=("user",))
        assert not rules.scope_allows(scopes, "Observation", "search", contexts=("user",))

    def test_the_wildcard_covers_every_type_and_a_type_only_itself(self):
        assert rules.scope_allows([rules.parse_scope("user/*.rs")], "Patient", "search", contexts=("user",))
        assert not rules.scope_allows([rules.parse_scope("user/Patient.rs")], "Observation", "read",
                                      contexts=("user",))

    def test_a_scope_of_another_context_grants_nothing(self):
        assert not rules.scope_allows([rules.parse_scope("system/*.rs")], "Patient", "read",
                                      contexts=rules.contexts_for("token"))
        assert not rules.scope_allows([rules.parse_scope("user/*.rs")], "Patient", "read",
                                      contexts=rules.contexts_for("service_token"))

    def test_create_needs_c(self):
        assert rules.scope_allows([rules.parse_scope("user/ServiceRequest.c")], "ServiceRequest", "create",
                                  contexts=("user",))
        assert not rules.scope_allows([rules.parse_scope("user/ServiceRequest.rs")], "ServiceRequest", "create",
                                      contexts=("user",))


class TestDescribe:
    def test_a_scope_reads_in_french_on_the_account_page(self):
        from maillage.security.policy import permission_label

        assert rules.describe("user/Observation.rs") == "Interface FHIR : lecture, recherche (ressources Observation)"
        assert permission_label("user/*.cruds") == ("Interface FHIR : création, lecture, modification, suppression, "
                                                    "recherche (toutes les ressources)")
        assert rules.describe("patient.read") is None and rules.describe("openid") is None
