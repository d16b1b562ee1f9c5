"""The actor dependencies document how a caller authenticates, and still leave authentication to the middleware."""

from __future__ import annotations

from maillage.auth import tokens as auth_tokens
from tests.fixtures.factories import make_user


def _operations(client) -> dict[tuple[str, str], dict]:
    paths = client.get("/api/openapi.json").json()["paths"]
    return {(m.upper(), p): op for p, ops in paths.items() for m, op in ops.items()}


class TestCurrentActor:
    def test_operations_that_need_an_actor_document_a_bearer_token_or_a_session(self, client):
        """Found while fuzzing (issue 8): the OpenAPI document declared no security at all, so a client (or
        Schemathesis' ignored_auth check) could not tell that /api/auth/me needs credentials."""
        document = client.get("/api/openapi.json").json()
        schemes = document["components"]["securitySchemes"]
        assert schemes["jeton"] == {**schemes["jeton"], "type": "http", "scheme": "bearer"}
        assert schemes["session"] == {**schemes["session"], "type": "apiKey", "in": "cookie",
                                      "name": "maillage_session"}
        operations = _operations(client)
        for key in [("GET", "/api/auth/me"), ("POST", "/api/auth/tokens"), ("POST", "/api/authz/break-glass")]:
            assert operations[key]["security"] == [{"jeton": []}, {"session": []}], key

    def test_public_operations_document_no_security(self, client):
        operations = _operations(client)
        assert "security" not in operations[("GET", "/healthz")]
        assert "security" not in operations[("GET", "/readyz")]

    def test_a_malformed_authorization_header_is_still_a_plain_401(self, client):
        for header in ["Bearer", "Basic Zm9vOmJhcg==", "Bearer mlg_pat_inconnu", "n'importe quoi"]:
            response = client.get("/api/auth/me", headers={"Authorization": header})
            assert response.status_code == 401, header
            assert response.json()["error"]["code"] == "not_authenticated"

    def test_a_valid_bearer_token_still_resolves_the_actor(self, client, db, settings):
        user = make_user(db, "physician")
        issued = auth_tokens.create_personal_token(db, user, name="test", scopes=[], settings=settings)
        db.commit()
        response = client.get("/api/auth/me", headers={"Authorization": f"Bearer {issued.secret}"})
        assert response.status_code == 200
        assert response.json()["username"] == user.username
