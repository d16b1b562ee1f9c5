"""In a real browser, as the demo analyst: the APL map of the demo département and a telemedicine chart."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pyotp
import pytest

from maillage.analytics import engines, service
from maillage.analytics.communes import load_real_communes
from maillage.analytics.warehouse import Warehouse
from maillage.demo.accounts import DEMO_PASSWORD, demo_totp_secret
from maillage.demo.claims import generate_claims
from tests.e2e.conftest import LiveServer, start_server

pytestmark = pytest.mark.e2e
DEMO_DEPARTEMENT = "87"


@pytest.fixture(scope="module")
def analytics_server(tmp_path_factory: pytest.TempPathFactory, browser) -> Iterator[LiveServer]:
    var_dir = tmp_path_factory.mktemp("analytics-live") / "var"
    warehouse = Warehouse(var_dir / "warehouse")
    generate_claims(warehouse, load_real_communes(DEMO_DEPARTEMENT), rows=80_000, seed=9, year=2025,
                    territory=DEMO_DEPARTEMENT)
    # The gate of a département's monthly table takes longer than a page may (its linear programs): computed and
    # kept beside the stored result beforehand, as `maillage analytics run` does, and read by the page.
    service.published("telemedecine", None, warehouse, engines.config_from_settings())
    server = start_server(var_dir)
    yield server
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()


def login_as_analyst(server: LiveServer, page) -> None:
    page.goto(server.url + "/connexion")
    page.get_by_label("Identifiant").fill("analyste.roux")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url("**/connexion/code**")
    page.get_by_label("Code").fill(pyotp.TOTP(demo_totp_secret("analyste.roux")).now())
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url(server.url + "/")


class TestAnalystPagesInTheBrowser:
    def test_the_demo_analyst_opens_the_apl_map_then_an_indicator_chart(self, analytics_server, page):
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        login_as_analyst(analytics_server, page)
        page.get_by_role("link", name="Pilotage").first.click()
        page.wait_for_url("**/pilotage")
        assert page.get_by_role("heading", name="Indicateurs du territoire").is_visible()

        page.get_by_role("link", name="Carte des communes et liste des communes sous-denses").click()
        page.wait_for_url("**/pilotage/carte")
        assert page.get_by_role("heading", name="Accessibilité aux médecins généralistes (APL)").is_visible()
        map_svg = page.get_by_role("img", name="APL aux médecins généralistes par commune")
        assert map_svg.is_visible()
        assert page.locator("svg.map circle[data-commune]").count() > 150
        assert page.locator("svg.map polygon.departement").count() >= 1
        assert page.get_by_role("heading", name="Communes sous-denses").is_visible()
        page.screenshot(path=str(analytics_server.var_dir.parent / "carte.png"), full_page=True)

        page.goto(analytics_server.url + "/pilotage/indicateurs/telemedecine")
        chart = page.get_by_role("img", name="Téléconsultations par mois")
        assert chart.is_visible()
        assert page.locator("svg.chart circle").count() >= 10
        assert page.get_by_role("table").first.is_visible()
        page.screenshot(path=str(analytics_server.var_dir.parent / "telemedecine.png"), full_page=True)
        assert requests and all(u.startswith(analytics_server.url) for u in requests)  # no CDN, nothing outside
