"""Envision's official device SDK, enos-mqtt-sdk-python 0.1.1 with paho-mqtt 1.x, unchanged,
through the fixtures: TLS logins with certificates applied through the client, the secret
login on the plain port, refusals and connection faults seen by paho with the client's
``mqtt_login``, and commands sent to a device with ``send_command`` (the device conversation,
issue 23: those tests need ``POST /__admin/mqtt/publish``; see ``needs_the_command_route``).

The SDK's blocking ``connect()`` can miss a fast CONNACK and then wait its full 10 s (a race
in the SDK between the CONNACK callback and its wait; issue 23 looks at it from the mock's
side), so these tests use the SDK's own asynchronous ``connect(callback)`` and wait for
its ``on_connect``.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from enos.core.internal.Ciphers import Ciphers
from enos.core.message.IConnectCallback import IConnectCallback
from enos.core.MqttClient import MqttClient
from enos.message.downstream.tsl.MeasurepointSetCommand import MeasurepointSetCommand
from enos.message.downstream.tsl.MeasurepointSetReply import MeasurepointSetReply
from enos.message.downstream.tsl.ServiceInvocationCommand import ServiceInvocationCommand
from enos.message.downstream.tsl.ServiceInvocationReply import ServiceInvocationReply
from enos.message.upstream.tsl.MeasurepointPostRequest import MeasurepointPostRequest

from enos_cert_mock import CertFiles, Device, EnosMock, ErrorRow, HttpError, MqttLogin

WAIT = 10.0


class Connected(IConnectCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False

    def on_connect(self) -> None:
        self.ok = True
        self.done.set()

    def on_disconnect(self) -> None:
        pass

    def on_connect_failed(self) -> None:
        self.done.set()


def sdk_device(
    url: str,
    device: Device,
    files: CertFiles | None = None,
    ciphers: Any = None,
    handlers: dict[str, Any] | None = None,
) -> MqttClient:
    """An SDK client of ``device`` with ``handlers`` for arrived messages (class name ->
    handler), connected (the SDK's asynchronous connect)."""
    client = MqttClient(url, device.product_key, device.device_key, device.secret)
    client.get_profile().set_auto_reconnect(False)
    if files is not None:
        client.get_profile().set_ssl_context(str(files.ca), str(files.cert), str(files.key), None, ciphers)
    for message_class, handler in (handlers or {}).items():
        client.register_arrived_message_handler(message_class, handler)
    callback = Connected()
    client.connect(callback)
    assert callback.done.wait(WAIT) and callback.ok, f"the SDK did not connect to {url}"
    assert client.is_connected()
    return client


def wait_for(what: str, check: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def paho_connack(port: int, login: MqttLogin) -> int:
    """The CONNACK code paho gets for ``login`` on the plain port."""
    outcome = paho_outcome(port, login)
    assert outcome.startswith("connack "), outcome
    return int(outcome.split()[1])


@pytest.mark.parametrize("authority", ["ECC", "RSA"])
def test_the_sdk_logs_in_over_mutual_tls_with_a_certificate_applied_here(
    enos_mock: EnosMock, tmp_path: Path, authority: str
) -> None:
    device = enos_mock.device("Uvmm5AXU")
    cert = enos_mock.apply(device, authority=authority)  # type: ignore[arg-type]
    client = sdk_device(
        f"ssl://127.0.0.1:{enos_mock.mqtt_tls_port}",
        device,
        cert.write(tmp_path),
        getattr(Ciphers, authority),
    )
    try:
        (session,) = enos_mock.connections()
        assert (session.asset_id, session.cert_sn, session.authority) == (
            device.asset_id,
            cert.cert_sn,
            authority,
        )
        client.fast_publish(MeasurepointPostRequest.builder().add_measurepoint("temperature", 21.5).build())
        topic = f"/sys/{device.product_key}/{device.device_key}/thing/measurepoint/post"
        wait_for(
            "the publish in the journal",
            lambda: [e for e in enos_mock.requests("mqtt.publish") if e.get("topic") == topic],
        )
        (connect,) = enos_mock.requests("mqtt.connect")
        assert (connect["outcome"], connect["certSN"]) == ("accepted", cert.cert_sn)
    finally:
        client.close()


def test_the_sdk_logs_in_with_its_secret_on_the_plain_port_and_the_mock_drops_it(enos_mock: EnosMock) -> None:
    device = enos_mock.device("Pl9gY1wQ")  # a product without bi-directional auth
    client = sdk_device(f"tcp://127.0.0.1:{enos_mock.mqtt_port}", device)
    try:
        (session,) = enos_mock.connections()
        assert (session.device_key, session.cert_sn) == (device.device_key, None)
        enos_mock.disconnect(session)  # closes the socket; the session leaves the table just after
        wait_for("the session to be gone", lambda: enos_mock.connections() == [])
    finally:
        client.close()


@pytest.mark.parametrize("sign_method", ["sha256", "hmacsha1", "hmacsha256", "hmacmd5"])
def test_the_clients_mqtt_login_gets_in(enos_mock: EnosMock, sign_method: str) -> None:
    login = enos_mock.mqtt_login("Pl9gY1wQ", sign_method=sign_method)  # type: ignore[arg-type]
    assert paho_connack(enos_mock.mqtt_port, login) == 0


def test_refusals_and_connection_faults_as_paho_sees_them(enos_mock: EnosMock) -> None:
    device = enos_mock.device("Pl9gY1wQ")
    wrong = enos_mock.mqtt_login(product_key=device.product_key, device_key=device.device_key, secret="wrong")
    assert paho_connack(enos_mock.mqtt_port, wrong) == 4
    bidirectional = enos_mock.mqtt_login("Uvmm5AXU")  # needs a certificate: not over plain TCP
    assert paho_connack(enos_mock.mqtt_port, bidirectional) == 5
    fault = enos_mock.fault("mqtt.connect", connack=3, times=1, device=device)
    assert paho_connack(enos_mock.mqtt_port, enos_mock.mqtt_login(device)) == 3
    assert paho_connack(enos_mock.mqtt_port, enos_mock.mqtt_login(device)) == 0
    # The CONNACK codes are the contract; the words after them are the mock's own, except an
    # injected fault's, which docs/devices-connecting.md fixes.
    seen = [(e["outcome"], e.get("reason")) for e in enos_mock.requests("mqtt.connect")]
    assert [(outcome, (reason or "").split(":")[0]) for outcome, reason in seen] == [
        ("refused", "CONNACK 4"),
        ("refused", "CONNACK 5"),
        ("refused", "CONNACK 3"),
        ("accepted", ""),
    ]
    assert seen[2][1] == f"CONNACK 3: injected fault {fault.id}"


def paho_outcome(port: int, login: MqttLogin, wait: float = WAIT) -> str:
    """``connack N``, or ``closed`` when the connection ends without any CONNACK."""
    events: queue.Queue[str] = queue.Queue()
    client = paho.Client(client_id=login.client_id, protocol=paho.MQTTv311)
    client.username_pw_set(login.username, login.password)
    client.on_connect = lambda c, userdata, flags, rc: events.put(f"connack {rc}")
    client.on_disconnect = lambda c, userdata, rc: events.put("closed")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        return events.get(timeout=wait)
    finally:
        client.disconnect()
        client.loop_stop()


def test_connection_faults_drop_and_delay(enos_mock: EnosMock) -> None:
    device = enos_mock.device("Pl9gY1wQ")
    enos_mock.fault("mqtt.connect", drop=True, times=1, device=device)
    assert paho_outcome(enos_mock.mqtt_port, enos_mock.mqtt_login(device)) == "closed"
    enos_mock.fault("mqtt.connect", delay_ms=400, times=1)
    began = time.monotonic()
    assert paho_outcome(enos_mock.mqtt_port, enos_mock.mqtt_login(device)) == "connack 0"
    assert time.monotonic() - began >= 0.4
    assert enos_mock.faults() == []


# ------------------------------------------- commands to a device (issue 23)


@pytest.fixture
def needs_the_command_route(enos_mock: EnosMock) -> None:
    """``POST /__admin/mqtt/publish`` comes with the device conversation (issue 23). Where the
    binary does not serve it these tests SKIP loudly, except under CI (``CI`` set), where a
    missing route FAILS: the test command must not pass without them."""
    try:
        enos_mock._admin("POST", "/mqtt/publish", body={})
    except HttpError as e:
        if e.status == 404 and e.message == "no route for POST /__admin/mqtt/publish":
            why = "POST /__admin/mqtt/publish is not served by this binary (issue 23 has not landed)"
            if os.environ.get("CI"):
                pytest.fail(why)
            pytest.skip("WAITING FOR ISSUE 23: " + why)


@pytest.mark.usefixtures("needs_the_command_route")
def test_a_measurepoint_set_command_round_trips_through_the_sdks_handler(enos_mock: EnosMock) -> None:
    device = enos_mock.device("Pl9gY1wQ")
    received: list[dict[str, Any]] = []

    def on_set(command: Any, topic_args: list[str]) -> Any:
        received.append({"params": command.get_params(), "args": list(topic_args)})
        return MeasurepointSetReply.builder().set_code(200).set_message("set").build()

    client = sdk_device(
        f"tcp://127.0.0.1:{enos_mock.mqtt_port}",
        device,
        handlers={MeasurepointSetCommand.get_class(): on_set},
    )
    try:
        result = enos_mock.send_command(
            device,
            "thing/service/measurepoint/set",
            {
                "id": "cmd-1",
                "version": "1.0",
                "method": "thing.service.measurepoint.set",
                "params": {"temperature": 30.5},
            },
            reply_timeout_ms=5000,
        )
        topic = f"/sys/{device.product_key}/{device.device_key}/thing/service/measurepoint/set"
        assert result.sessions == 1
        assert result.reply is not None and result.reply.topic == topic + "_reply"
        assert (result.reply.payload["id"], result.reply.payload["code"]) == ("cmd-1", 200)
        assert received == [
            {"params": {"temperature": 30.5}, "args": [device.product_key, device.device_key]}
        ]
        wait_for(
            "the command and its reply in the journal",
            lambda: (
                {("down", topic), ("up", topic + "_reply")}
                <= {(e["direction"], e["topic"]) for e in enos_mock.requests("mqtt.publish")}
            ),
        )
    finally:
        client.close()


@pytest.mark.usefixtures("needs_the_command_route")
def test_a_service_invocation_round_trips_with_its_output(enos_mock: EnosMock) -> None:
    device = enos_mock.device("Pl9gY1wQ")

    def on_service(command: Any, topic_args: list[str]) -> Any:
        params = command.get_params()
        assert topic_args[2] == "multiply"
        return (
            ServiceInvocationReply.builder()
            .add_output_data("result", params["left"] * params["right"])
            .set_code(200)
            .build()
        )

    client = sdk_device(
        f"tcp://127.0.0.1:{enos_mock.mqtt_port}",
        device,
        handlers={ServiceInvocationCommand.get_class(): on_service},
    )
    try:
        result = enos_mock.send_command(
            device.asset_id,
            "thing/service/multiply",
            {"version": "1.0", "method": "thing.service.multiply", "params": {"left": 6, "right": 7}},
            reply_timeout_ms=5000,
        )
        assert result.sessions == 1 and result.reply is not None
        assert (result.reply.payload["code"], result.reply.payload["data"]["result"]) == (200, 42)
        # Without a wait: sent, no reply awaited.
        assert (
            enos_mock.send_command(
                device, "thing/service/multiply", {"params": {"left": 1, "right": 1}}
            ).reply
            is None
        )
    finally:
        client.close()


@pytest.mark.usefixtures("needs_the_command_route")
def test_commands_to_an_unknown_or_offline_device_are_refused(enos_mock: EnosMock) -> None:
    with pytest.raises(HttpError) as unknown:
        enos_mock.send_command("NoSuchAs", "/sys/x/y/thing/service/measurepoint/set", {"params": {}})
    assert unknown.value.status == 404 and unknown.value.message
    with pytest.raises(HttpError) as offline:
        enos_mock.send_command(
            "Pl9gY1wQ", "/sys/PlainPrd/gateway-001/thing/service/measurepoint/set", {"params": {}}
        )
    assert offline.value.status == 409 and offline.value.message


#: Methods whose request topic is not the method with dots as slashes.
IRREGULAR = {"thing.event.post", "ota.inform", "ota.progress", "ota.request"}


def request_topic(method: str, device: Device) -> str:
    """The upstream topic of an EnOS request method (spec D1)."""
    root = "/ext/session" if method.startswith("combine.") else "/sys"
    return f"{root}/{device.product_key}/{device.device_key}/{method.replace('.', '/')}"


def paho_request(port: int, login: MqttLogin, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Publishes one request over plain MQTT and returns the reply on ``{topic}_reply``."""
    replies: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    client = paho.Client(client_id=login.client_id, protocol=paho.MQTTv311)
    client.username_pw_set(login.username, login.password)
    client.on_connect = lambda c, userdata, flags, rc: c.subscribe(topic + "_reply", qos=1)
    client.on_subscribe = lambda c, userdata, mid, granted: subscribed.set()
    client.on_message = lambda c, userdata, message: replies.put(message.payload)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        assert subscribed.wait(WAIT), "no SUBACK"
        client.publish(topic, json.dumps(payload), qos=1)
        reply: dict[str, Any] = json.loads(replies.get(timeout=WAIT))
        return reply
    finally:
        client.disconnect()
        client.loop_stop()


def mqtt_rows() -> list[ErrorRow]:
    import enos_cert_mock

    with enos_cert_mock.start() as mock:
        return [r for r in mock.errors() if r.key.startswith("mqtt_")]


@pytest.mark.usefixtures("needs_the_command_route")
@pytest.mark.parametrize("row", mqtt_rows() or [None], ids=lambda r: r.key if r else "no-mqtt-rows")
def test_every_mqtt_reply_row_can_be_injected(enos_mock: EnosMock, row: ErrorRow | None) -> None:
    """Each row of the device conversation's reply catalogue, injected with ``mqtt.reply`` on
    a method it names, is what the device's request gets back."""
    assert row is not None, "the binary serves no mqtt_ rows (issue 23 has not landed)"
    method = next(m for m in row.actions if m not in IRREGULAR)
    device = enos_mock.device("Pl9gY1wQ")
    enos_mock.fault("mqtt.reply", method=method, code=row.code, times=1)
    reply = paho_request(
        enos_mock.mqtt_port,
        enos_mock.mqtt_login(device),
        request_topic(method, device),
        {"id": "r-1", "version": "1.0", "method": method, "params": {}},
    )
    assert (reply["id"], reply["code"]) == ("r-1", row.code), reply
    assert enos_mock.faults() == []  # spent
