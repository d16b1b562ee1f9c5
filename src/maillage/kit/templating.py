"""One Jinja environment over every package's ``templates/`` folder, with French formatting helpers."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from maillage.kit import french
from maillage.kit.clock import PARIS
from maillage.kit.numbers import fr_euros, fr_number

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def template_dirs() -> list[str]:
    dirs = [str(PACKAGE_ROOT / "web" / "templates")]
    for path in sorted(PACKAGE_ROOT.glob("*/templates")):
        if str(path) not in dirs:
            dirs.append(str(path))
    return dirs


def format_datetime(value: dt.datetime | None, fmt: str = "%d/%m/%Y %H:%M") -> str:
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(PARIS).strftime(fmt)


def format_date(value: dt.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else "—"




@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in template_dirs()]),
        autoescape=select_autoescape(["html", "xml"]),
        auto_reload=False,
    )
    env.filters["datetime"] = format_datetime
    env.filters["date"] = format_date
    env.filters["euros"] = fr_euros
    env.filters["number"] = fr_number
    # French wording: {{ n | plural("photographie") }}, {{ n | counted("alerte ouverte", "alertes ouvertes") }},
    # {{ sex | agree("né", "née") }}, {{ hours | duration }}.
    env.filters["plural"] = french.plural
    env.filters["counted"] = french.count
    env.filters["agree"] = french.agree
    env.filters["duration"] = french.duration_hours
    return Jinja2Templates(env=env)
