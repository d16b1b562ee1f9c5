"""The analyst's main flow in a real browser, on the demo (``maillage serve --demo``, département 87): the catalogue,
an indicator with figures for the communes of the département (a long table that pages), then the APL map opened
on the département, with its list of under-served communes. Everything comes from results stored at demo time."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e
COMMUNES_87 = 195
FIFTH_COLUMN = "section[aria-labelledby=tableau] table >> nth=0 >> tbody tr:not(.total) td:nth-child(5)"


def figures(page, selector: str) -> list[float]:  # type: ignore[no-untyped-def]
    """The numbers of the cells matched, read the French way (« — » when masked is left out)."""
    values = []
    for text in page.locator(selector).all_inner_texts():
        cleaned = text.replace("\u202f", "").replace("\xa0", "").replace(" ", "").replace(",", ".")
        if re.fullmatch(r"-?\d+(\.\d+)?", cleaned):
            values.append(float(cleaned))
    return values


class TestAnalystOnTheDemo:
    def test_catalogue_then_an_indicator_with_figures_then_the_map_of_the_departement(self, live_server, page):
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        url = live_server.url
        sign_in(page, url, "analyste.roux")
        page.get_by_role("link", name="Pilotage").first.click()
        page.wait_for_url("**/pilotage")
        assert page.get_by_role("heading", name="Indicateurs du territoire").is_visible()
        body = page.locator("main").inner_text()
        assert "maillage analytics" not in body and "vide" not in body  # no command line, no empty warehouse
        assert "Données synthétiques" in body

        page.get_by_role("link", name="Consultations de médecine générale par habitant").click()
        page.wait_for_url("**/pilotage/indicateurs/consultations-mg")
        assert page.locator("#f-dep option:checked").inner_text() == "Département 87"
        assert page.locator("#f-annee").input_value() == "2025"
        chart = page.get_by_role("img", name=re.compile("par commune"))
        assert chart.is_visible()
        assert chart.locator("rect[fill='#2166ac']").count() >= 25  # bars with a value, not « secret »
        count = page.locator("#tableau-compte")
        assert count.inner_text().startswith(f"Communes 1 à 50 sur {COMMUNES_87}")
        rates = figures(page, FIFTH_COLUMN)
        assert len(rates) >= 45 and min(rates) > 0  # the rate of 50 communes, nearly all published
        page.get_by_role("link", name="Page suivante").first.click()
        page.wait_for_load_state()
        assert page.locator("#tableau-compte").inner_text().startswith(f"Communes 51 à 100 sur {COMMUNES_87}")

        page.goto(url + "/pilotage/indicateurs/apl-mg")
        scores = figures(page, FIFTH_COLUMN)
        assert len(scores) >= 45 and sum(s > 0 for s in scores) >= 40  # APL published and not zero
        page.get_by_role("link", name="Voir la carte").click()
        page.wait_for_url("**/pilotage/carte**")
        assert page.get_by_role("img", name="APL aux médecins généralistes par commune").is_visible()
        assert page.locator("svg.map circle[data-commune]").count() == COMMUNES_87  # the département, not France
        assert page.locator("svg.map [data-departement]").count() >= 1
        assert page.get_by_role("heading", name="Communes sous-denses").is_visible()
        assert f"sur {COMMUNES_87}" in page.locator("main").inner_text()
        page.screenshot(path=str(live_server.var_dir.parent / "carte-87.png"), full_page=True)
        assert requests and all(u.startswith(url) for u in requests)  # no CDN, nothing outside
