"""The MQTT bridge: payload parsing, then real brokers (the machine's Mosquitto, and a private one we restart
in the middle of a stream). Every published reading must be stored exactly once."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from maillage.exceptions import ValidationFailed
from maillage.kit.clock import now
from maillage.models.monitoring import MonitoringReading
from maillage.monitoring.mqtt import Bridge, BridgeConfig, PayloadRejected, device_of_topic, incoming_of
from tests.conftest import skip_or_fail
from tests.monitoring.conftest import World
from tests.monitoring.live import Mosquitto, isolated_database, seed_world, sessions_for


def broker_up(port: int = 1883) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def batch(prefix: str, n: int, per: int) -> bytes:
    base = now() - dt.timedelta(hours=1)
    return json.dumps({"readings": [
        {"id": f"{prefix}-{n}-{k}", "code": "29463-7", "value": 80.0 + (k % 5) / 10, "unit": "kg",
         "at": (base + dt.timedelta(seconds=n * per + k)).isoformat()} for k in range(per)]}).encode()


class Publisher:
    """A gateway: QoS 1, persistent session, resends what the broker has not acknowledged after a reconnect."""

    def __init__(self, port: int) -> None:
        self.client_id = f"gw-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, clean_session=False)
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        self.client.max_queued_messages_set(0)
        self.client.max_inflight_messages_set(50)
        self.acked: set[int] = set()
        self.connected = threading.Event()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.on_connect = lambda _c, _u, _f, _rc, _p: self.connected.set()
        self.client.connect_async("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        assert self.connected.wait(10), "the gateway did not connect"
        self.mids: list[int] = []

    def publish(self, topic: str, payload: bytes) -> None:
        # While the broker is away paho keeps QoS 1 messages and sends them again after reconnecting.
        self.mids.append(self.client.publish(topic, payload, qos=1).mid)

    def wait_all(self, timeout: float) -> bool:
        """Every publication acknowledged by the broker (PUBACK)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if set(self.mids) <= self.acked:
                return True
            time.sleep(0.1)
        return False

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def stored(sessions: Any, enrolment_id: uuid.UUID) -> tuple[int, int]:
    with sessions() as db:
        total = db.scalar(select(func.count()).select_from(MonitoringReading)
                          .where(MonitoringReading.enrolment_id == enrolment_id))
        distinct = db.scalar(select(func.count(func.distinct(MonitoringReading.external_id)))
                             .where(MonitoringReading.enrolment_id == enrolment_id))
        return int(total or 0), int(distinct or 0)


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


class TestIncomingOf:
    def test_a_compact_batch(self) -> None:
        channel, items = incoming_of(batch("p", 0, 3))
        assert channel == "mqtt" and [i.external_id for i in items] == ["p-0-0", "p-0-1", "p-0-2"]

    def test_a_fhir_observation(self) -> None:
        body = {"resourceType": "Observation", "status": "final", "identifier": [{"value": "o-1"}],
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "effectiveDateTime": now().isoformat(), "valueQuantity": {"value": 80, "code": "kg"}}
        channel, items = incoming_of(json.dumps(body).encode())
        assert channel == "mqtt_fhir" and items[0].external_id == "o-1"

    @pytest.mark.parametrize("payload", [b"not json", b'{"readings": [{"value": 1}]}', b"[1, 2]", b"{}"])
    def test_unusable_payloads_are_rejected(self, payload: bytes) -> None:
        with pytest.raises(PayloadRejected):
            incoming_of(payload)

    def test_an_invalid_observation_is_a_validation_error(self) -> None:
        with pytest.raises(ValidationFailed):
            incoming_of(b'{"resourceType": "Observation", "status": "final"}')


class TestDeviceOfTopic:
    def test_the_topic_names_a_device_with_a_current_credential(self, db, world: World) -> None:
        assert device_of_topic(db, "maillage/devices/SCALE-1/readings").device_identifier == "SCALE-1"

    @pytest.mark.parametrize("topic", ["maillage/devices/NOPE/readings", "other/SCALE-1/readings",
                                       "maillage/devices/SCALE-1/results"])
    def test_other_topics_and_unknown_devices_are_rejected(self, db, world: World, topic: str) -> None:
        with pytest.raises(PayloadRejected):
            device_of_topic(db, topic)


