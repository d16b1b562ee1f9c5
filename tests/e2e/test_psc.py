"""Pro Santé Connect in a browser: a real ``maillage serve`` configured with a real OpenID Connect provider on
loopback (tests/auth/psc_provider.py). The physician clicks the button on the login page, picks their identity on
the provider's page, comes back signed in (no TOTP step), then logs out, which ends the provider's session too."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from maillage.auth import service as auth
from maillage.kit.db import make_engine, make_sessionmaker
from maillage.models.directory import Professional
from tests.auth.psc_provider import Provider, running_provider
from tests.conftest import CHILD_PYTHONPATH, run_migrations
from tests.e2e.servers import serve_process

pytestmark = pytest.mark.e2e

SERVER_PORT = 8665
PROVIDER_PORT = 8666
SUB = "f:550dc1c8:810001234567"


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider(PROVIDER_PORT, {SUB: {
            "acr": "eidas1", "SubjectNameID": "810001234567", "given_name": "Claire", "family_name": "Dupont"}}) as p:
        yield p


@pytest.fixture
def server(tmp_path: Path, provider: Provider) -> Iterator[str]:
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    url = f"sqlite:///{var_dir / 'maillage.sqlite3'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        run_migrations(conn)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        physician = Professional(rpps="10001234567", national_id="810001234567", last_name="Dupont",
                                 first_name="Claire", profession_code="10")
        db.add(physician)
        db.flush()
        auth.create_user(db, username="claire.dupont", display_name="Dr Claire Dupont", role="physician",
                         password="Correct-Horse-Battery-9", person_id=physician.id)
        db.commit()
    engine.dispose()
    public = f"http://127.0.0.1:{SERVER_PORT}"
    client_id, secret = provider.register(f"{public}/connexion/psc/retour")
    env = {**os.environ, "MAILLAGE_VAR_DIR": str(var_dir), "MAILLAGE_ENVIRONMENT": "development",
           "MAILLAGE_DATABASE_URL": url, "MAILLAGE_PUBLIC_URL": public, "PYTHONPATH": CHILD_PYTHONPATH,
           "MAILLAGE_PSC_ISSUER": provider.issuer, "MAILLAGE_PSC_CLIENT_ID": client_id,
           "MAILLAGE_PSC_CLIENT_SECRET": secret, "MAILLAGE_PSC_SCOPES": "openid profile"}
    with serve_process(SERVER_PORT, env, tmp_path / "server.log"):
        yield public


class TestProSanteConnect:
    def test_sign_in_with_the_button_then_log_out_at_the_provider(self, server, provider, page):
        page.goto(server + "/connexion")
        page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
        page.wait_for_url(f"{provider.issuer}/oauth2/authorize**")
        page.get_by_role("button", name=SUB).click()
        page.wait_for_url(server + "/")
        assert "Dr Claire Dupont" in page.content()
        page.get_by_role("button", name="Se déconnecter").click()
        page.wait_for_url(f"{provider.issuer}/oauth2/end_session**")  # the provider asks to confirm
        page.get_by_role("button", name="End session").click()
        page.wait_for_url(f"{server}/connexion**")  # back on Maillage's login page, signed out of both
        page.goto(server + "/compte")
        page.wait_for_url(f"{server}/connexion**")
