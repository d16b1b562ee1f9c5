"""``maillage ingest-mqtt``: the MQTT bridge of telesurveillance, as a long-running process."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

console = Console(stderr=True)


def ingest_mqtt(
    host: Annotated[str | None, typer.Option(help="Adresse du courtier MQTT")] = None,
    port: Annotated[int | None, typer.Option(help="Port du courtier MQTT")] = None,
    client_id: Annotated[str | None, typer.Option(help="Identifiant de session persistante auprès du courtier")] = None,
) -> None:
    """Relaie les mesures publiées par les passerelles (QoS 1, session persistante, accusé après enregistrement)."""
    from maillage.config import get_settings
    from maillage.kit.db import make_engine, make_sessionmaker
    from maillage.kit.logging import configure_logging
    from maillage.monitoring.mqtt import READINGS_TOPIC, Bridge, BridgeConfig

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    engine = make_engine(settings.effective_database_url, statement_timeout_ms=settings.statement_timeout_ms)
    config = BridgeConfig(host=host or settings.mqtt_host, port=port or settings.mqtt_port,
                          client_id=client_id or settings.mqtt_client_id, username=settings.mqtt_username,
                          password=settings.mqtt_password.get_secret_value())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    console.print(f"Pont MQTT : {config.host}:{config.port}, abonnement {READINGS_TOPIC} (QoS 1).")
    Bridge(make_sessionmaker(engine), config).run(stop)
    engine.dispose()
    console.print("Pont MQTT arrêté.")
