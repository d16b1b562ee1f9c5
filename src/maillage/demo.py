"""Demo data for ``make run``: loaded only when the database is empty.

A minimal seed for now; the demo-territory capability replaces it with a whole département.
"""

from __future__ import annotations

from typing import Any

from maillage.config import get_settings
from maillage.kit.db import make_engine, make_sessionmaker


def load_demo_if_empty(console: Any) -> bool:
    settings = get_settings()
    engine = make_engine(settings.effective_database_url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        loaded = _seed(session)
        session.commit()
    if loaded:
        console.print("Données de démonstration chargées.")
    else:
        console.print("La base contient déjà des données : démonstration non rechargée.")
    return loaded


def _seed(session: Any) -> bool:
    return False
