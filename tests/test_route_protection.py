"""Every route of the application is protected unless it is on the public list.

For every route: anonymous → 401 (API) or a redirect to the login page (pages). For every route that
requires a permission: a signed-in role without that permission → 403. The third leg of the triplet
(someone else's patient → 404) is per capability, next to each endpoint's tests.
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.routing import APIRoute

from maillage.security.policy import ROLE_PERMISSIONS, Permission
from maillage.security.roles import Role
from tests.fixtures.factories import make_user
from tests.fixtures.web import csrf_token, sign_in, sign_out

# Routes a person may use without an account. Adding one here is a security decision: say why.
PUBLIC = {
    ("GET", "/"),                            # home page
    ("GET", "/favicon.ico"),                 # the site's icon, a static file
    ("GET", "/composants"),                  # components reference, no data; development only, else 404
    ("GET", "/communes/choix"),              # a picker's communes: open data (COG), no patient nor account data
    ("GET", "/connexion"),                   # login form
    ("POST", "/connexion"),
    ("GET", "/connexion/code"),              # second factor (needs a pending session, else redirects)
    ("POST", "/connexion/code"),
    ("GET", "/connexion/enrolement"),
    ("POST", "/connexion/enrolement"),
    # Pro Santé Connect: the start sends to the provider; the return needs the state stored at the start and this
    # browser's cookie, else a refusal (404 both when PSC is not configured).
    ("GET", "/connexion/psc"), ("GET", "/connexion/psc/retour"),
    ("POST", "/deconnexion"),                # logging out needs no account
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),  # operators; production: token (test_operator_pages)
    ("GET", "/api/docs"), ("GET", "/api/docs/oauth2-redirect"), ("GET", "/api/openapi.json"),  # production: signed in
    # The patient of a teleconsultation has no account: the link is the credential (opened once, hashed, within its
    # window), then the link session's cookie; without them these answer a French refusal page (403), audited.
    ("GET", "/tc/{token}"), ("GET", "/teleconsultation/patient"), ("POST", "/teleconsultation/patient/consentement"),
    # The third participant invited by link: the same, for their invitation only.
    ("GET", "/tc/invite/{token}"), ("GET", "/teleconsultation/invite"),
    ("POST", "/teleconsultation/invite/consentement"),
    # FHIR and SMART require the server's description to be readable before any token: it holds no data.
    ("GET", "/fhir/metadata"), ("GET", "/fhir/.well-known/smart-configuration"),
    ("GET", "/.well-known/smart-configuration"),
    # The public keys that verify prescription signatures: published so that anyone holding a prescription can
    # check it; no patient data, no secret.
    ("GET", "/api/prescriptions/verification-keys"),
}
PUBLIC_PREFIXES = ("/offre",)  # the public telemedicine offer catalogue


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: str(uuid.uuid4()) if "id" in m.group(0) else "x", path)


def _routes(app) -> list[tuple[str, str, object]]:
    """Every (method, path, route) of the app, through included routers (FastAPI keeps them nested)."""
    out = []
    for route in app.routes:
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for ctx in contexts:
            if not isinstance(ctx, APIRoute) and not hasattr(ctx, "dependant"):
                continue
            for method in sorted(set(ctx.methods) - {"HEAD", "OPTIONS"}):
                out.append((method, ctx.path, ctx))
    return out


def _required_permissions(route) -> set[Permission]:
    found: set[Permission] = set()
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        permission = getattr(dep.call, "permission", None)
        if isinstance(permission, Permission):
            found.add(permission)
        stack.extend(dep.dependencies)
    return found


def _is_page(path: str) -> bool:
    return not path.startswith("/api/")


class TestEveryRouteIsProtected:
    def test_anonymous_callers_are_refused_everywhere_but_the_public_list(self, app, client):
        checked = 0
        for method, path, _route in _routes(app):
            if (method, path) in PUBLIC or path.startswith(PUBLIC_PREFIXES):
                continue
            sign_out(client)
            headers = {"accept": "text/html"} if _is_page(path) else {"accept": "application/json"}
            if method != "GET":
                headers["x-csrf-token"] = csrf_token(client)
            response = client.request(method, _concrete(path), headers=headers, json={} if method != "GET" else None,
                                      follow_redirects=False)
            if _is_page(path):
                assert response.status_code in (303, 401), (method, path, response.status_code)
                if response.status_code == 303:
                    assert response.headers["location"].startswith("/connexion"), (method, path)
            else:
                assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
            checked += 1
        assert checked >= 10

    def test_roles_without_the_required_permission_get_403(self, app, client, db):
        users: dict[Role, object] = {}
        checked = 0
        for method, path, route in _routes(app):
            for permission in _required_permissions(route):
                lacking = next((r for r in Role if permission not in ROLE_PERMISSIONS[r]), None)
                if lacking is None:
                    continue
                user = users.get(lacking) or make_user(db, lacking.value)
                users[lacking] = user
                sign_in(client, db, user)
                headers = {"accept": "text/html"} if _is_page(path) else {"accept": "application/json"}
                if method != "GET":
                    headers["x-csrf-token"] = csrf_token(client)
                response = client.request(method, _concrete(path), headers=headers, follow_redirects=False,
                                          json={} if method != "GET" else None)
                assert response.status_code == 403, (method, path, lacking, response.status_code)
                sign_out(client)
                checked += 1
        assert checked >= 3

    def test_device_only_routes_refuse_professionals(self, app, client, db):
        """Routes marked ``device_only`` (telesurveillance ingestion) take a device credential, never a person."""
        user = make_user(db, "physician")
        checked = 0
        for method, path, route in _routes(app):
            stack, device_only = list(route.dependant.dependencies), False
            while stack:
                dep = stack.pop()
                device_only = device_only or bool(getattr(dep.call, "device_only", False))
                stack.extend(dep.dependencies)
            if not device_only:
                continue
            sign_in(client, db, user)
            response = client.request(method, _concrete(path), json={}, follow_redirects=False,
                                      headers={"accept": "application/json", "x-csrf-token": csrf_token(client)})
            assert response.status_code == 403, (method, path, response.status_code)
            sign_out(client)
            checked += 1
        assert checked >= 1

    @pytest.mark.parametrize("path", ["/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd"])
    def test_static_files_do_not_escape_their_folder(self, client, path):
        assert client.get(path).status_code == 404
