"""The MQTT bridge: gateways publish readings, the bridge stores them through the one ingestion pipeline.

- Topic ``maillage/devices/<device identifier>/readings``; the payload is a compact batch
  (``{"readings": [...]}``), a FHIR ``Observation`` or a FHIR ``Bundle`` (batch semantics).
- The bridge subscribes with QoS 1 and a persistent session (``clean_session=False``, a fixed client id): the
  broker keeps the messages while the bridge is away.
- Acknowledged only after commit (``manual_ack``): the PUBACK of a message leaves after the transaction that
  stored its readings has committed. A crash before that means a redelivery, and a redelivery is a replay:
  each reading carries the device's own id, so it is stored once.
- Per-reading outcomes go back on ``maillage/devices/<device identifier>/results`` (QoS 1).
- The broker authenticates publishers; its ACL must restrict each device account to its own topic
  (``pattern write maillage/devices/%u/#`` in Mosquitto). The bridge then checks that the topic's device has a
  current (not revoked) credential and is registered in telesurveillance.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from maillage.auth import repository as auth_repo
from maillage.auth.tokens import DeviceActor
from maillage.exceptions import MaillageError
from maillage.kit.logging import get_logger
from maillage.monitoring import fhir
from maillage.monitoring.ingest import Incoming, IngestResult, batch_items, ingest
from maillage.monitoring.schemas import COMPACT_BATCH
from maillage.security.context import AuditContext

log = get_logger("maillage.monitoring.mqtt")

TOPIC_PREFIX = "maillage/devices"
READINGS_TOPIC = f"{TOPIC_PREFIX}/+/readings"
MAX_PAYLOAD = 1_048_576


@dataclass
class BridgeConfig:
    host: str = "127.0.0.1"
    port: int = 1883
    client_id: str = "maillage-ingest"
    username: str = ""
    password: str = ""
    batch_max: int = 200       # messages per transaction
    batch_wait: float = 0.05   # seconds to gather a batch once one message is there
    retry_wait: float = 1.0    # after a database failure, before processing the same messages again


class PayloadRejected(ValueError):
    """The whole message is unusable (not JSON, unknown device...): it is acknowledged and dropped, with a log."""


def device_of_topic(session: Session, topic: str) -> DeviceActor:
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != TOPIC_PREFIX or parts[3] != "readings" or not parts[2]:
        raise PayloadRejected("topic")
    row = auth_repo.device_by_identifier(session, parts[2])
    if row is None or row.revoked_at is not None:
        raise PayloadRejected("device_unknown")
    return DeviceActor(row.id, row.device_identifier, row.establishment_id)


def incoming_of(payload: bytes) -> tuple[str, list[Incoming]]:
    """(channel, readings) of a message; raises ``PayloadRejected`` or ``MaillageError``."""
    if len(payload) > MAX_PAYLOAD:
        raise PayloadRejected("too_large")
    try:
        body: Any = json.loads(payload)
    except ValueError:
        raise PayloadRejected("not_json") from None
    if isinstance(body, dict) and "readings" in body:
        try:
            batch = COMPACT_BATCH.validate_python(body)
        except ValidationError:
            raise PayloadRejected("invalid_batch") from None
        return "mqtt", batch_items(batch)
    if isinstance(body, dict) and body.get("resourceType") == "Observation":
        return "mqtt_fhir", fhir.parse_observation(body)
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        _, entries = fhir.parse_bundle(body)
        return "mqtt_fhir", [r for e in entries for r in e.readings]
    raise PayloadRejected("unknown_payload")


class Bridge:
    """Subscribe, store, commit, then acknowledge. ``run`` blocks until ``stop`` is set."""

    def __init__(self, sessions: sessionmaker[Session], config: BridgeConfig,
                 on_batch: Callable[[int], None] | None = None) -> None:
        self.sessions = sessions
        self.config = config
        self.on_batch = on_batch
        self.inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=config.client_id, clean_session=False,
                                  protocol=mqtt.MQTTv311, manual_ack=True)
        if config.username:
            self.client.username_pw_set(config.username, config.password or None)
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.max_inflight_messages_set(max(20, config.batch_max))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.stored = 0

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("mqtt.connect_refused", reason=str(reason))
            return
        client.subscribe(READINGS_TOPIC, qos=1)
        self.connected.set()
        log.info("mqtt.connected", host=self.config.host, port=self.config.port)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        log.warning("mqtt.disconnected", reason=str(reason))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.inbox.put(message)

    def _gather(self) -> list[mqtt.MQTTMessage]:
        try:
            first = self.inbox.get(timeout=0.5)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.config.batch_wait
        while len(batch) < self.config.batch_max:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def process(self, messages: list[mqtt.MQTTMessage]) -> list[tuple[str, dict[str, Any]]]:
        """Store the messages in one transaction; return the replies to publish. Raises if the commit fails."""
        replies: list[tuple[str, dict[str, Any]]] = []
        with self.sessions() as session:
            for message in messages:
                try:
                    with session.begin_nested():
                        device = device_of_topic(session, message.topic)
                        channel, items = incoming_of(bytes(message.payload))
                        result: IngestResult = ingest(session, device, items, channel=channel,
                                                      context=AuditContext(request_id=f"mqtt-{message.mid}"))
                    self.stored += result.accepted
                    replies.append((f"{TOPIC_PREFIX}/{device.device_identifier}/results", result.to_reply()))
                except (PayloadRejected, MaillageError) as exc:
                    code = str(exc) if isinstance(exc, PayloadRejected) else exc.code
                    log.warning("mqtt.message_rejected", mid=message.mid, code=code)
            session.commit()
        return replies

    def run(self, stop: threading.Event) -> None:
        self.client.connect_async(self.config.host, self.config.port, keepalive=30)
        self.client.loop_start()
        pending: list[mqtt.MQTTMessage] = []
        try:
            while not stop.is_set():
                if not pending:
                    pending = self._gather()
                    if not pending:
                        continue
                try:
                    replies = self.process(pending)
                except Exception as exc:  # the database is away: keep the messages, acknowledge nothing
                    log.error("mqtt.store_failed", error_type=type(exc).__name__, messages=len(pending))
                    stop.wait(self.config.retry_wait)
                    continue
                for message in pending:  # after commit only
                    self.client.ack(message.mid, message.qos)
                for topic, body in replies:
                    self.client.publish(topic, json.dumps(body), qos=1)
                if self.on_batch is not None:
                    self.on_batch(len(pending))
                pending = []
        finally:
            self.client.disconnect()
            self.client.loop_stop()
