"""The typed client against the session mock (``enos_mock``): control plane, EnOS calls,
certificates checked with ``cryptography``, and every refusal asserted exactly."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from conftest import ORG
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from enos_cert_mock import (
    Certificate,
    EnosError,
    EnosMock,
    ErrorRow,
    HttpError,
    mqtt_login,
    new_key,
    signature,
)

DEV = "Uvmm5AXU"


def test_url_and_ports_are_the_mocks_own(enos_mock: EnosMock) -> None:
    health = enos_mock.health()
    assert health["status"] == "ok"
    assert health["publicUrl"] == enos_mock.url
    assert enos_mock.url.startswith("http://127.0.0.1:")
    assert enos_mock.mqtt_tls_port == health["mqtt"]["tlsPort"]
    assert enos_mock.mqtt_port == health["mqtt"]["port"]
    ports = {int(enos_mock.url.rsplit(":", 1)[1]), enos_mock.mqtt_tls_port, enos_mock.mqtt_port}
    assert len(ports) == 3 and 0 not in ports
    assert enos_mock.org_id == ORG


def test_roots_and_crls_are_cryptography_objects(enos_mock: EnosMock) -> None:
    rsa_root, ecc_root = enos_mock.root("RSA"), enos_mock.root("ECC")
    assert rsa_root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "EnOS CA"
    assert ecc_root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "EnOS ECC CA"
    assert isinstance(rsa_root.public_key(), rsa.RSAPublicKey)
    assert isinstance(ecc_root.public_key(), ec.EllipticCurvePublicKey)
    both = x509.load_pem_x509_certificates(enos_mock.roots_pem().encode())
    assert both == [rsa_root, ecc_root]
    crl = enos_mock.crl("ECC")
    assert crl.issuer == ecc_root.subject and crl.is_signature_valid(ecc_root.public_key())


@pytest.mark.parametrize("authority", ["RSA", "ECC"])
def test_apply_renew_revoke_with_keys_made_here(enos_mock: EnosMock, authority: str) -> None:
    cert = enos_mock.apply(DEV, authority=authority, common_name=f"py-{authority}")  # type: ignore[arg-type]
    root = enos_mock.root(cert.issue_authority)
    cert.cert.verify_directly_issued_by(root)
    assert cert.key is not None and cert.cert.public_key() == cert.key.public_key()
    assert cert.cert.serial_number == int(cert.cert_sn)
    assert cert.chain_url == f"{enos_mock.url}/enos/CA/cacert/{authority}"
    assert cert.cert.not_valid_after_utc - cert.cert.not_valid_before_utc == timedelta(days=730)

    renewed = enos_mock.renew(cert, DEV)
    assert renewed.key is cert.key and renewed.cert.public_key() == cert.cert.public_key()
    enos_mock.revoke(renewed, DEV, reason="KEY_COMPROMISE")

    listed = {c["certSN"]: c for c in enos_mock.certificates(DEV)}
    assert (listed[cert.cert_sn]["certStatus"], listed[cert.cert_sn]["revoker"]) == (1, "IoT_Hub")
    assert (listed[renewed.cert_sn]["certStatus"], listed[renewed.cert_sn]["revokerReason"]) == (
        1,
        "KEY COMPROMISE",
    )
    revoked = enos_mock.crl(cert.issue_authority).get_revoked_certificate_by_serial_number(renewed.serial)
    assert revoked is not None


def test_certificate_files_for_device_sdks(enos_mock: EnosMock, tmp_path: object) -> None:
    cert = enos_mock.apply(DEV, authority="ECC")
    files = cert.write(str(tmp_path))
    assert files.cert.read_text() == cert.cert_pem
    assert files.ca.read_text() == enos_mock.root_pem("ECC")
    assert files.key.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")


def test_the_clock_moves_and_expires_certificates(enos_mock: EnosMock) -> None:
    cert = enos_mock.apply("Ss4nR6cE", authority="ECC")  # ShortPrd: 30 days by default
    clock = enos_mock.advance_clock(days=2, seconds=30)
    assert clock.offset_seconds == 2 * 86400 + 30
    assert enos_mock.clock().offset_seconds == 2 * 86400 + 30
    enos_mock.advance_clock(days=29)
    assert enos_mock.certificates("Ss4nR6cE")[0]["certStatus"] == 2
    with pytest.raises(EnosError) as refused:
        enos_mock.renew(cert, "Ss4nR6cE")
    assert (refused.value.code, refused.value.message) == (
        99400,
        "The original certificate has expired and cannot be updated.",
    )
    then = datetime(2031, 5, 1, 12, 0, tzinfo=timezone.utc)
    assert enos_mock.set_clock(then).now == then
    assert enos_mock.set_clock("2031-05-02T00:00:00Z").now == datetime(2031, 5, 2, tzinfo=timezone.utc)
    assert enos_mock.reset_clock().offset_seconds == 0
    with pytest.raises(ValueError):
        enos_mock.set_clock(datetime(2031, 5, 1))


def test_enos_refusals_carry_code_and_message(enos_mock: EnosMock) -> None:
    with pytest.raises(EnosError) as refused:
        enos_mock.apply("no-such-device")
    assert (refused.value.code, refused.value.message, refused.value.http_status) == (
        11404,
        "Device cannot be found",
        200,
    )
    assert refused.value.request_id and str(refused.value) == "EnOS error 11404: Device cannot be found"
    with pytest.raises(EnosError) as refused:
        enos_mock.apply("Pl9gY1wQ")
    assert (refused.value.code, refused.value.message) == (
        99400,
        "The product to which the device belongs to is not a product that supports bi-directional authorization.",
    )
    enos_mock.create_device("BiDiProd", "twice")
    with pytest.raises(EnosError) as refused:
        enos_mock.create_device("BiDiProd", "twice")
    assert (refused.value.code, refused.value.message) == (
        11702,
        "The deviceKey already exists in the product.",
    )


def test_control_plane_refusals_raise_http_errors(enos_mock: EnosMock) -> None:
    with pytest.raises(HttpError) as refused:
        enos_mock.fault("apply", error="no_such_row")
    assert refused.value.status == 400
    assert refused.value.message == 'error "no_such_row" is not a catalogue key (see GET /__admin/errors)'
    with pytest.raises(HttpError) as refused:
        enos_mock.disconnect(424242)
    assert (refused.value.status, refused.value.message) == (404, "no live MQTT connection 424242")


def test_products_devices_and_orgs(enos_mock: EnosMock) -> None:
    product = enos_mock.create_product(
        "One-way", bi_directional=False, default_valid_day=10, max_valid_day=20
    )
    fetched = enos_mock.get_product(product)
    assert (fetched["productKey"], fetched["biDirectionalAuth"], fetched["defaultValidDay"]) == (
        product,
        False,
        10,
    )
    device = enos_mock.create_device(product, "py-device", name="Py device")
    assert enos_mock.device(device.asset_id) == device
    assert enos_mock.device(product_key=product, device_key="py-device") == device
    with pytest.raises(EnosError) as refused:
        enos_mock.apply(device)
    assert refused.value.code == 99400
    enos_mock.update_product(product, {"biDirectionalAuth": True})
    assert (
        enos_mock.apply(device, authority="ECC", valid_day=20).cert.not_valid_after_utc
        - datetime.now(timezone.utc)
    ) <= timedelta(days=20)
    enos_mock.update_device(device, {"deviceDesc": "updated"})
    assert enos_mock.get_device(device)["deviceDesc"] == "updated"
    enos_mock.delete_device(device)
    with pytest.raises(EnosError) as refused:
        enos_mock.get_device(device)
    assert (refused.value.code, refused.value.message) == (11404, "Device cannot be found")
    enos_mock.delete_product(product)
    with pytest.raises(EnosError) as refused:
        enos_mock.get_product(product)
    assert (refused.value.code, refused.value.message) == (11404, "Product cannot be found")

    org = enos_mock.declare_org("o_python", {"py-app": "py-secret"})
    assert org in enos_mock.orgs()
    other = enos_mock.create_product("Theirs", org_id="o_python")
    assert enos_mock.get_product(other, org_id="o_python")["orgId"] == "o_python"


def test_the_journal_filters(enos_mock: EnosMock) -> None:
    enos_mock.certificates(DEV)
    with pytest.raises(EnosError):
        enos_mock.apply("nobody", authority="ECC")
    entries = enos_mock.requests()
    assert [(e.action, e.status, e.code) for e in entries] == [("list", 200, 0), ("apply", 200, 11404)]
    assert entries[0].transport == "http" and entries[0].path == "/connect-service/v2.0/certificates"
    assert entries[1]["query"] == f"action=apply&orgId={ORG}&assetId=nobody"
    assert [e.action for e in enos_mock.requests("apply")] == ["apply"]
    assert [e.code for e in enos_mock.requests(code=0)] == [0]
    assert [e.action for e in enos_mock.requests(limit=1)] == ["apply"]
    assert enos_mock.requests(transport="mqtt") == []
    enos_mock.clear_requests()
    assert enos_mock.requests() == []


# -------------------------------------------------------------------- faults

#: One call of each action a fault can hit.
CALLS: dict[str, Callable[[EnosMock], object]] = {
    "apply": lambda m: m.apply(DEV, authority="ECC"),
    "renew": lambda m: m.renew("1", DEV),
    "revoke": lambda m: m.revoke("1", DEV),
    "list": lambda m: m.certificates(DEV),
    "product.create": lambda m: m.create_product(),
    "product.get": lambda m: m.get_product("BiDiProd"),
    "product.update": lambda m: m.update_product("BiDiProd", {"productDesc": "x"}),
    "product.delete": lambda m: m.delete_product("PlainPrd"),
    "device.create": lambda m: m.create_device("BiDiProd"),
    "device.get": lambda m: m.get_device(DEV),
    "device.update": lambda m: m.update_device(DEV, {"deviceDesc": "x"}),
    "device.delete": lambda m: m.delete_device(DEV),
}


def catalogue() -> list[ErrorRow]:
    """The catalogue as the installed binary serves it (read once, at collection)."""
    import enos_cert_mock

    with enos_cert_mock.start() as mock:
        return mock.errors()


ROWS = catalogue()


@pytest.mark.parametrize("row", [r for r in ROWS if set(r.actions) & set(CALLS)], ids=lambda r: r.key)
def test_every_catalogue_row_can_be_injected_on_every_action_it_names(
    enos_mock: EnosMock, row: ErrorRow
) -> None:
    for action in row.actions:
        fault = enos_mock.fault(action, error=row.key, times=1)
        with pytest.raises(EnosError) as injected:
            CALLS[action](enos_mock)
        expected = row.message(
            code="500",
            message="injected fault",
            detail=fault.id,
            field="fault",
            reason="injected fault",
            orgId=ORG,
            count="1",
            method="POST",
            path="/",
        )
        assert (injected.value.code, injected.value.message) == (row.code, expected), action
        assert enos_mock.faults() == []  # spent


def test_rows_without_an_enos_action_are_outside_http_faults(enos_mock: EnosMock) -> None:
    """The token service's rows and the unknown route cannot be injected; the rows of MQTT
    replies (the device conversation) are injected with ``mqtt.reply`` (test_device_sdk.py)."""
    outside = [r for r in ROWS if not set(r.actions) & set(CALLS)]
    tokens = {
        "token_encryption_replayed",
        "token_app_key_unknown",
        "token_encryption_invalid",
        "token_param_invalid",
        "token_internal",
        "token_param_empty",
        "token_expired",
        "token_refresh_failed",
    }
    assert tokens | {"route_not_found"} <= {r.key for r in outside}
    assert all(r.key in tokens | {"route_not_found"} or r.key.startswith("mqtt_") for r in outside)
    for row in outside:
        for action in row.actions:
            with pytest.raises(HttpError) as refused:
                enos_mock.fault(action, error=row.key)
            assert refused.value.status == 400
            assert refused.value.message.startswith("action must be one of *, apply,")


def test_status_delay_device_scope_and_clearing(enos_mock: EnosMock) -> None:
    status = enos_mock.fault("list", http_status=503, times=1)
    with pytest.raises(HttpError) as refused:
        enos_mock.certificates(DEV)
    assert (refused.value.status, refused.value.message) == (503, f"injected fault {status.id}")

    enos_mock.fault("list", error="iot_hub_internal_list", http_status=502, times=1)
    with pytest.raises(EnosError) as enveloped:
        enos_mock.certificates(DEV)
    assert (enveloped.value.code, enveloped.value.message, enveloped.value.http_status) == (
        99500,
        "Internal error of IoT hub service.",
        502,
    )

    scoped = enos_mock.fault("*", error="cert_service_internal", device="Kq3vT8zB")
    assert enos_mock.certificates(DEV) == []
    with pytest.raises(EnosError):
        enos_mock.certificates(product_key="BiDiProd", device_key="meter-002")
    assert [(f.id, f.times, f.hits) for f in enos_mock.faults()] == [(scoped.id, None, 1)]
    enos_mock.clear_faults()
    assert enos_mock.faults() == [] and enos_mock.certificates("Kq3vT8zB") == []

    import time

    enos_mock.fault("list", delay_ms=300, times=1)
    began = time.monotonic()
    assert enos_mock.certificates(DEV) == []
    assert time.monotonic() - began >= 0.3


def test_mqtt_connect_faults_are_registered_with_their_fields(enos_mock: EnosMock) -> None:
    fault = enos_mock.fault("mqtt.connect", connack=5, times=2, device=DEV)
    assert fault.action == "mqtt.connect" and fault.times == 2
    assert (fault.raw["connack"], fault.raw["assetId"]) == (5, DEV)
    with pytest.raises(HttpError) as refused:
        enos_mock.fault("mqtt.connect", connack=0)
    assert refused.value.message == "connack must be between 1 and 5 (0 is a normal login)"


# ------------------------------------------------------------ pure functions


def test_signature_matches_the_contracts_test_vector() -> None:
    params = {"action": "list", "orgId": "o15444172373271", "assetId": "Uvmm5AXU"}
    assert (
        signature("tok-123", params, "", "1600000000000", "app-secret")
        == "4eab48d1670053fe26fbce93020fdbc88fb523fe80ef64a75658a01cd1ac6bc0"
    )


def test_mqtt_login_fields() -> None:
    login = mqtt_login("pk", "dk", "secret", timestamp="1700000000000")
    assert login.client_id == "dk|securemode=2,signmethod=sha256,timestamp=1700000000000|"
    assert login.username == "dk&pk"
    import hashlib

    content = "clientIddkdeviceKeydkproductKeypktimestamp1700000000000secret"
    assert login.password == hashlib.sha256(content.encode()).hexdigest().upper()
    sdk_style = mqtt_login("pk", "dk", "secret", client_id="mac-1", sign_method="hmacsha256", timestamp="1")
    assert (
        sdk_style.password
        == hashlib.sha256(b"clientIdmac-1deviceKeydkproductKeypktimestamp1secret").hexdigest()
    )


def test_new_keys_are_the_authorities_kinds() -> None:
    assert isinstance(new_key("RSA"), rsa.RSAPrivateKey) and new_key("RSA").key_size == 2048  # type: ignore[union-attr]
    assert isinstance(new_key("ECC").curve, ec.SECP256R1)  # type: ignore[union-attr]
    with pytest.raises(ValueError):
        new_key("DSA")  # type: ignore[arg-type]


def test_a_certificate_without_its_key_says_so() -> None:
    cert = Certificate("1", "", "", "", "RSA", None)
    with pytest.raises(ValueError):
        _ = cert.key_pem


def test_send_command_sends_what_the_contract_names(
    enos_mock: EnosMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The body of POST /__admin/mqtt/publish as spec D2 names it (checked without the route:
    the round trips through a device are in test_device_sdk.py)."""
    sent: list[dict[str, object]] = []

    def admin(method: str, path: str, *, body: object = None, params: object = None) -> object:
        sent.append({"method": method, "path": path, "body": body})
        return {
            "sessions": 2,
            "reply": {"topic": "/sys/BiDiProd/meter-001/thing/service/x_reply", "payload": {"code": 200}},
        }

    monkeypatch.setattr(enos_mock, "_admin", admin)
    device = enos_mock.device("Uvmm5AXU")  # an EnOS call, not _admin
    result = enos_mock.send_command(
        device, "thing/service/x", {"id": "7", "params": {}}, qos=0, reply_timeout_ms=1500
    )
    enos_mock.send_command("Uvmm5AXU", "/sys/BiDiProd/meter-001/thing/model/down_raw", "raw text")
    enos_mock.send_command(product_key="BiDiProd", device_key="meter-001", topic="/t", payload={"params": {}})
    assert result.sessions == 2 and result.reply is not None and result.reply.payload == {"code": 200}
    assert [s["path"] for s in sent] == ["/mqtt/publish"] * 3
    bodies = [s["body"] for s in sent]
    assert bodies[0] == {
        "productKey": "BiDiProd",
        "deviceKey": "meter-001",
        "topic": "/sys/BiDiProd/meter-001/thing/service/x",
        "payload": {"id": "7", "params": {}},
        "qos": 0,
        "replyTimeoutMs": 1500,
    }
    assert bodies[1] == {
        "assetId": "Uvmm5AXU",
        "topic": "/sys/BiDiProd/meter-001/thing/model/down_raw",
        "payload": "raw text",
        "qos": 1,
        "replyTimeoutMs": 0,
    }
    third = bodies[2]
    assert isinstance(third, dict) and isinstance(third["payload"], dict)
    assert set(third["payload"]) == {"id", "params"}  # an id was added: replies are matched by it