def forget_session(port: int, client_id: str) -> None:
    """Drop a persistent session from the broker (the machine's broker outlives the test)."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    try:
        client.connect("127.0.0.1", port, keepalive=5)
        client.loop_start()
        time.sleep(0.2)
        client.disconnect()
        client.loop_stop()
    except OSError:
        pass


def run_bridge(sessions: Any, port: int) -> tuple[Bridge, threading.Event, threading.Thread]:
    bridge = Bridge(sessions, BridgeConfig(port=port, client_id=f"maillage-test-{uuid.uuid4().hex[:8]}"))
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    assert bridge.connected.wait(10), "the bridge did not connect"
    return bridge, stop, thread


class TestBridgeOnTheMachinesBroker:
    def test_published_batches_are_stored_and_answered(self, backend: str, tmp_path: Path) -> None:
        if not broker_up():
            skip_or_fail("MAILLAGE_REQUIRE_MQTT", "Mosquitto ne répond pas sur 127.0.0.1:1883")
        with isolated_database(backend, tmp_path) as url:
            sessions = sessions_for(url)
            world = seed_world(sessions, suffix=uuid.uuid4().hex[:6])
            bridge, stop, thread = run_bridge(sessions, 1883)
            results: list[dict[str, Any]] = []
            publisher = Publisher(1883)
            publisher.client.on_message = lambda _c, _u, m: results.append(json.loads(m.payload))
            publisher.client.subscribe(f"maillage/devices/{world.device_identifier}/results", qos=1)
            try:
                for n in range(5):
                    publisher.publish(f"maillage/devices/{world.device_identifier}/readings", batch("m", n, 4))
                publisher.publish(f"maillage/devices/{world.device_identifier}/readings", batch("m", 0, 4))  # replay
                assert publisher.wait_all(20)
                assert wait_for(lambda: stored(sessions, world.enrolment_id)[0] >= 20, 20)
                time.sleep(0.5)
                assert stored(sessions, world.enrolment_id) == (20, 20)
                assert bridge.stored == 20  # the replayed message was acknowledged, not stored again
                assert wait_for(lambda: len(results) >= 6, 10)
                assert sorted(r["duplicates"] for r in results)[-1] == 4
            finally:
                publisher.close()
                stop.set()
                thread.join(10)
                forget_session(1883, bridge.config.client_id)
                forget_session(1883, publisher.client_id)
                sessions.kw["bind"].dispose()


class TestBrokerRestart:
    def test_every_reading_is_stored_exactly_once_across_a_broker_restart(self, backend: str, tmp_path: Path) -> None:
        if not Mosquitto.available():
            skip_or_fail("MAILLAGE_REQUIRE_MQTT", "mosquitto n'est pas installé")
        (tmp_path / "broker").mkdir()
        broker = Mosquitto(tmp_path / "broker")
        broker.start()
        db_dir = tmp_path / "db"
        db_dir.mkdir()
        try:
            with isolated_database(backend, db_dir) as url:
                sessions = sessions_for(url)
                world = seed_world(sessions, suffix=uuid.uuid4().hex[:6])
                bridge, stop, thread = run_bridge(sessions, broker.port)
                publisher = Publisher(broker.port)
                topic = f"maillage/devices/{world.device_identifier}/readings"
                messages, per = 120, 10
                try:
                    for n in range(messages):
                        publisher.publish(topic, batch("r", n, per))
                        if n == messages // 3:
                            broker.stop()          # mid-stream: the broker goes away...
                            time.sleep(1.5)
                            broker.start()         # ...and comes back with its persisted sessions
                        time.sleep(0.01)
                    assert publisher.wait_all(60), "the broker never acknowledged some publications"
                    expected = messages * per
                    assert wait_for(lambda: stored(sessions, world.enrolment_id)[0] >= expected, 60)
                    time.sleep(1.0)  # let any redelivery arrive: it must not add a row
                    assert stored(sessions, world.enrolment_id) == (expected, expected)
                    assert bridge.stored == expected  # redeliveries were recognised as duplicates
                finally:
                    publisher.close()
                    stop.set()
                    thread.join(10)
                    sessions.kw["bind"].dispose()
        finally:
            broker.stop()
