"""Tokens carry SMART v2 scopes next to Maillage permissions: a personal token takes ``user/`` and ``patient/``
scopes, a service token ``system/`` ones; a malformed scope, or one of the other kind, is refused in French when the
token is issued, and nothing is created."""

from __future__ import annotations

import pytest

from maillage.auth import tokens
from maillage.exceptions import ValidationFailed
from maillage.models.auth import ApiToken
from maillage.security.roles import Role
from tests.fixtures.factories import make_user


class TestPersonalTokenScopes:
    def test_user_and_patient_scopes_are_kept_with_permissions(self, db):
        user = make_user(db, "physician")
        issued = tokens.create_personal_token(db, user, name="fhir", scopes=["user/Patient.rs", "patient/*.read",
                                                                               "patient.read", "openid"])
        assert issued.scopes == ["openid", "patient.read", "patient/*.read", "user/Patient.rs"]

    @pytest.mark.parametrize("scope", ["system/*.rs", "user/Patient.sr", "user/Patient.rs?x=1", "users.admin"])
    def test_a_system_malformed_or_foreign_scope_is_refused(self, db, scope):
        user = make_user(db, "physician")
        before = db.query(ApiToken).count()
        with pytest.raises(ValidationFailed) as caught:
            tokens.create_personal_token(db, user, name="fhir", scopes=[scope])
        assert "Portée" in str(caught.value.details)
        assert db.query(ApiToken).count() == before


class TestServiceTokenScopes:
    def test_system_scopes_are_kept(self, db):
        issued = tokens.create_service_token(db, service_name="entrepot", role=Role.ANALYST, name="entrepôt",
                                             scopes=["system/Organization.rs", "directory.read"])
        assert issued.scopes == ["directory.read", "system/Organization.rs"]

    def test_a_user_scope_is_refused(self, db):
        with pytest.raises(ValidationFailed):
            tokens.create_service_token(db, service_name="entrepot", role=Role.ANALYST, name="entrepôt",
                                        scopes=["user/*.rs"])
