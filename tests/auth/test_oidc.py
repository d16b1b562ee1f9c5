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


class TestFirstSignInLinksOnlyACareAccount:
    """A first Pro Santé Connect sign-in links the professional's existing account by itself only when it is an
    active account of a care role: an administration account (or a disabled one) is never taken over by an external
    identity; the professional asks for access instead (review of the PSC adapter)."""

    def _professional(self, db, national_id: str):  # type: ignore[no-untyped-def]
        from maillage.models.directory import Professional

        pro = Professional(rpps=national_id[1:], national_id=national_id, last_name="Durand", first_name="Anne",
                           profession_code="10")
        db.add(pro)
        db.flush()
        return pro

    def test_an_administrator_account_of_the_professional_is_not_linked(self, db):
        from maillage.auth.oidc import sign_in_external

        pro = self._professional(db, "810009990001")
        admin = make_user(db, "administrator")
        admin.person_id = pro.id
        db.flush()
        result = sign_in_external(db, ExternalIdentity(PSC, "sub-admin", national_id="810009990001", acr="eidas1"),
                                  required_acr="eidas1")
        assert result.outcome == "pending" and result.user is None
        assert admin.external_subject is None

    def test_an_active_physician_account_is_linked(self, db):
        from maillage.auth.oidc import sign_in_external

        pro = self._professional(db, "810009990002")
        doctor = make_user(db, "physician")
        doctor.person_id = pro.id
        db.flush()
        result = sign_in_external(db, ExternalIdentity(PSC, "sub-doc", national_id="810009990002", acr="eidas1"),
                                  required_acr="eidas1")
        assert result.outcome == "signed_in" and result.user is doctor and doctor.external_subject == "sub-doc"
