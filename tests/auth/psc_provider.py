"""A real OpenID Connect provider on loopback for the Pro Santé Connect tests: oidc-provider-mock (a Flask
application built on authlib's authorization server, made for testing relying parties), run in a thread.

What it produces as is: discovery, client registration with a real secret, the authorization code flow with its
form, nonce, RS256 ID tokens signed with its own key published on its JWKS, userinfo, end_session. Each user's
extra claims (``acr``, ``SubjectNameID``: what Pro Santé Connect sends) go into the ID token and userinfo.

What the tests add around the same server, because the mock cannot do it by itself:
- ``rotate()``: a test-only route that replaces the provider's signing key by a new one (same key generator as
  the mock's own), so that the next tokens are signed with a key id the relying party has not fetched yet;
- ``tamper``: a WSGI wrapper that flips one character of the signature of the ID token in the token endpoint's
  answer (the rest of the exchange is untouched).
The mock does not check PKCE's code_verifier (it registers no code-challenge extension): that the relying party
sends S256 challenges and verifiers is checked on the requests themselves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import werkzeug.serving


class Provider:
    def __init__(self, port: int, users: dict[str, dict[str, Any]], token_minutes: int = 5) -> None:
        import flask
        import oidc_provider_mock
        from authlib import jose

        self.flask_app = oidc_provider_mock.app(
            require_client_registration=True, require_nonce=True, issue_refresh_token=False,
            access_token_max_age=timedelta(minutes=token_minutes),
            user_claims=[oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in users.items()],
        )
        self.tamper = False
        self.authorize_requests: list[dict[str, list[str]]] = []
        self.token_requests: list[dict[str, list[str]]] = []

        def rotate() -> Any:
            flask.g.oidc_provider_mock_storage.jwk = jose.RSAKey.generate_key(is_private=True)
            return {"kid": flask.g.oidc_provider_mock_storage.jwk.as_dict()["kid"]}

        self.flask_app.add_url_rule("/test/rotate", "test_rotate", rotate, methods=["POST"])
        self.issuer = f"http://127.0.0.1:{port}"
        self.server = werkzeug.serving.make_server("127.0.0.1", port, self._wsgi, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/oauth2/authorize":
            self.authorize_requests.append(parse_qs(environ.get("QUERY_STRING", "")))
        if path != "/oauth2/token":
            return self.flask_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        self.token_requests.append(parse_qs(body.decode()))
        import io

        environ["wsgi.input"] = io.BytesIO(body)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        chunks = b"".join(self.flask_app(environ, capture))
        if self.tamper and captured["status"].startswith("200"):
            document = json.loads(chunks)
            head, payload, signature = document["id_token"].split(".")
            flipped = ("A" if signature[10] != "A" else "B")
            document["id_token"] = ".".join((head, payload, signature[:10] + flipped + signature[11:]))
            chunks = json.dumps(document).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(chunks))))
        start_response(captured["status"], headers)
        return [chunks]

    def register(self, redirect_uri: str) -> tuple[str, str]:
        answer = httpx.post(f"{self.issuer}/oauth2/clients", json={
            "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "client_secret_basic"})
        answer.raise_for_status()
        return answer.json()["client_id"], answer.json()["client_secret"]

    def authorize(self, authorization_url: str, sub: str) -> str:
        """The user picks ``sub`` on the provider's form; returns where the provider sends the browser back."""
        answer = httpx.post(authorization_url, data={"sub": sub}, follow_redirects=False)
        assert answer.status_code in (302, 303), answer.text[:500]
        return answer.headers["location"]

    def rotate(self) -> str:
        answer = httpx.post(f"{self.issuer}/test/rotate")
        answer.raise_for_status()
        return str(answer.json()["kid"])

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(2)


@contextmanager
def running_provider(port: int, users: dict[str, dict[str, Any]], **kwargs: Any) -> Iterator[Provider]:
    provider = Provider(port, users, **kwargs)
    try:
        yield provider
    finally:
        provider.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(url).query).items()}
