"""The OpenID Connect port: an external identity logs in only to the account it is linked to."""

from __future__ import annotations

from maillage.auth.oidc import ExternalIdentity, link_external_identity, login_with_external_identity
from tests.fixtures.factories import make_user

PSC = "https://auth.esante.gouv.fr/auth/realms/esante-wallet"


class TestLoginWithExternalIdentity:
    def test_a_linked_identity_with_a_strong_context_finds_its_account(self, db):
        user = make_user(db)
        link_external_identity(db, user, ExternalIdentity(PSC, "f:550dc1c8:810002345678"))
        found = login_with_external_identity(db, ExternalIdentity(PSC, "f:550dc1c8:810002345678", acr="eidas3"))
        assert found is user

    def test_an_unlinked_identity_or_another_issuer_finds_nothing(self, db):
        user = make_user(db)
        link_external_identity(db, user, ExternalIdentity(PSC, "sub-1"))
        assert login_with_external_identity(db, ExternalIdentity(PSC, "sub-2")) is None
        assert login_with_external_identity(db, ExternalIdentity("https://idp.example", "sub-1")) is None

    def test_a_weak_authentication_context_is_refused(self, db):
        user = make_user(db)
        link_external_identity(db, user, ExternalIdentity(PSC, "sub-3"))
        assert login_with_external_identity(db, ExternalIdentity(PSC, "sub-3", acr="eidas1")) is None

    def test_a_disabled_account_cannot_log_in_through_the_provider(self, db):
        from maillage.auth.service import disable_user

        user = make_user(db)
        link_external_identity(db, user, ExternalIdentity(PSC, "sub-4"))
        disable_user(db, user)
        assert login_with_external_identity(db, ExternalIdentity(PSC, "sub-4")) is None
